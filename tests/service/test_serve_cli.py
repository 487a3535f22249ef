"""``glassnet serve`` itself: settings from the environment, the bind warning, and a predict
with the bundled model through a real server (curl-style)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_helpers import REPO, Server, free_port, wait_for

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.service.security import outward_addresses
from glassnet.service.settings import Settings, get_settings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GLASSNET_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GLASSNET_MAX_ACTIVE_RUNS", "2")
    monkeypatch.setenv("GLASSNET_METRICS_INTERVAL_S", "0.25")
    s = Settings()
    assert s.data_dir == tmp_path / "elsewhere" and s.max_active_runs == 2 and s.metrics_interval_s == 0.25
    assert s.host == "127.0.0.1" and s.database_path == tmp_path / "elsewhere" / "runs.sqlite3"
    get_settings.cache_clear()
    assert get_settings().max_active_runs == 2
    get_settings.cache_clear()
    monkeypatch.setenv("GLASSNET_MAX_ACTIVE_RUNS", "0")
    with pytest.raises(ValueError, match="max_active_runs"):
        Settings()


@pytest.mark.slow
def test_predict_through_a_real_server_with_the_bundled_model(tmp_path: Path, tiny_dataset: Path) -> None:
    images = read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[:5]
    labels = read_idx(DEFAULT_DATASET_DIR / "t10k-labels-idx1-ubyte.gz")[:5]
    server = Server(tmp_path / "runs", tiny_dataset)
    try:
        assert httpx.get(server.url + "/readyz").json()["default_model"] == "cnn"
        for image, label in zip(images, labels, strict=True):
            pixels = (image.astype(np.float64) / 255).round(4).ravel().tolist()
            r = httpx.post(server.url + "/api/predict", json={"pixels": pixels}, timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["digit"] == label
        r = httpx.post(
            server.url + "/api/predict", content=b"{", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
    finally:
        server.stop()
    assert (tmp_path / "runs" / "runs.sqlite3").is_file()  # created on first start


@pytest.mark.slow
def test_binding_beyond_localhost_prints_and_requires_a_token(tmp_path: Path, tiny_dataset: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet.cli", "serve", "--host", "0.0.0.0", "--port", str(port),
         "--data-dir", str(tmp_path / "runs"), "--dataset", str(tiny_dataset)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{port}/healthz"), 30, 0.1, "the server")
        assert httpx.get(f"http://127.0.0.1:{port}/api/runs").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert "binding 0.0.0.0: every request needs the token (generated now and kept in " in err
    token = err.split("?token=")[1].split()[0]
    assert len(token) >= 24
    assert f"open http://127.0.0.1:{port}/" in out


@pytest.mark.slow
def test_bound_to_all_addresses_the_printed_links_open_and_an_address_host_is_served(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """QA3 inst #1: ``--host 0.0.0.0`` printed http://0.0.0.0:PORT/ links, and the machine's own
    LAN address was refused with 400 "Host not served here". An IP literal cannot be rebound: it
    is served; a foreign *name* still is not."""
    server = Server(tmp_path / "runs", tiny_dataset, args=["--host", "0.0.0.0", "--join-code", "maths-7b"])
    try:
        printed = server.log_tail(100_000)
        token = printed.split("?token=")[1].split()[0]
        auth = {"authorization": f"Bearer {token}"}
        links = re.findall(r"http://[^\s/]+:\d+/", printed)
        assert links and not [link for link in links if "0.0.0.0" in link], printed
        assert f"open http://127.0.0.1:{server.port}/" in printed
        lan = outward_addresses()
        assert all(f"http://{a}:{server.port}/" in printed for a in lan), printed
        others = ["192.0.2.77", "[fd00::2]"]  # any address literal, IPv6 in brackets
        hosts = [f"{a}:{server.port}" for a in [*lan, *others]]
        with server.http() as http:
            for host in hosts:
                r = http.get("/api/runs", headers={**auth, "host": host})
                assert r.status_code == 200, (host, r.text)
            for name in ("evil.example", f"evil.example:{server.port}"):  # a name could be rebound
                assert http.get("/api/runs", headers={**auth, "host": name}).status_code == 400
            assert http.get("/api/runs", headers={"host": hosts[0]}).status_code == 401  # still the token
    finally:
        server.stop()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow  # starts a real server
def test_a_second_server_on_the_same_data_dir_names_the_holder_and_exits_2(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    from service_helpers import TINY_MLP, Server

    first = Server(tmp_path / "runs", tiny_dataset)
    try:
        with first.http() as http:
            rid = http.post("/api/runs", json={"spec": TINY_MLP, "epochs": 300, "batch_size": 10}).json()[
                "id"
            ]
            second = subprocess.run(
                [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(free_port()),
                 "--data-dir", str(tmp_path / "runs"), "--dataset", str(tiny_dataset)],
                capture_output=True, text=True, cwd=REPO, timeout=60,
            )  # fmt: skip
            assert second.returncode == 2
            assert f"in use by another glassnet serve (process {first.proc.pid})" in second.stderr
            assert http.get(f"/api/runs/{rid}").json()["status"] == "running"  # untouched
            http.post(f"/api/runs/{rid}/stop")
    finally:
        first.stop()
