"""Preset networks: plain JSON specs a user can copy, edit and pass back with ``--spec``.

A preset holds the model (``input_shape``, ``layers``, ``loss``) and the training settings that
make it learn well (``train``): ``mlp`` and ``cnn`` are the practical ones, ``notes`` is the
network of the teaching notes (784-16-16-10, sigmoid, squared-error cost, plain SGD).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

PRESETS = ("cnn", "mlp", "notes")


def load_preset(name: str) -> dict[str, Any]:
    """The preset's full spec as a fresh dict."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a user's spec file (same format as a preset); a clear ``ValueError`` if it is not one."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the spec as JSON ({exc})") from None
    except RecursionError:  # [[[[...]]]]: the decoder recurses once per level
        raise ValueError(f"{path}: cannot read the spec as JSON (nested too deeply)") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a spec must be a JSON object with 'layers'")
    return spec


def fit_classes(spec: dict[str, Any], classes: int) -> tuple[dict[str, Any], str | None]:
    """The spec with one output neuron per class: the last dense layer's ``units`` set to ``classes``
    (the presets end with 10, MNIST's digits). Returns the spec and a note when it changed."""
    layers = [dict(layer) for layer in spec.get("layers", [])]
    dense = [i for i, layer in enumerate(layers) if layer.get("type") == "dense"]
    if not dense or layers[dense[-1]].get("units") == classes:
        return spec, None
    i = dense[-1]
    before = layers[i].get("units")
    layers[i]["units"] = classes
    return {**spec, "layers": layers}, f"layer {i} (dense): {before} -> {classes} units, one per class"
