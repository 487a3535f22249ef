"""A glassnet network as an ONNX model, for ONNX Runtime and every tool that reads ONNX.

The mapping is direct because glassnet's conventions are ONNX's: images are NCHW, a convolution is a
correlation with weights (out, in, kh, kw) = OIHW and one bias per kernel (``Conv``), pooling
windows without padding round down (``MaxPool`` / ``AveragePool``), ``flatten`` is a row-major
reshape (``Flatten`` axis 1), and a dense layer ``y = x @ W + b`` with W (in, out) is
``MatMul`` + ``Add``. Dropout is the identity when predicting.

The graph ends where glassnet's predictions end: input ``pixels`` (N, C, H, W) float32 activations
in [0, 1], output ``probabilities`` (N, K) — the softmax of the scores for the cross-entropy cost,
the normalised output activations for the squared-error cost (``nn.losses.probabilities``).

Needs the ``onnx`` package (the ``onnx`` extra: :func:`glassnet.extras.install_hint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..extras import install_hint
from ..nn.checkpoint import Checkpoint, atomic_write_bytes
from ..nn.model import Sequential

__all__ = ["OPSET", "checkpoint_onnx", "export_onnx", "onnx_model"]

OPSET = 17  # ONNX Runtime 1.14+ runs it


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ValueError(f"ONNX export needs the onnx package: {install_hint('onnx')}") from None
    return onnx


def onnx_model(model: Sequential, meta: dict[str, Any] | None = None, name: str = "glassnet") -> Any:
    """Build the ``onnx.ModelProto`` of ``model`` (float32 weights), checked by ``onnx.checker``."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []

    def constant(array: np.ndarray, label: str) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), label))
        return label

    x = "pixels"
    for i, layer in enumerate(model.layers):
        kind, out = layer.kind, f"{i}.{layer.kind}"
        if kind == "dense":
            w = constant(layer.params["W"].astype(np.float32), f"{i}.W")
            b = constant(layer.params["b"].astype(np.float32), f"{i}.b")
            nodes.append(helper.make_node("MatMul", [x, w], [f"{out}.matmul"], name=f"{i}.matmul"))
            nodes.append(helper.make_node("Add", [f"{out}.matmul", b], [out], name=f"{i}.add"))
        elif kind == "conv2d":
            w = constant(layer.params["W"].astype(np.float32), f"{i}.W")
            b = constant(layer.params["b"].astype(np.float32), f"{i}.b")
            top, bottom, left, right = layer.pad
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, w, b],
                    [out],
                    name=f"{i}.conv",
                    kernel_shape=[layer.kernel, layer.kernel],
                    strides=[layer.stride, layer.stride],
                    pads=[top, left, bottom, right],  # ONNX: begins of H, W, then ends
                )
            )
        elif kind in ("maxpool2d", "avgpool2d"):
            op = "MaxPool" if kind == "maxpool2d" else "AveragePool"
            window = {"kernel_shape": [layer.size, layer.size], "strides": [layer.stride, layer.stride]}
            nodes.append(helper.make_node(op, [x], [out], name=f"{i}.pool", **window))
        elif kind == "flatten":
            nodes.append(helper.make_node("Flatten", [x], [out], name=f"{i}.flatten", axis=1))
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [x], [out], name=f"{i}.relu"))
        elif kind == "leaky_relu":
            nodes.append(helper.make_node("LeakyRelu", [x], [out], name=f"{i}.leaky_relu", alpha=layer.alpha))
        elif kind == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", [x], [out], name=f"{i}.sigmoid"))
        elif kind == "tanh":
            nodes.append(helper.make_node("Tanh", [x], [out], name=f"{i}.tanh"))
        elif kind == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [out], name=f"{i}.softmax", axis=1))
        elif kind == "dropout":
            nodes.append(helper.make_node("Identity", [x], [out], name=f"{i}.dropout"))
        else:
            raise ValueError(f"layer {i} ({kind}): no ONNX mapping for this layer type")
        x = out

    k = model.output_shape[0]
    if model.loss == "cross_entropy":
        nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="probabilities", axis=1))
    else:
        # Squared-error networks: negative outputs clipped to 0, then normalised to sum to 1; all-zero
        # rows become uniform (exactly what nn.losses.probabilities does).
        zero = constant(np.zeros((), np.float32), "zero")
        one = constant(np.ones((), np.float32), "one")
        uniform = constant(np.full((), 1.0 / k, np.float32), "uniform")
        axes = constant(np.array([1], np.int64), "class_axis")
        nodes += [
            helper.make_node("Relu", [x], ["p.clipped"]),
            helper.make_node("ReduceSum", ["p.clipped", axes], ["p.total"], keepdims=1),
            helper.make_node("Greater", ["p.total", zero], ["p.has_ink"]),
            helper.make_node("Where", ["p.has_ink", "p.total", one], ["p.divisor"]),
            helper.make_node("Div", ["p.clipped", "p.divisor"], ["p.normalised"]),
            helper.make_node("Where", ["p.has_ink", "p.normalised", uniform], ["probabilities"]),
        ]

    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", *model.input_shape])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])],
        initializer=weights,
    )
    proto = helper.make_model(
        graph,
        producer_name="glassnet",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=f"glassnet {name}: input pixels (N, {', '.join(map(str, model.input_shape))}) in [0, 1], "
        f"output probabilities (N, {k})",
    )
    proto.ir_version = 8  # readable by ONNX Runtime releases from 1.14 on
    for key, value in (meta or {}).items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def checkpoint_onnx(checkpoint: Checkpoint) -> Any:
    """The ``onnx.ModelProto`` of a checkpoint, with its preset, dataset, classes and accuracy as
    metadata."""
    meta = {k: v for k, v in checkpoint.meta.items() if k in ("preset", "dataset", "test_accuracy", "date")}
    classes = checkpoint.meta.get("classes")
    if isinstance(classes, list):
        meta["classes"] = ",".join(map(str, classes))
    name = str(checkpoint.meta.get("preset") or checkpoint.spec.get("name") or "glassnet")
    return onnx_model(checkpoint.model.astype(np.float32), meta, name)


def export_onnx(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint``'s network as an ONNX file (atomically); returns the path."""
    atomic_write_bytes(path, checkpoint_onnx(checkpoint).SerializeToString())
    return Path(path)
