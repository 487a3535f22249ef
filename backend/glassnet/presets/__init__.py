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
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a spec must be a JSON object with 'layers'")
    return spec
