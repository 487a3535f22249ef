"""Floods at the connection level, against a real ``glassnet serve`` (uvicorn with httptools and
websockets-sansio, as shipped): a client that pipelines HTTP requests, or sends WebSocket pings,
without reading the answers must not grow the server's memory (QA round 3, #1 and #2)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import Server, stalled_viewer

pytestmark = pytest.mark.slow

GROWTH_MB = 40  # what the floods below may add to the server (unbounded: 150-400 MB)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def flood(sock: socket.socket, chunk: bytes, total: int, seconds: float = 8.0) -> int:
    """Send ``chunk`` until ``total`` bytes went, the server stops taking them for a second, the
    connection closes, or ``seconds`` pass; the bytes sent."""
    sock.settimeout(1.0)
    sent, deadline = 0, time.monotonic() + seconds
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except TimeoutError:
            break  # backpressure: the server stopped reading
        except OSError:
            break  # the server closed the connection
    return sent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("floods") / "runs", tiny_dataset)
    try:
        yield srv
    finally:
        srv.stop()


def test_pipelined_requests_that_are_never_read_do_not_grow_the_server(server: Server) -> None:
    assert server.proc is not None
    before = rss_mb(server.proc.pid)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode() * 1000
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = flood(sock, request, 10 * 2**20)
        grown = rss_mb(server.proc.pid) - before
    assert grown < GROWTH_MB, f"the server grew {grown:.0f} MB for {sent >> 20} MB of pipelined requests"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # and it still serves
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
    assert "pipelined more than" in server.log_tail(20000)


def test_a_few_pipelined_requests_are_all_answered_in_order(server: Server) -> None:
    paths = ["/healthz", "/readyz", "/healthz", "/api/nothing"]
    wire = "".join(f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n" for p in paths[:-1])
    wire += f"GET {paths[-1]} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(wire.encode())
        got = b""
        while data := sock.recv(65536):  # until the server closes after the last answer
            got += data
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", got)
    assert statuses == [b"200", b"200", b"200", b"404"]


def ping_frame(payload: bytes) -> bytes:
    """A masked client ping frame (RFC 6455: client frames are masked; a zero mask)."""
    return bytes((0x89, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def test_pings_whose_pongs_are_never_read_do_not_grow_the_server(server: Server) -> None:
    assert server.proc is not None
    before = rss_mb(server.proc.pid)
    sock = stalled_viewer(server.port)
    try:
        sent = flood(sock, ping_frame(b"p" * 125) * 1000, 100 * 2**20)
        grown = rss_mb(server.proc.pid) - before
    finally:
        sock.close()
    assert grown < GROWTH_MB, f"the server grew {grown:.0f} MB for {sent >> 20} MB of pings"
