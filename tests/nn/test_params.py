"""The flat parameter vector: layers hold views into it, and the flat optimizer step is the
per-parameter step, number for number, in float32."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Sequential, make_optimizer, read_checkpoint
from glassnet.nn.checkpoint import checkpoint_bytes
from glassnet.presets import load_preset


def _model(seed: int = 0) -> Sequential:
    return Sequential.from_spec(load_preset("cnn"), np.random.default_rng(seed))


def test_layers_hold_views_into_one_vector_with_the_bias_folded_in() -> None:
    model = _model()
    pack = model.pack()
    assert pack.size == model.param_count()
    for _, p, g in model.named_params():
        assert np.shares_memory(p, pack.data) and np.shares_memory(g, pack.grad)
    conv, dense = model.layers[0], model.layers[7]
    # conv: (C_out, C_in·k·k + 1), each kernel a row with its bias last
    wb = pack.packed(pack.data, 0)
    assert wb.shape == (16, 26)
    np.testing.assert_array_equal(wb[:, :25], conv.params["W"].reshape(16, 25))
    np.testing.assert_array_equal(wb[:, 25], conv.params["b"])
    # dense: (D_in + 1, units), the bias as the last row
    wb = pack.packed(pack.data, 7)
    assert wb.shape == (513, 128)
    np.testing.assert_array_equal(wb[512], dense.params["b"])
    # decay applies to weights only
    mask = dict(pack.named_views(pack.decay_mask))
    assert mask["0.W"].min() == 1 and mask["0.b"].max() == 0


def test_packing_keeps_the_initial_weights_and_astype_repacks() -> None:
    a = _model(4)
    spec = load_preset("cnn")
    before = {k: v.copy() for k, v in a.state_dict().items()}
    # what the layers drew before packing: build the layers again without a model
    b = Sequential.from_spec(spec, np.random.default_rng(4))
    for name, value in b.state_dict().items():
        np.testing.assert_array_equal(before[name], value)
    a.astype(np.float64)
    pack = a.pack()
    assert pack.data.dtype == np.float64 and pack.is_current()
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_writes_through_the_views() -> None:
    a, b = _model(1), _model(2)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.pack().data, b.pack().data)


def _grads(model: Sequential, seed: int) -> None:
    model.pack().grad[...] = np.random.default_rng(seed).standard_normal(model.pack().size)


@pytest.mark.parametrize(
    "kind,weight_decay", [("sgd", 0.0), ("momentum", 0.0), ("adam", 0.0), ("adam", 0.01), ("momentum", 0.1)]
)
def test_flat_step_equals_per_parameter_step(kind: str, weight_decay: float) -> None:
    flat, per_param = _model(), _model()
    rates = {"momentum": {"momentum": 0.9}, "adam": {"beta1": 0.9}}.get(kind, {})
    opt_flat = make_optimizer(kind, 0.01, weight_decay=weight_decay, **rates)
    opt_each = make_optimizer(kind, 0.01, weight_decay=weight_decay, **rates)
    for step in range(5):
        _grads(flat, step)
        _grads(per_param, step)
        opt_flat.step(flat.pack(), lr=0.01 * (step + 1))
        opt_each.step(per_param.named_params(), lr=0.01 * (step + 1))
    # the same float32 arithmetic in the same order: identical, not merely close
    np.testing.assert_array_equal(flat.pack().data, per_param.pack().data)
    state_flat, state_each = opt_flat.state_dict(), opt_each.state_dict()
    assert sorted(state_flat) == sorted(state_each)
    for key in state_each:
        np.testing.assert_array_equal(state_flat[key], state_each[key], err_msg=key)


def test_adam_stays_float32() -> None:
    """NumPy 2 would make the update float64 if a step-size scalar were a NumPy float64."""
    model = _model()
    opt = make_optimizer("adam", 0.001)
    _grads(model, 0)
    before = model.pack().data.copy()
    opt.step(model.pack())
    assert model.pack().data.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if k != "steps")
    # the first step: m = 0.1 g, v = 0.001 g², step size lr·sqrt(1 - 0.999) / (1 - 0.9)
    g = model.pack().grad.astype(np.float64)
    step = 0.001 * np.sqrt(0.001) / 0.1 * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-8)
    np.testing.assert_allclose(model.pack().data, before - step, rtol=0, atol=1.5e-7)


def test_flat_optimizer_state_round_trips_through_a_checkpoint() -> None:
    model, opt = _model(), make_optimizer("adam", 0.01)
    for step in range(3):
        _grads(model, step)
        opt.step(model.pack())
    ckpt = read_checkpoint(checkpoint_bytes(model, {}, None, opt.state_dict()))
    resumed = make_optimizer("adam", 0.01)
    resumed.load_state_dict(ckpt.optimizer_state)
    other = ckpt.model
    _grads(model, 9)
    _grads(other, 9)
    opt.step(model.pack())
    resumed.step(other.pack())
    np.testing.assert_array_equal(model.pack().data, other.pack().data)


def _subnormal(a: np.ndarray) -> int:
    return int(((a != 0) & (np.abs(a) < np.finfo(np.float32).tiny)).sum())


@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_unused_weights_state_never_goes_subnormal_and_nothing_learned_changes(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the parameters get a gradient once and then 0 for 849 steps (weights on blank pixels,
    dead units): their optimizer state shrinks every step. Flushed below 1e-30 it never becomes
    subnormal (where every operation on it is ~100× slower); unflushed, it does. The weights come
    out bit for bit the same either way, and the flat and per-parameter steps still agree."""

    def train(flush: bool, per_param: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        model = _model()
        opt = make_optimizer(kind, 0.01)
        with monkeypatch.context() as m:
            if not flush:
                m.setattr("glassnet.nn.optim.flush_period", lambda decay: 10**9)
            for step in range(850):
                _grads(model, step)
                if step:
                    model.pack().grad[::2] = 0
                opt.step(model.named_params() if per_param else model.pack())
        return model.pack().data.copy(), opt.state_dict()

    data, state = train(flush=True)
    raw_data, raw_state = train(flush=False)
    each_data, each_state = train(flush=True, per_param=True)
    assert sum(_subnormal(np.asarray(v)) for k, v in raw_state.items() if k != "steps") > 1000
    assert all(_subnormal(np.asarray(v)) == 0 for k, v in state.items() if k != "steps")
    np.testing.assert_array_equal(data, raw_data)
    np.testing.assert_array_equal(data, each_data)
    for key in state:
        np.testing.assert_array_equal(state[key], each_state[key], err_msg=key)
