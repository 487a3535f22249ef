"""Bar 5, no one in where they don't belong, against real servers: bound beyond loopback with a
token, every state-changing endpoint and socket command needs it; foreign Hosts (DNS rebinding)
and cross-site requests (CSRF) are refused; with the default loopback bind a local user notices
nothing. Also: security headers, /docs offline, /readyz without absolute paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, Server, make_settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from glassnet.service.app import create_app

pytestmark = pytest.mark.slow

TOKEN = "correct-horse-battery-staple-42"
PIXELS = [[0.0] * 28] * 10 + [[1.0] * 28] * 8 + [[0.0] * 28] * 10


def state_changing(http: httpx.Client) -> list[tuple[str, str]]:
    """Every (method, path) of the API that is not a GET, from the served schema."""
    paths = http.get("/openapi.json").json()["paths"]
    ops = [
        (m.upper(), p.replace("{run_id}", "abc").replace("{model_id}", "uploads:x"))
        for p, ms in paths.items()
        for m in ms
    ]
    return [(m, p) for m, p in ops if m != "GET"]


def test_beyond_loopback_everything_needs_the_token(tmp_path: Path, tiny_dataset: Path) -> None:
    server = Server(
        tmp_path / "runs", tiny_dataset, env={"GLASSNET_TOKEN": TOKEN}, args=["--host", "0.0.0.0"]
    )
    auth = {"authorization": f"Bearer {TOKEN}"}
    try:
        with server.http() as http:
            ops = state_changing(httpx.Client(base_url=server.url, headers=auth))
            assert len(ops) >= 10
            for method, path in ops:
                r = http.request(method, path, json={})
                if path == "/api/join":  # students' way in: open by design, and only with a join code
                    assert http.post(path, json={"code": "x", "name": "ann"}).status_code == 404
                    continue
                assert r.status_code == 401, (method, path, r.status_code)
                assert "token" in r.json()["detail"]
            assert http.get("/api/runs").status_code == 401  # viewing is closed too by default
            assert http.get("/").status_code == 401
            assert http.get("/healthz").status_code == 200  # monitors still see it
            with pytest.raises(InvalidStatus):
                connect(server.ws_url, open_timeout=10).close()
            # With the token: the same requests work.
            run = http.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1}, headers=auth)
            assert run.status_code == 201
            assert http.post(f"/api/runs/{run.json()['id']}/stop", headers=auth).status_code in (200, 409)
            assert http.post("/api/predict", json={"pixels": PIXELS}, headers=auth).status_code == 200
            with connect(server.ws_url, additional_headers=auth, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            # A browser: the printed address sets a strict cookie, then everything works.
            with httpx.Client(base_url=server.url) as browser:
                r = browser.get(f"/?token={TOKEN}")
                assert r.status_code == 303 and r.headers["location"] == "/"
                cookie = r.headers["set-cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
                assert browser.get("/api/runs").status_code == 200  # the cookie carries the token
                assert browser.get("/").status_code == 200
            with httpx.Client(base_url=server.url) as stranger:
                assert stranger.get("/?token=wrong-token-wrong-token").status_code == 401
                assert stranger.get("/api/runs").status_code == 401
            # Foreign Host (DNS rebinding) and cross-site simple requests, even with the token.
            r = http.get("/api/runs", headers={**auth, "host": "evil.example"})
            assert r.status_code == 400 and "evil.example" in r.json()["detail"]
            for headers in (
                {"origin": "http://evil.example", "content-type": "text/plain"},
                {"referer": "http://evil.example/page", "content-type": "text/plain"},
                {"sec-fetch-site": "cross-site", "content-type": "text/plain"},
            ):
                r = http.post(f"/api/runs/{run.json()['id']}/stop", headers={**auth, **headers}, content=b"x")
                assert r.status_code == 403, headers
            r = http.post(
                "/api/models",
                headers={**auth, "origin": "http://evil.example"},
                files={"file": ("a.npz", b"x")},
            )
            assert r.status_code == 403
            with pytest.raises(InvalidStatus):
                connect(
                    server.ws_url,
                    additional_headers={**auth, "host": "evil.example", "origin": "http://evil.example"},
                ).close()
    finally:
        server.stop()


def test_open_view_lets_anyone_watch_but_not_act(tmp_path: Path, tiny_dataset: Path) -> None:
    env = {"GLASSNET_TOKEN": TOKEN, "GLASSNET_OPEN_VIEW": "1"}
    server = Server(tmp_path / "runs", tiny_dataset, env=env, args=["--host", "0.0.0.0"])
    try:
        with server.http() as http:
            assert http.get("/api/runs").status_code == 200
            assert http.get("/").status_code == 200
            assert http.post("/api/runs", json={"spec": TINY_MLP}).status_code == 401
            with connect(server.ws_url, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
                ws.send(json.dumps({"type": "predict", "pixels": PIXELS, "id": 1}))
                while (frame := json.loads(ws.recv(timeout=10)))["type"] != "error":
                    pass
                assert frame["data"]["code"] == "unauthorized"
    finally:
        server.stop()


def test_loopback_default_changes_nothing_for_a_local_user(tmp_path: Path, tiny_dataset: Path) -> None:
    server = Server(tmp_path / "runs", tiny_dataset)
    try:
        with server.http() as http:
            page = http.get("/")
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert page.headers["x-content-type-options"] == "nosniff"
            same_origin = {"origin": server.url}
            run = http.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1}, headers=same_origin)
            assert run.status_code == 201  # no token, no setup: as before
            assert http.post("/api/predict", json={"pixels": PIXELS}).status_code == 200
            with connect(server.ws_url, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            # Still refused on loopback: a rebinding Host, a cross-site POST.
            assert http.get("/api/runs", headers={"host": "evil.example"}).status_code == 400
            r = http.post(
                f"/api/runs/{run.json()['id']}/stop",
                headers={"origin": "http://evil.example", "content-type": "text/plain"},
                content=b"x",
            )
            assert r.status_code == 403
            # /docs: no CDN, no inline script; its assets are served here.
            docs = http.get("/docs").text
            assert "cdn" not in docs.lower() and "<script>" not in docs
            assert http.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
            assert http.get("/docs/init.js").status_code == 200
            ready = http.get("/readyz").json()
            assert "/" not in json.dumps(ready).replace("\\/", ""), ready
    finally:
        server.stop()


def test_refused_requests_are_counted_in_metrics(tmp_path: Path, tiny_dataset: Path) -> None:
    """glassnet_http_requests_total counts what Guard refuses (400 foreign Host, 401 no token,
    403 cross-site) with its status, as it counts what the routes answer."""
    settings = make_settings(tmp_path / "runs", tiny_dataset, token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/models").status_code == 401
        assert c.get("/api/models").status_code == 401
        assert c.get("/api/models", headers={"Host": "evil.example", **bearer}).status_code == 400
        cross = c.post("/api/runs", json={}, headers={"Origin": "https://evil.example", **bearer})
        assert cross.status_code == 403
        assert c.get("/api/models", headers=bearer).status_code == 200
        text = c.get("/metrics", headers=bearer).text
    counted = {
        (m["method"], m["route"], m["status"]): float(value)
        for labels, value in re.findall(r"^glassnet_http_requests_total\{(.*)\} (\S+)$", text, re.MULTILINE)
        for m in [dict(re.findall(r'(\w+)="([^"]*)"', labels))]
    }
    assert counted[("GET", "/api/models", "401")] == 2
    assert counted[("GET", "/api/models", "400")] == 1
    assert counted[("POST", "/api/runs", "403")] == 1
    assert counted[("GET", "/api/models", "200")] == 1
