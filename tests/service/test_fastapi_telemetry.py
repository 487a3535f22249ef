"""FastAPI's own OpenTelemetry is off unless a deployment asks for it (service/app.py
``_telemetry_options``): glassnet counts its requests itself, and FastAPI's per-request look-up
of the global providers cost ~5% of the event loop under a class's predictions."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI

from glassnet.service.app import _telemetry_options, create_app
from glassnet.service.settings import Settings

HAS_TELEMETRY = "telemetry" in inspect.signature(FastAPI.__init__).parameters


@pytest.mark.skipif(not HAS_TELEMETRY, reason="this FastAPI has no native telemetry to turn off")
def test_fastapi_telemetry_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    app = create_app(settings)
    assert app._native_telemetry.enabled() is False
    assert {app._telemetry[k] for k in ("tracing", "metrics", "logs")} == {False}
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert _telemetry_options() == {}  # FastAPI's defaults: tracing, metrics and logs on
    assert create_app(settings)._telemetry["tracing"] is True


def test_options_fit_this_fastapi(settings: Settings) -> None:
    """Whatever FastAPI is installed, the app is made (an older one gets no telemetry argument)."""
    assert ("telemetry" in _telemetry_options()) == HAS_TELEMETRY
    assert isinstance(create_app(settings), FastAPI)
