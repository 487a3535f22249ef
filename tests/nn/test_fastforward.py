"""Predictions' forward pass (nn/fastforward.py) gives the layers' outputs.

For every network shape the fused path handles (the presets; strides, 'same' padding, pooling
with a remainder, conv without pooling, pooling before the activation, sigmoid, tanh, squared
error), any batch size (padded up to a pass's size, or run in chunks), float32 and float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Sequential, fastforward
from glassnet.nn.fastforward import SIZES, FastForward
from specs import FUSED_NETWORKS, batch_for

SPECS = FUSED_NETWORKS


def _close(got: np.ndarray, want: np.ndarray) -> None:
    # float32: the same sums in another order (patches in (row, column, channel) order)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize("n", [1, 3, 8, 11, 40])
@pytest.mark.parametrize("name", list(SPECS))
def test_scores_equal_the_layers(name: str, n: int) -> None:
    spec = SPECS[name]
    model = Sequential.from_spec(spec, np.random.default_rng(0)).astype(np.float32)
    x, _ = batch_for(spec, n)
    fast = FastForward(model)
    assert fast.plan is not None
    got = fast.scores(x)
    assert got.shape == (n, model.output_shape[0])
    _close(got, model.forward(x))
    again = fast.scores(x[::-1].copy())  # buffers are reused, answers are not
    _close(again, model.forward(x[::-1].copy()))
    one = fast.scores(x[-1:])  # a smaller batch after a larger one: no leftovers in its answer
    _close(one, model.forward(x[-1:]))


def test_float64_networks_are_computed_in_float64() -> None:
    spec = SPECS["cnn"]
    model = Sequential.from_spec(spec, np.random.default_rng(0)).astype(np.float64)
    x, _ = batch_for(spec, 3)
    got = FastForward(model).scores(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, model.forward(x.astype(np.float64)), rtol=1e-10, atol=1e-10)


def test_a_batch_over_the_buffer_cap_runs_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SPECS["cnn"]
    model = Sequential.from_spec(spec, np.random.default_rng(0)).astype(np.float32)
    x, _ = batch_for(spec, 7)
    fast = FastForward(model)
    fast.scores(x[:1])
    per_digit = fast._programs[1].nbytes
    assert 100_000 < per_digit < 400_000  # the cnn: ~0.22 MB of buffers a digit
    assert fast._largest == SIZES[-1]
    monkeypatch.setattr(fastforward, "MAX_PASS_BYTES", 2 * per_digit)
    capped = FastForward(model)
    _close(capped.scores(x), model.forward(x))
    assert capped._largest == 2
    assert set(capped._programs) == {1, 2}  # 7 digits: three passes of 2 and one of 1


def test_new_parameters_are_read_again() -> None:
    """astype() re-makes the parameters: the pass re-lays the weights from the new ones."""
    spec = SPECS["cnn"]
    model = Sequential.from_spec(spec, np.random.default_rng(0)).astype(np.float32)
    x, _ = batch_for(spec, 2)
    fast = FastForward(model)
    before = fast.scores(x)
    model.layers[0].params["W"] *= -1  # in place: not seen until the parameters are re-made
    np.testing.assert_array_equal(fast.scores(x), before)
    model.astype(np.float32)
    _close(fast.scores(x), model.forward(x))
    assert not np.allclose(fast.scores(x), before)


def test_networks_it_does_not_fuse_go_through_the_layers() -> None:
    spec = {
        "input_shape": [1, 12, 12],
        "layers": [{"type": "flatten"}, {"type": "dense", "units": 3}, {"type": "softmax"}],
        "loss": "mse",
    }
    model = Sequential.from_spec(spec)
    x, _ = batch_for(spec, 2)
    fast = FastForward(model)
    assert fast.plan is None
    np.testing.assert_array_equal(fast.scores(x), model.forward(x))
