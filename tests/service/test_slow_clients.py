"""Slow clients against a real ``glassnet serve`` (uvicorn with httptools, as shipped): a request
whose headers trickle in, or whose body stops, holds a connection and a file descriptor; without a
deadline enough of them ("slowloris") leave the server unable to accept anyone. Requests that
arrive in time, an upload that is slow but keeps coming, idle answers and WebSockets are not cut."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import Server

pytestmark = pytest.mark.slow

DEADLINE = 1.5  # GLASSNET_SLOW_REQUEST_S for these tests (20 s by default)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("slow") / "runs", tiny_dataset, env={"GLASSNET_SLOW_REQUEST_S": str(DEADLINE)}
    )
    try:
        yield srv
    finally:
        srv.stop()


def closed_after(sock: socket.socket, trickle: bytes, limit: float) -> float | None:
    """Send ``trickle`` a byte every 0.25 s; the seconds until the server closed the connection,
    or None if it was still open after ``limit`` seconds."""
    start = time.monotonic()
    sock.settimeout(0.25)
    i = 0
    while time.monotonic() - start < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            pass
        except OSError:  # reset by the server
            return time.monotonic() - start
        try:
            sock.send(trickle[i % len(trickle) : i % len(trickle) + 1])
        except OSError:
            return time.monotonic() - start
        i += 1
    return None


def test_headers_that_trickle_in_are_cut_off_at_the_deadline(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        took = closed_after(sock, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", limit=4 * DEADLINE)
    assert took is not None, f"a request whose headers never ended was still open after {4 * DEADLINE} s"
    assert took < DEADLINE + 1.0


def test_a_connection_that_never_sends_is_cut_off(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(4 * DEADLINE)
        start = time.monotonic()
        assert sock.recv(4096) == b""
        assert time.monotonic() - start < DEADLINE + 1.0


def test_a_body_that_stops_is_cut_off_and_one_that_keeps_coming_is_not(server: Server) -> None:
    head = (
        "POST /api/architecture HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: {n}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.format(n=1000).encode() + b"[")
        sock.settimeout(4 * DEADLINE)
        start = time.monotonic()
        assert sock.recv(4096) == b"", "the server answered a body that never came"
        assert time.monotonic() - start < DEADLINE + 1.0
    # A slow upload: the whole body takes 3 deadlines, but no pause reaches one.
    body = b'{"input_shape": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}'
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.format(n=len(body)).encode())
        pause = 3 * DEADLINE / len(body)
        for i in range(len(body)):
            sock.sendall(body[i : i + 1])
            time.sleep(pause)
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_keep_alive_requests_in_time_and_websockets_stay_open(server: Server) -> None:
    with server.http() as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(DEADLINE / 2)  # inside uvicorn's keep-alive and this deadline
    # A WebSocket outlives the deadline: it is the WebSocket protocol's (pings) from the upgrade.
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
        time.sleep(2.5 * DEADLINE)
        ws.ping().wait(5)  # still connected: the pong comes back


def test_many_slow_clients_do_not_keep_anyone_out(server: Server) -> None:
    held = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)
        time.sleep(DEADLINE + 1.0)
        closed = 0
        for s in held:
            s.settimeout(0.5)
            try:
                closed += s.recv(16) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass  # still open
        assert closed == len(held), f"{len(held) - closed} of {len(held)} slow connections still open"
        with server.http() as client:
            assert client.get("/healthz").status_code == 200
    finally:
        for s in held:
            s.close()


def test_serve_raises_its_soft_limit_on_open_files(tmp_path: Path, tiny_dataset: Path) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.fail(f"this machine's hard limit on open files is {hard}: the test needs more than 256")
    # A server started under a soft limit of 256 runs with more (its hard limit, at most 65,536).
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        srv = Server(tmp_path / "runs", tiny_dataset)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert srv.proc is not None
        limits = Path(f"/proc/{srv.proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert int(line.split()[3]) > 256, line
    finally:
        srv.stop()
