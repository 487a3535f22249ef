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

* Slow clients: uvicorn sets no deadline on a request's headers or body, so a client that
  trickles a byte every few seconds ("slowloris") held its connection — and a file descriptor —
  for ever; enough of them and ``accept`` fails for everyone (1,024 descriptors is a common
  limit). :class:`BoundedHttp` closes a connection whose request headers are not all there
  :data:`SLOW_REQUEST_S` seconds after it began waiting for them (the connection opened, or the
  last answer went), or whose body pauses that long. A request being answered, an idle
  keep-alive connection (uvicorn closes those after 5 s) and a WebSocket have no such deadline.

``glassnet serve`` passes both to ``uvicorn.Config`` (:func:`protocol_classes`); where the
libraries they extend are missing it keeps uvicorn's choice (``h11``, already bounded).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("glassnet.connections")

MAX_PIPELINED = 32  # requests a connection may queue behind the one being answered
SLOW_REQUEST_S = 20.0  # the default deadline for a request's headers, and for a pause in its body


class _PipelineOverflowError(Exception):
    """Raised in the parser's callback to stop parsing the rest of the chunk."""


def _bounded_http(slow_request_s: float) -> type | None:
    try:
        import httptools  # noqa: F401  (HttpToolsProtocol needs it)
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn without httptools uses h11 (bounded)
        return None

    class BoundedHttp(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """HttpToolsProtocol holding at most MAX_PIPELINED queued requests, and closing a
        request that arrives too slowly (module docstring)."""

        deadline: asyncio.TimerHandle | None = None

        # -- the deadline on a request's arrival -------------------------------------------

        def _arm(self, why: str) -> None:
            """(Re)start the clock: the connection closes if it runs out (``why`` is logged)."""
            self._disarm()
            self.deadline = self.loop.call_later(slow_request_s, self._too_slow, why)

        def _disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _too_slow(self, why: str) -> None:
            self.deadline = None
            if self.transport.is_closing():
                return
            log.info(
                "closing a connection whose %s took longer than %g s",
                why,
                slow_request_s,
                extra={"fields": {"client": _client(self.client)}},
            )
            self.transport.abort()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm("request headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_websocket_upgrade(self) -> None:
            self._disarm()  # the WebSocket protocol owns the connection from here (pings, pongs)
            super().handle_websocket_upgrade()

        def on_headers_complete(self) -> None:
            upgrade = self.parser.should_upgrade()
            super().on_headers_complete()
            if upgrade:
                self._disarm()
            else:
                self._arm("request body")  # an answer's wait starts at on_message_complete
            if len(self.pipeline) > MAX_PIPELINED:
                raise _PipelineOverflowError

        def on_body(self, body: bytes) -> None:
            self._arm("request body")  # a pause, not the whole body, is bounded: slow links work
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

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
            if self.transport.is_closing():
                return
            if self.pipeline:
                self.flow.pause_reading()  # read on only once every queued request is answered
            else:
                self._arm("request headers")  # the next request's (uvicorn's keep-alive may close first)

        def _drop(self) -> None:
            log.warning(
                "closing a connection that pipelined more than %d requests ahead of its answers",
                MAX_PIPELINED,
                extra={"fields": {"client": _client(self.client)}},
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


def _client(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"


def protocol_classes(slow_request_s: float = SLOW_REQUEST_S) -> dict[str, Any]:
    """``http=`` and ``ws=`` for ``uvicorn.Config``: the bounded classes where they load;
    ``slow_request_s``: the deadline on a request's headers and on a pause in its body."""
    out: dict[str, Any] = {}
    http, ws = _bounded_http(slow_request_s), _bounded_websocket()
    if http is not None:
        out["http"] = http
    if ws is not None:
        out["ws"] = ws
    return out
