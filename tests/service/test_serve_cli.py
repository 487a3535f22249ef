"""``glassnet serve`` itself: settings from the environment, the bind warning, and a predict
with the bundled model through a real server (curl-style)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_helpers import REPO, Server, free_port, wait_for

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.resources import resource_dir
from glassnet.service.app import check_served_files
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
        # The started app's objects were frozen out of the collector's walks (service/gctuning.py).
        frozen = re.search(r"garbage collector: (\d+) start-up objects frozen", server.log_tail(100_000))
        assert frozen and int(frozen.group(1)) > 10_000, server.log_tail()
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
    assert f"open http://127.0.0.1:{port}/?token={token}" in err  # the link that signs in
    # stdout's line points at it: the plain address opens nothing but a sign-in refusal
    assert f"ready at http://127.0.0.1:{port}/; open the token link above" in out


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
            # 1,000 epochs: still training after the second server's start and refusal (seconds),
            # however quick the machine's training is.
            body = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 10}
            rid = http.post("/api/runs", json=body).json()["id"]
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


# -- settings that would start a server without a dashboard, or one that is not ready ---------------
def _serve(tmp_path: Path, tiny_dataset: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "runs"), "--dataset", str(tiny_dataset)],
        capture_output=True, text=True, cwd=REPO, timeout=60, env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("GLASSNET_FRONTEND_DIR", "/nonexistent", "no index.html there"),
        ("GLASSNET_MODELS_DIR", "/nonexistent", "not a folder"),
        ("GLASSNET_DEFAULT_MODEL", "nope", "no such model (a bundled model: cnn, mlp, notes;"),
    ],
)
def test_a_setting_that_serves_nothing_is_one_line_and_exit_2(
    tmp_path: Path, tiny_dataset: Path, variable: str, value: str, says: str
) -> None:
    done = _serve(tmp_path, tiny_dataset, {variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no "open http://..."
    assert done.stderr == f"glassnet serve: error: {variable}={value!r}: {says}" + done.stderr.split(says)[1]
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything is made


def test_a_run_of_the_data_dir_may_be_the_default_model(tmp_path: Path, tiny_dataset: Path) -> None:
    """The start check finds a run's weights by its id, as the running server does."""
    (tmp_path / "runs" / "abc123").mkdir(parents=True)
    shutil.copy(resource_dir("models") / "mlp.npz", tmp_path / "runs" / "abc123" / "last.npz")
    check_served_files(Settings(data_dir=tmp_path / "runs", default_model="abc123"))
    with pytest.raises(ValueError, match="GLASSNET_DEFAULT_MODEL='abc124': no such model"):
        check_served_files(Settings(data_dir=tmp_path / "runs", default_model="abc124"))


@pytest.mark.slow
def test_a_data_dir_the_terminal_cannot_spell_still_serves(tmp_path: Path, tiny_dataset: Path) -> None:
    """PYTHONIOENCODING=ascii and a data dir named 数据: the status line is written with backslash
    escapes, and the server starts (it stopped with an UnicodeEncodeError before)."""
    data_dir = tmp_path / "数据"
    port = free_port()
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    server = subprocess.Popen(
        [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--dataset", str(tiny_dataset)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: _ready(port) or server.poll() is not None, timeout=60, what="the server")
        assert server.poll() is None, server.communicate()[1].decode()
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert f"open http://127.0.0.1:{port}/ (runs in {tmp_path}/\\u6570\\u636e)" in out.decode("ascii")
    assert b"glassnet serve: error" not in err and b"Traceback" not in err, err.decode()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
