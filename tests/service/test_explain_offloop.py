"""``/api/explain…`` answers (up to ~20-30 MB of JSON) are rendered in the heavy pool, never on the
event loop, where ``json.dumps`` of one would hold up every socket (QA round 3, #9)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse


def test_explain_answers_are_rendered_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered_on_loop: list[bool] = []
    original = JSONResponse.render

    def render(self: JSONResponse, content: Any) -> bytes:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        if isinstance(content, dict) and "detail" not in content:
            rendered_on_loop.append(on_loop)
        return original(self, content)

    monkeypatch.setattr(JSONResponse, "render", render)
    for path, body in [
        ("/api/explain", {"model": "mlp", "test_index": 3}),
        ("/api/explain/activations", {"model": "cnn", "test_index": 3}),
    ]:
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text
        assert r.json()
    assert rendered_on_loop == [False, False]
