"""Logs of the ``glassnet`` loggers: timestamped, levelled, one line per record, as text or JSON.

``glassnet serve`` calls :func:`configure` (``--log-level``, ``--log-json``); uvicorn's loggers get the
same handler so the whole process speaks one format. A record's structured figures travel in
``extra={"fields": {...}}`` (see :func:`fields`) and are printed as ``key=value`` after the message,
or as JSON keys::

    2026-11-28T08:30:01.204Z INFO glassnet.runs: run finished run=3f2a9c1e0b7d epoch=1 val_accuracy=0.9712
    {"time": "2026-11-28T08:30:01.204Z", "level": "info", "logger": "glassnet.runs",
     "message": "run finished", "run": "3f2a9c1e0b7d", "epoch": 1, "val_accuracy": 0.9712}

Tokens never reach a line: :func:`redact` replaces the value of every ``token=`` (the
``?token=`` login links, the WebSocket's ``?token=``, the ``glassnet_token`` cookie), every
``Bearer`` credential and every ``X-Glassnet-Token`` value with ``[redacted]``, in the message,
its fields and its traceback, for the access log as for the rest.

Standard library only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

__all__ = ["LEVELS", "JsonFormatter", "TextFormatter", "configure", "fields", "redact"]

LEVELS = ("critical", "error", "warning", "info", "debug")
LOGGERS = ("glassnet", "uvicorn.error", "uvicorn.access")


# A credential's value: up to a delimiter of a query, a header list, JSON or a log line.
_SECRET = r"[^\s&;,\"'\\]+"
_CREDENTIALS = re.compile(
    rf"(?i)(token=|token%3d|bearer\s+|x-glassnet-token[\"']?\s*[:=,]\s*[\"']?b?[\"']?){_SECRET}"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of every token it names replaced (see the module docstring)."""
    return _CREDENTIALS.sub(rf"\g<1>{REDACTED}", text)


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a record with structured figures: ``log.info("run started", extra=fields(run=id))``."""
    return {"fields": values}


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


class TextFormatter(logging.Formatter):
    """``<UTC time> <LEVEL> <logger>: <message> key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extra = getattr(record, "fields", None) or {}
        if extra:
            line += " " + " ".join(f"{k}={_plain(v)}" for k, v in extra.items())
        if record.exc_info:
            # A traceback stays on one record, its newlines escaped: one line per record.
            line += " exception=" + json.dumps(self.formatException(record.exc_info))
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in (getattr(record, "fields", None) or {}).items():
            out.setdefault(key, value)  # a field never hides the record's own keys
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str))


def configure(level: str = "info", json_lines: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Send the ``glassnet`` (and uvicorn) loggers to ``stream`` (stderr) in one format.

    Replaces the handlers this function installed before (safe to call twice); leaves the root
    logger alone, so an embedding application keeps its own logging.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler._glassnet = True  # type: ignore[attr-defined]
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_glassnet", False)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False
    return handler
