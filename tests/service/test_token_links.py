"""The ``?token=`` links of a class server, against a real ``glassnet serve`` (QA round 3, #3 and
#6): no token reaches the server's log, and the login's redirect stays on this server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import Server, wait_for
from websockets.sync.client import connect

pytestmark = pytest.mark.slow

TOKEN = "teachertoken-qa3-abcdef123"
CODE = "cls-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("links") / "runs",
        tiny_dataset,
        env={"GLASSNET_TOKEN": TOKEN},
        args=["--host", "0.0.0.0", "--join-code", CODE, "--log-level", "debug"],
    )
    try:
        yield srv
    finally:
        srv.stop()


def student(server: Server, name: str) -> str:
    with server.http() as http:
        joined = http.post("/api/join", json={"code": CODE, "name": name})
        assert joined.status_code == 200, joined.text
        return joined.json()["token"]


def test_tokens_never_reach_the_log(server: Server) -> None:
    ann = student(server, "ann")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get(f"/?token={TOKEN}").status_code == 303  # the teacher's link
        assert http.get(f"/?token={ann}&lang=de").status_code == 303  # a student's link
        assert http.get("/api/runs", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert http.get("/api/runs", headers={"x-glassnet-token": ann}).status_code == 200
    with connect(f"{server.ws_url}?token={ann}", open_timeout=10) as ws:  # the socket's form
        assert '"hello"' in str(ws.recv(timeout=10))
    wait_for(lambda: "/ws?token=" in server.log_tail(200_000), 10, what="the socket's log line")
    log = server.log_tail(200_000)
    assert "GET /?token=[redacted] HTTP/1.1" in log  # the access log still says what was asked
    assert TOKEN not in log
    assert ann not in log and ann.split(".")[-1] not in log


def test_the_token_login_redirects_only_to_this_server(server: Server) -> None:
    ann = student(server, "bob")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for path, where in [
            ("//evil.example/", "/evil.example/"),
            ("/%5Cevil.example/", "/evil.example/"),
            ("/%2F%2Fevil.example/", "/evil.example/"),
            ("/%C3%A9", "/%C3%A9"),  # non-ASCII: percent-encoded, never raw bytes in a header
            ("/runs?lang=de", "/runs?lang=de"),
        ]:
            sep = "&" if "?" in path else "?"
            r = http.get(f"{server.url}{path}{sep}token={ann}")
            assert r.status_code == 303, (path, r.status_code, r.text)
            assert r.headers["location"] == where, path
            assert "glassnet_token=" in r.headers["set-cookie"]


def test_a_control_character_in_the_login_address_is_a_clean_400(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET /%0d%0aX-Injected:%20yes?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        got = b""
        while data := sock.recv(65536):
            got += data
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), got[:200]
    assert b"x-injected" not in head.lower()
    assert b"control character" in body
    assert "Exception in ASGI application" not in server.log_tail(200_000)
