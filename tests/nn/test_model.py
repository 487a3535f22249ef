"""Sequential: spec round trip, shape inference, parameter counts, clear errors, learning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glassnet.nn import Sequential, compute_loss, make_optimizer
from glassnet.presets import PRESETS, load_preset


def test_notes_parameter_count_comes_out_of_the_code() -> None:
    """The notes' example: 4 input channels, two 2×2 kernels -> 4·(2·2)·2 + 2 = 34."""
    model = Sequential.from_spec(
        {
            "input_shape": [4, 5, 5],
            "layers": [
                {"type": "conv2d", "filters": 2, "kernel": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ],
        }
    )
    info = model.summary()[0]
    assert info.params == 34
    assert info.formula == "4·(2·2)·2 + 2"
    assert info.output_shape == (2, 4, 4)  # valid convolution: 5 - 2 + 1


@pytest.mark.parametrize("name", PRESETS)
def test_presets_build_and_round_trip(name: str) -> None:
    spec = load_preset(name)
    model = Sequential.from_spec(spec)
    again = Sequential.from_spec(json.loads(json.dumps(model.spec())))
    assert again.spec() == model.spec()
    assert model.output_shape == (10,)
    assert model.param_count() == sum(i.params for i in model.summary())


def test_notes_preset_is_the_network_of_the_notes() -> None:
    spec = load_preset("notes")
    model = Sequential.from_spec(spec)
    dense = [layer for layer in model.layers if layer.kind == "dense"]
    assert [layer.units for layer in dense] == [16, 16, 10]
    assert {layer.kind for layer in model.layers} == {"flatten", "dense", "sigmoid"}
    assert model.loss == "mse" and spec["train"]["optimizer"] == "sgd"
    assert model.param_count() == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10


def test_shape_inference_for_stride_and_same_padding() -> None:
    model = Sequential.from_spec(
        {
            "input_shape": [1, 28, 28],
            "layers": [
                {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
                {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
                {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2},
                {"type": "avgpool2d", "size": 2},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ],
        }
    )
    shapes = [i.output_shape for i in model.summary()]
    assert shapes[:4] == [(4, 28, 28), (4, 14, 14), (4, 6, 6), (4, 3, 3)]
    x = np.zeros((2, 1, 28, 28), np.float32)
    _, acts = model.forward_record(x)
    assert [a.shape[1:] for a in acts] == shapes


@pytest.mark.parametrize(
    "layers,needle",
    [
        (
            [
                {"type": "conv2d", "filters": 4, "kernel": 30},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ],
            "layer 0 (conv2d): kernel 30×30 is larger than its 28×28 input",
        ),
        ([{"type": "dense", "units": 10}], "layer 0 (dense): expects a flat vector"),
        (
            [{"type": "flatten"}, {"type": "maxpool2d"}, {"type": "dense", "units": 10}],
            "layer 1 (maxpool2d)",
        ),
        ([{"type": "flatten"}, {"type": "banana"}], "layer 1: unknown layer type 'banana'"),
        (
            [{"type": "flatten"}, {"type": "dense", "units": -3}],
            "layer 1 (dense): units must be a positive",  # said once (issue 9, item 16),
        ),
        (
            [{"type": "flatten"}, {"type": "dense", "units": 10, "colour": "red"}],
            "layer 1 (dense): bad options",
        ),
        ([{"type": "conv2d", "filters": 2, "kernel": 3}], "last layer must output a vector"),
        (
            [{"type": "flatten"}, {"type": "dense", "units": 10}, {"type": "softmax"}],
            "layer 2 (softmax)",
        ),
        ([], "non-empty list"),
    ],
)
def test_specs_that_do_not_fit_name_the_layer(layers: list, needle: str) -> None:
    with pytest.raises(ValueError) as exc:
        Sequential.from_spec({"input_shape": [1, 28, 28], "layers": layers})
    assert needle in str(exc.value)


def test_bad_inputs_raise_value_error_naming_the_layer() -> None:
    model = Sequential.from_spec(load_preset("cnn"))
    with pytest.raises(
        ValueError,
        match=r"layer 0 \(conv2d\): expected input of shape \(N, 1, 28, 28\), got \(2, 3, 28, 28\)",
    ):
        model.forward(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\): expected input of shape"):
        model.forward(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        model.forward(np.zeros((2, 1, 28, 28), np.uint8))
    dense = Sequential.from_spec(load_preset("mlp")).layers[1]
    with pytest.raises(ValueError, match=r"layer 1 \(dense\): expected input of shape \(N, 784\)"):
        dense.forward(np.zeros((2, 100), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_inputs_raise_value_error_naming_the_samples(bad: float) -> None:
    """A NaN or infinite pixel came out as NaN probabilities with at most a NumPy warning
    (QA5-LIB); now a ValueError with the batch's shape and the samples that hold it."""
    model = Sequential.from_spec(load_preset("cnn"))
    x = np.zeros((4, 1, 28, 28), np.float32)
    x[2, 0, 5, 5] = bad
    message = r"x of shape \(4, 1, 28, 28\) holds NaN or infinite values \(sample\(s\) 2\)"
    with pytest.raises(ValueError, match=message):
        model.forward(x)
    with pytest.raises(ValueError, match=message):
        model.forward_record(x)
    x[2, 0, 5, 5] = 0
    assert np.isfinite(model.forward(x)).all()  # finite again: read as before


def test_cost_and_backward_name_wrong_labels_and_errors() -> None:
    """compute_loss with float labels raised NumPy's IndexError, with a non-array AttributeError;
    backward with an error of the wrong shape NumPy's broadcast message, before any forward an
    AssertionError (QA5-LIB). Now ValueErrors saying what was expected; a list of labels is read."""
    model = Sequential.from_spec(load_preset("cnn"))
    with pytest.raises(ValueError, match="backward before forward"):
        model.backward(np.zeros((2, 10), np.float32))
    out = model.forward(np.zeros((2, 1, 28, 28), np.float32))
    for loss in ("cross_entropy", "mse"):
        with pytest.raises(ValueError, match="labels must be integer class indices, got dtype float64"):
            compute_loss(loss, out, np.array([1.0, 2.0]))
        with pytest.raises(ValueError, match=r"expected network output of shape \(N, K\), got list"):
            compute_loss(loss, out.tolist(), np.array([1, 2]))
        assert compute_loss(loss, out, [1, 2])[0] == compute_loss(loss, out, np.array([1, 2]))[0]
    for dout, got in (
        (np.zeros((3, 10), np.float32), r"\(3, 10\)"),
        (np.zeros((2, 5)), r"\(2, 5\)"),
        ([0], "list"),
    ):
        with pytest.raises(ValueError, match=rf"expected dCost/doutput of shape \(2, 10\) .*got {got}"):
            model.backward(dout)
        with pytest.raises(ValueError, match=rf"expected dCost/doutput of shape \(2, 10\) .*got {got}"):
            model.backward_record(dout)
    _, dout = compute_loss("cross_entropy", out, np.array([1, 2]))
    model.backward(dout)  # the right shape still flows
    assert np.abs(model.layers[-1].grads["b"]).sum() > 0


def test_help_on_sequential_reads_well() -> None:
    """help(Sequential) showed a section comment ("# -- description ---") as summary()'s doc,
    five public methods had none, and repr() was ``<... object at 0x...>`` (QA5-LIB)."""
    import inspect
    import pydoc

    text = pydoc.render_doc(Sequential, renderer=pydoc.plaintext)
    assert "# --" not in text
    undocumented = [
        name
        for name, f in inspect.getmembers(Sequential, inspect.isfunction)
        if not name.startswith("_") and not inspect.getdoc(f)
    ]
    assert undocumented == []
    model = Sequential.from_spec(load_preset("mlp"))
    assert repr(model) == (
        "Sequential(input (N, 1, 28, 28) -> flatten -> dense -> relu -> dense -> relu -> dense -> (N, 10), "
        "109,386 params, loss 'cross_entropy')"
    )


def test_same_seed_same_network_and_float32() -> None:
    a = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(7))
    b = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(7))
    c = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(8))
    for (na, pa, _), (_, pb, _), (_, _, _) in zip(
        a.named_params(), b.named_params(), c.named_params(), strict=True
    ):
        assert pa.dtype == np.float32, na
        assert np.array_equal(pa, pb)
    assert not np.array_equal(a.state_dict()["0.W"], c.state_dict()["0.W"])
    out = a.forward(np.zeros((3, 1, 28, 28), np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_small_cnn_overfits_a_batch_of_32(optimizer: str) -> None:
    """A network that can learn at all must memorise 32 random-labelled images."""
    rng = np.random.default_rng(0)
    spec = {
        "input_shape": [1, 12, 12],
        "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 3},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 32},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    }
    model = Sequential.from_spec(spec, rng)
    x = rng.random((32, 1, 12, 12), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    opt = make_optimizer(optimizer, 0.01 if optimizer == "adam" else 0.05)
    for _ in range(300):
        out = model.forward(x, train=True)
        _, d = compute_loss("cross_entropy", out, y)
        model.backward(d)
        opt.step(model.named_params())
    assert (model.forward(x).argmax(axis=1) == y).mean() == 1.0


def test_notes_network_overfits_with_squared_error_and_plain_sgd() -> None:
    rng = np.random.default_rng(1)
    model = Sequential.from_spec(
        {
            "input_shape": [20],
            "loss": "mse",
            "layers": [
                {"type": "dense", "units": 16, "init": "xavier"},
                {"type": "sigmoid"},
                {"type": "dense", "units": 10, "init": "xavier"},
                {"type": "sigmoid"},
            ],
        },
        rng,
    )
    x = rng.random((32, 20), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    opt = make_optimizer("sgd", 3.0)
    first = None
    for _ in range(3000):
        out = model.forward(x, train=True)
        cost, d = compute_loss("mse", out, y)
        first = first if first is not None else cost
        model.backward(d)
        opt.step(model.named_params())
    assert cost < first / 5
    assert (model.forward(x).argmax(axis=1) == y).mean() == 1.0


def test_no_layer_computes_the_error_of_the_input() -> None:
    """Behind flatten, an mlp's first dense layer skips its input's error (nobody can use it)
    and backward stops there; the parameters' gradients equal those of a network in which
    every layer computes it."""
    model = Sequential.from_spec(load_preset("mlp"), np.random.default_rng(0))
    assert [layer.needs_input_grad for layer in model.layers[:3]] == [False, False, True]
    full = Sequential.from_spec(load_preset("mlp"), np.random.default_rng(0))
    for layer in full.layers:
        layer.needs_input_grad = True
    rng = np.random.default_rng(1)
    x = rng.random((5, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 5)
    recorded = []
    for net in (model, full):
        _, dout = compute_loss(net.loss, net.forward(x, train=True), y)
        recorded.append(net.backward_record(dout))
    skipped, computed = recorded
    assert skipped[0].size == 0 and skipped[1].size == 0  # flatten's input and output
    assert computed[0].shape == x.shape and computed[1].shape == (5, 784)
    for a, b in zip(skipped[2:], computed[2:], strict=True):
        np.testing.assert_array_equal(a, b)
    for (name, _, g), (_, _, g_full) in zip(model.named_params(), full.named_params(), strict=True):
        np.testing.assert_allclose(g, g_full, rtol=1e-6, atol=1e-7, err_msg=name)
