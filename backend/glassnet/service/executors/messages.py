"""A run's messages as JSON bytes, for every executor: no pickle crosses between the server and a
run's process (or Ray actor), though both are our own — the project's rule is no pickle wherever
data crosses a boundary, so a compromised or confused peer can send data, never code.

A message is a dict of JSON values; a top-level ``bytes`` field (an epoch's answers, a shipped
checkpoint file) travels as ``{"$b64": "..."}``; NumPy scalars and arrays as their numbers.
:class:`JsonPipe` puts this on a ``multiprocessing`` pipe end with ``send_bytes``/``recv_bytes``
(never ``send``/``recv``, which pickle). Standard library only (NumPy values are recognised by
their ``item``/``tolist`` methods), so the Ray actor and a spawned run import it cheaply.
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["JsonPipe", "pack", "unpack"]


def _plain(value: Any) -> Any:
    """json.dumps' fallback: a NumPy array or scalar as its numbers; anything else is a bug."""
    for method in ("tolist", "item"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"a run message cannot carry {type(value).__name__}")


def pack(message: dict[str, Any]) -> bytes:
    """A session message as JSON; top-level bytes fields as ``{"$b64": ...}``."""
    out = {
        k: {"$b64": base64.b64encode(v).decode()} if isinstance(v, bytes | bytearray) else v
        for k, v in message.items()
    }
    return json.dumps(out, separators=(",", ":"), default=_plain).encode()


def unpack(data: bytes | dict[str, Any]) -> dict[str, Any]:
    """The message :func:`pack` made (from its bytes, or already parsed from JSON)."""
    message = json.loads(data) if isinstance(data, bytes | bytearray) else data
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    for k, v in message.items():
        if isinstance(v, dict) and set(v) == {"$b64"}:
            message[k] = base64.b64decode(v["$b64"])
    return message


class JsonPipe:
    """A ``multiprocessing`` pipe end that carries :func:`pack`'d messages as raw bytes: the
    ``send``/``poll``/``recv``/``close`` a :class:`..session.TrainingSession` (and the server's
    reader thread) use, none of which pickles. Receiving anything that is not such a message
    (e.g. a pickle) is a ``ValueError``, never an unpickling."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send_bytes(pack(message))

    def recv(self) -> dict[str, Any]:
        data = self.conn.recv_bytes()
        try:
            return unpack(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a run message ({len(data)} bytes): {exc}") from None

    def poll(self, timeout: float = 0.0) -> bool:
        return bool(self.conn.poll(timeout))

    def close(self) -> None:
        self.conn.close()
