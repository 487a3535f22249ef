"""One WebSocket message framed once and written straight to every idle viewer's socket.

A frame the server sends is the same bytes for every viewer (RFC 6455: server frames are not
masked), yet the ordinary path frames and copies it once per viewer, through a task switch
(the viewer's sender task), Starlette's ``send``, uvicorn's protocol and the websockets
library's framing. With 200 viewers that is ~1,600 messages a second, and the Python around
each write cost about as much as the write itself (``py-spy``, bench/viewers.py). So the hub
frames a message once (:func:`text_frame`) and, for a viewer whose socket is idle — nothing in
its queue, no write in flight, nothing waiting in the transport's buffer — writes those bytes
to the socket at once, in the publishing call (:class:`DirectSocket`).

Everything else keeps the ordinary path (``ws.send_text`` from the viewer's sender task): a
viewer that is behind (its transport holds unsent bytes, or its queue is not empty), so
backpressure, dropping and the stall watchdog work as before; and any server other than
uvicorn's websockets-sansio protocol (``DirectSocket.of`` returns None where the attributes it
needs are missing: another server, another uvicorn version, Starlette's test client).

How the socket is found: :class:`KeepRawSend`, the outermost middleware, keeps the server's own
ASGI ``send`` in the connection's scope (middlewares further in may wrap ``send``); under
uvicorn that is a method of the connection's protocol object, which holds the transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

RAW_SEND = "glassnet.raw_send"  # the scope key where KeepRawSend puts the server's send


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2): FIN and
    opcode 1, then the payload length in 7 bits, or 126 + 16 bits, or 127 + 64 bits."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


class KeepRawSend:
    """ASGI middleware: a WebSocket connection's scope keeps the server's own ``send``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


class DirectSocket:
    """The transport of one uvicorn WebSocket connection, for writes that bypass its queue."""

    def __init__(self, protocol: Any, open_state: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.WriteTransport = protocol.transport
        self._open = open_state

    @classmethod
    def of(cls, scope: Scope) -> DirectSocket | None:
        """The connection's socket, or None where it cannot be written directly."""
        protocol = getattr(scope.get(RAW_SEND), "__self__", None)
        conn = getattr(protocol, "conn", None)
        needed = ("transport", "writable", "close_sent", "disconnected", "handshake_complete")
        if protocol is None or conn is None or not all(hasattr(protocol, a) for a in needed):
            return None
        try:
            from websockets.protocol import State
        except ImportError:
            return None
        transport = protocol.transport
        if not hasattr(transport, "get_write_buffer_size") or not hasattr(conn, "state"):
            return None
        return cls(protocol, State.OPEN)

    def idle(self) -> bool:
        """Open, accepted, not closing, not paused for backpressure, and nothing unsent."""
        p = self.protocol
        return (
            p.handshake_complete
            and not p.disconnected
            and not p.close_sent
            and p.conn.state is self._open
            and p.writable.is_set()
            and not self.transport.is_closing()
            and self.transport.get_write_buffer_size() == 0
        )

    def write(self, frame: bytes) -> None:
        """Hand a whole framed message to the transport (it sends what the kernel takes now
        and buffers the rest; the next message then sees a non-empty buffer and queues)."""
        self.transport.write(frame)
