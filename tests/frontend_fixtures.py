"""Fixtures for the JavaScript tests, made by the service's own code.

``frontend/test/fixtures/explain-small.json`` is an /api/explain answer for a tiny sigmoid network;
``learnmath.test.js`` checks the page's arithmetic against it. ``catalog.json`` is what
``GET /api/layers`` and ``GET /api/presets`` serve (the page keeps no copies of its own; the
architecture tests read it). ``test_frontend_fixtures.py`` checks the committed files are what
this module makes now; ``python tests/frontend_fixtures.py`` rewrites them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from glassnet.nn.explain import trace
from glassnet.nn.model import Sequential
from glassnet.service.explain import explanation

FIXTURES = Path(__file__).resolve().parents[1] / "frontend" / "test" / "fixtures"
FIXTURE = FIXTURES / "explain-small.json"
CATALOG = FIXTURES / "catalog.json"
SPEC = {
    "input_shape": [1, 3, 3],
    "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 4, "init": "xavier"},
        {"type": "sigmoid"},
        {"type": "dense", "units": 3, "init": "xavier"},
        {"type": "sigmoid"},
    ],
    "loss": "mse",
}


def make() -> str:
    model = Sequential.from_spec(SPEC, np.random.default_rng(11))
    x = np.linspace(0.0, 1.0, 9).reshape(1, 3, 3).astype(np.float32)
    answer = explanation(trace(model, x, 2), "tiny", {"kind": "pixels", "index": None, "label": None})
    return json.dumps(answer, indent=None, separators=(",", ":")) + "\n"


def make_catalog() -> str:
    from glassnet.service.routes.catalog import all_presets, layer_catalog

    return json.dumps({"presets": all_presets(), "catalog": layer_catalog().model_dump()}, indent=1) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES
    out.mkdir(parents=True, exist_ok=True)
    (out / FIXTURE.name).write_text(make())
    (out / CATALOG.name).write_text(make_catalog())
