"""The fused training path computes what the layers compute one by one.

For every network shape it fuses (the presets, strides, 'same' padding, pooling that leaves a
remainder, conv without pooling, pooling before the activation, sigmoid and squared error) the
cost and every gradient of a fused step — on 1, 2 and 3 threads — match
``Sequential.forward`` / ``compute_loss`` / ``Sequential.backward`` within float32 rounding;
networks it does not fuse say why and train layer by layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Sequential, compute_loss, make_optimizer
from glassnet.nn.fused import (
    CHUNK_COLUMNS,
    CHUNK_MAX_ROWS,
    UnsupportedNetworkError,
    column_chunks,
    plan_network,
)
from glassnet.presets import load_preset
from glassnet.training.step import TrainStep
from specs import FUSED_NETWORKS, batch_for

TOL = 2e-6  # relative to the largest gradient entry: float32 sums in another order


def _pair(spec: dict, seed: int = 0) -> tuple[Sequential, Sequential]:
    return (
        Sequential.from_spec(spec, np.random.default_rng(seed)),
        Sequential.from_spec(spec, np.random.default_rng(seed)),
    )


def _layer_by_layer(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    out = model.forward(x, train=True)
    loss, dout = compute_loss(model.loss, out, y)
    model.backward(dout)
    return loss


def _assert_same_gradients(fast: Sequential, ref: Sequential) -> None:
    for (name, _, g1), (_, _, g2) in zip(fast.named_params(), ref.named_params(), strict=True):
        scale = max(float(np.abs(g2).max()), 1e-6)
        err = float(np.abs(g1 - g2).max()) / scale
        assert err < TOL, f"{name}: relative gradient error {err:.2e}"


SPECS = FUSED_NETWORKS


@pytest.mark.parametrize(
    "threads,processes", [(1, True), (2, True), (3, True), (2, False), (3, False)], ids=str
)
@pytest.mark.parametrize("name", list(SPECS))
def test_fused_step_equals_layer_by_layer(name: str, threads: int, processes: bool) -> None:
    """Shares in helper processes (the default) or in threads."""
    spec = SPECS[name]
    fast, ref = _pair(spec)
    x, y = batch_for(spec, 37)  # an odd batch: shares of unequal size
    step = TrainStep(fast, threads=threads, processes=processes)
    assert step.fused, step.reason
    result = step(x, y)
    assert step.process_error == ""
    loss = _layer_by_layer(ref, x, y)
    assert result.finite
    assert abs(result.loss - loss) <= 1e-5 * max(1.0, abs(loss))
    out = ref.forward(x)
    assert result.correct == int((out.argmax(axis=1) == y).sum())
    _assert_same_gradients(fast, ref)
    step.close()


def test_pooling_sends_the_error_to_the_first_maximum_only() -> None:
    """Kernels that see only their centre pixel, on an image of three grey levels: the pixels
    of a pooling window often tie while their patches differ. The layers route each window's
    error to its first maximum, so the kernel gradient depends on which tied pixel wins; the
    fused tournament must pick the same one (and only one)."""
    spec = load_preset("cnn")
    fast, ref = _pair(spec)
    rng = np.random.default_rng(5)
    centre_only = np.zeros((16, 1, 5, 5), np.float32)
    centre_only[:, 0, 2, 2] = rng.uniform(0.5, 1.5, 16)
    for layer in (fast.layers[0], ref.layers[0]):
        layer.params["W"][...] = centre_only
        layer.params["b"][...] = 0.1
    x = (rng.integers(0, 3, (16, 1, 28, 28)) / 2).astype(np.float32)
    y = np.arange(16) % 10
    TrainStep(fast, threads=1)(x, y)
    _layer_by_layer(ref, x, y)
    _assert_same_gradients(fast, ref)


def test_training_with_the_fused_path_follows_the_layer_path() -> None:
    """Twenty Adam steps on the cnn preset: the weights stay together within float rounding."""
    spec = load_preset("cnn")
    fast, ref = _pair(spec)
    opt_fast, opt_ref = make_optimizer("adam", 0.002), make_optimizer("adam", 0.002)
    step = TrainStep(fast, threads=2)
    for i in range(20):
        x, y = batch_for(spec, 32, seed=10 + i)
        step(x, y)
        opt_fast.step(fast.pack())
        _layer_by_layer(ref, x, y)
        opt_ref.step(ref.named_params())
    # Adam moves each weight by about lr * m / sqrt(v): for a weight whose gradient is near zero,
    # the summation order's rounding (another CPU's BLAS kernel) can set its direction, so a few
    # weights in a million may drift by up to a fraction of lr over 20 steps (seen: 1 of 65,536 by
    # 2.6e-5 on an AMD EPYC). A fault in the fused path moves whole rows, maps or layers instead.
    for (name, p1, _), (_, p2, _) in zip(fast.named_params(), ref.named_params(), strict=True):
        apart = np.abs(p1 - p2)
        assert np.count_nonzero(apart > 2e-5) <= max(1, p1.size // 10_000), (
            name,
            np.sort(apart.ravel())[-5:],
        )
        assert apart.max() < 0.002 * 0.25, (name, apart.max())  # a quarter of one step's lr
    step.close()


@pytest.mark.parametrize("threads,processes", [(1, True), (2, True), (2, False)], ids=str)
def test_same_seed_same_weights_bit_for_bit(threads: int, processes: bool) -> None:
    spec = load_preset("cnn")
    runs = []
    for _ in range(2):
        model = Sequential.from_spec(spec, np.random.default_rng(3))
        opt = make_optimizer("adam", 0.002)
        step = TrainStep(model, threads=threads, processes=processes)
        for i in range(5):
            x, y = batch_for(spec, 64, seed=i)
            step(x, y)
            opt.step(model.pack())
        runs.append(model.pack().data.copy())
        step.close()
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize(
    "layers,needle",
    [
        ([{"type": "flatten"}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}], "dropout"),
        ([{"type": "avgpool2d", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}], "avgpool"),
        (
            [
                {"type": "conv2d", "filters": 2, "kernel": 3},
                {"type": "sigmoid"},
                {"type": "maxpool2d", "size": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ],
            "only relu",
        ),
        (
            [
                {"type": "conv2d", "filters": 2, "kernel": 3},
                {"type": "maxpool2d", "size": 3, "stride": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ],
            "size == stride",
        ),
        ([{"type": "flatten"}, {"type": "dense", "units": 10}, {"type": "softmax"}], "softmax"),
    ],
)
def test_unfused_networks_say_why_and_train_layer_by_layer(layers: list, needle: str) -> None:
    spec = {"input_shape": [1, 12, 12], "layers": layers, "loss": "mse"}
    with pytest.raises(UnsupportedNetworkError, match=needle):
        plan_network(Sequential.from_spec(spec))
    fast, ref = _pair(spec)
    step = TrainStep(fast)
    assert not step.fused and needle in step.describe(8)
    x, y = batch_for(spec, 8)
    for layer in (*fast.layers, *ref.layers):  # the same dropout masks on both sides
        if hasattr(layer, "rng"):
            layer.rng = np.random.default_rng(7)
    result = step(x, y)
    loss = _layer_by_layer(ref, x, y)
    assert result.loss == pytest.approx(loss)
    _assert_same_gradients(fast, ref)


def test_column_chunks_divide_evenly_and_stay_long() -> None:
    assert column_chunks(576 * 64) == 36  # the cnn's first layer at batch 64: 36 chunks of 1,024
    assert column_chunks(576 * 37) == 18  # 1,184 columns each
    for columns in (1, 1023, 2047, 2 * 1031, 4096 * 3 + 1):
        chunks = column_chunks(columns)
        assert columns % chunks == 0 and (chunks == 1 or columns // chunks >= CHUNK_COLUMNS)
    assert column_chunks(2 * 1031) == 2 and column_chunks(2047) == 1  # 2047 = 23 · 89: no divisor fits


def test_short_patches_run_in_chunks_and_give_the_same_gradients() -> None:
    """The cnn's first convolution (26 patch rows) multiplies in column chunks, its second (401
    rows) in one product; the step still equals the layers, and the chunked weight gradient
    equals the one-product one."""
    spec = load_preset("cnn")
    fast, ref = _pair(spec)
    x, y = batch_for(spec, 64)
    step = TrainStep(fast, threads=1)
    step(x, y)
    net = next(iter(step._nets.values()))
    first, second = net.blocks[0], net.blocks[1]
    assert first.kk + 1 <= CHUNK_MAX_ROWS and first.chunks == 36
    assert second.chunks == 1
    _layer_by_layer(ref, x, y)
    _assert_same_gradients(fast, ref)
    whole = first.cols @ first.dz.T  # the same gradient as one product, float32 sums in another order
    assert np.allclose(first.dwt, whole, rtol=1e-5, atol=1e-6 * float(np.abs(whole).max()))


@pytest.mark.parametrize("name", list(SPECS))
def test_the_input_error_per_input_row_equals_the_layers(name: str) -> None:
    """A convolution's input error, one product per input row over only the kernel rows that
    reach it, is the layer's own (the full convolution of the error with the kernels rotated
    180°) for the same error, within float rounding — strides and 'same' padding included — and
    those products multiply each (input row, kernel row) pair that meets exactly once."""
    from glassnet.nn.fused import ConvBlock

    spec = SPECS[name]
    x, y = batch_for(spec, 9)
    model = Sequential.from_spec(spec, np.random.default_rng(5))
    step = TrainStep(model, threads=1)
    step(x, y)
    net = next(iter(step._nets.values()))
    blocks = [(b, k) for b, k in enumerate(net.blocks) if isinstance(k, ConvBlock) and k.dx is not None]
    for b, block in blocks:
        layer = block.conv
        layer.forward(np.ascontiguousarray(net.inputs[b].transpose(3, 0, 1, 2)), train=True)
        dz = block._z_as_out(block.dz).transpose(3, 0, 1, 2)  # (N, F, OH, OW)
        expected = layer.backward(np.ascontiguousarray(dz))
        got = block._input_error(net.weights[b]).transpose(3, 0, 1, 2)  # again: the step's was consumed
        assert float(np.abs(got - expected).max()) <= 1e-5 * max(float(np.abs(expected).max()), 1e-6)
        rows = (block.dxp if block.dxp is not None else block.dx).shape[1]
        s, oh = block.s, block.oh
        meets = sum((h - i) % s == 0 and 0 <= (h - i) // s < oh for h in range(rows) for i in range(block.k))
        assert sum(a.shape[1] for a, _, _ in block._products) == meets * block.f
    if name == "cnn":  # 12 input rows, each reached by 1, 2, 3, 4, 5, 5, 5, 5, 4, 3, 2, 1 kernel rows
        reached = [a.shape[1] // 32 for a, _, _ in blocks[0][1]._products]
        assert reached == [1, 2, 3, 4, 5, 5, 5, 5, 4, 3, 2, 1]
