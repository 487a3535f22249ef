"""uvicorn's connection protocols with the bounds a hostile client cannot get past.

* :class:`BoundedHttp` (httptools): uvicorn parses every request a chunk of pipelined HTTP/1.1
  holds and queues each (``pipeline``), then reads the next chunk as soon as one answer is out,
  so a client that pipelines faster than it reads grew the server by ~40× what it sent, with no
  token needed (the requests are parsed before ``Guard`` answers 401). Here a connection that
  queues more than :data:`MAX_PIPELINED` requests behind the one being answered is dropped,
  and reading waits while any are queued: a connection holds at most that many requests.
  Browsers do not pipeline; a client that does gets its first answers, then the connection
  closes.
* :class:`BoundedWebSocket` (websockets-sansio): every ping is answered with a pong into the
  transport's buffer and reading never stopped while the client did not read, so pings that
  were never read back grew the server without bound, past the hub's queues and its stall
  watchdog. Here a pong that leaves the buffer above its high-water mark stops reading until
  the client has taken the backlog (uvicorn's own keepalive then closes a client that never
  does).

``glassnet serve`` passes both to ``uvicorn.Config`` (:func:`protocol_classes`); where the
libraries they extend are missing it keeps uvicorn's choice (``h11``, already bounded).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("glassnet.connections")

MAX_PIPELINED = 32  # requests a connection may queue behind the one being answered


class _PipelineOverflowError(Exception):
    """Raised in the parser's callback to stop parsing the rest of the chunk."""


def _bounded_http() -> type | None:
    try:
        import httptools  # noqa: F401  (HttpToolsProtocol needs it)
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn without httptools uses h11 (bounded)
        return None

    class BoundedHttp(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """HttpToolsProtocol holding at most MAX_PIPELINED queued requests (module docstring)."""

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            if len(self.pipeline) > MAX_PIPELINED:
                raise _PipelineOverflowError

        def data_received(self, data: bytes) -> None:
            if not self.transport.is_closing():
                super().data_received(data)

        def send_400_response(self, msg: str) -> None:
            # httptools reports the callback's _PipelineOverflowError as a parser error, which
            # uvicorn answers with a 400 written ahead of the answers still owed: drop instead.
            if len(self.pipeline) > MAX_PIPELINED:
                self._drop()
                return
            super().send_400_response(msg)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.pipeline and not self.transport.is_closing():
                self.flow.pause_reading()  # read on only once every queued request is answered

        def _drop(self) -> None:
            log.warning(
                "closing a connection that pipelined more than %d requests ahead of its answers",
                MAX_PIPELINED,
                extra={"fields": {"client": f"{self.client[0]}:{self.client[1]}" if self.client else "?"}},
            )
            self.pipeline.clear()
            self.transport.abort()

    return BoundedHttp


def _bounded_websocket() -> type | None:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - an older uvicorn: its own choice
        return None

    class BoundedWebSocket(WebSocketsSansIOProtocol):  # type: ignore[misc, valid-type]
        """WebSocketsSansIOProtocol that stops reading while unread pongs fill its buffer."""

        held = False  # reading stopped for a pong backlog

        def handle_ping(self) -> None:
            super().handle_ping()
            if not self.writable.is_set() and not self.held and not self.transport.is_closing():
                self.held = True  # pause_writing came: resume_writing will come when it drains
                self.transport.pause_reading()

        def resume_writing(self) -> None:
            super().resume_writing()
            if self.held:
                self.held = False
                if not self.read_paused and not self.transport.is_closing():
                    self.transport.resume_reading()

        async def receive(self) -> Any:
            message = await self.queue.get()
            if self.read_paused and self.queue.empty():
                self.read_paused = False
                if not self.held:
                    self.transport.resume_reading()
            return message

    return BoundedWebSocket


def protocol_classes() -> dict[str, Any]:
    """``http=`` and ``ws=`` for ``uvicorn.Config``: the bounded classes where they load."""
    out: dict[str, Any] = {}
    http, ws = _bounded_http(), _bounded_websocket()
    if http is not None:
        out["http"] = http
    if ws is not None:
        out["ws"] = ws
    return out
