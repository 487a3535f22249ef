"""The check that would have caught a wheel without its files: build the wheel (through the sdist,
as a release is built), install it into a fresh venv outside the checkout, and use it from another
folder — the dashboard loads in Chromium, the bundled cnn reads ten MNIST test digits right, and a
one-epoch mlp run on the bundled MNIST finishes through the API. pipx installs the same wheel and
serves the same app. Nothing here imports glassnet from the checkout into the server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.service.devserver import ServeProcess

from .conftest import ROOT, open_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: nothing of the test run's venv or GLASSNET_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSNET_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


class InstalledServer(ServeProcess):
    """``glassnet serve`` as the installed console script, run from ``cwd`` (not the checkout)."""

    def __init__(self, script: Path, cwd: Path) -> None:
        super().__init__(cwd / "runs", log=cwd / "serve.log", cwd=cwd, ready_path="/readyz")
        self.script = script

    def command(self) -> list[str]:
        return [str(self.script), "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]

    def start(self, timeout: float = 60.0) -> InstalledServer:  # a user's environment, not ours
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(_clean_env())
        try:
            super().start(timeout)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return self


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=dist)
    (found,) = dist.glob("glassnet-*.whl")
    return found


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout to run the installed command from."""
    folder = tmp_path_factory.mktemp("elsewhere")
    assert ROOT not in folder.resolve().parents
    return folder


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with the wheel installed; its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=venv, env=_clean_env())
    return venv / "bin"


@pytest.fixture(scope="module")
def server(installed: Path, elsewhere: Path) -> Iterator[InstalledServer]:
    srv = InstalledServer(installed / "glassnet", elsewhere).start()
    try:
        yield srv
    finally:
        srv.stop()


def _resource(python: Path, cwd: Path) -> Path:
    """Where an installed glassnet finds the bundled MNIST (asked with that install's Python)."""
    code = "from glassnet.resources import resource_dir; print(resource_dir('mnist'))"
    return Path(_run([str(python), "-c", code], cwd, _clean_env()).strip()).resolve()


def test_the_wheel_holds_the_dashboard_models_and_mnist(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "glassnet/_resources/frontend/index.html",
        "glassnet/_resources/frontend/js/main.js",
        "glassnet/_resources/models/cnn.npz",
        "glassnet/_resources/mnist/train-images-idx3-ubyte.gz",
        "glassnet/_resources/mnist/README.md",  # the attribution travels with the data
        "glassnet/presets/cnn.json",
    ):
        assert needed in names, needed
    assert not any("frontend/test" in n for n in names)
    # Every file the dashboard is made of (a file type the package data leaves out would be a 404
    # only for the installed app).
    frontend = ROOT / "frontend"
    shipped = {
        p.relative_to(frontend).as_posix()
        for p in frontend.rglob("*")
        if p.is_file() and p.relative_to(frontend).parts[0] != "test"
    }
    missing = sorted(f for f in shipped if f"glassnet/_resources/frontend/{f}" not in names)
    assert missing == [], missing


def test_command_and_module_run_from_another_folder(installed: Path, elsewhere: Path) -> None:
    from glassnet import __version__

    assert _run([str(installed / "glassnet"), "--version"], elsewhere, _clean_env()).strip() == (
        f"glassnet {__version__}"
    )
    helptext = _run([str(installed / "python"), "-m", "glassnet", "--help"], elsewhere, _clean_env())
    assert "serve" in helptext and "train" in helptext and "export" in helptext


def test_installed_server_serves_the_full_app(server: InstalledServer, installed: Path, browser) -> None:
    ready = _get(server.url + "/readyz")
    venv = installed.parent.resolve()
    # The dataset is the wheel's own copy, not the checkout's (/readyz names no absolute path).
    assert ready["ready"] and ready["dataset"] == "bundled MNIST", ready
    assert _resource(installed / "python", server.cwd).is_relative_to(venv)
    assert {m["id"] for m in _get(server.url + "/api/models")["models"]} >= {"cnn", "mlp", "notes"}

    page, errors = open_page(browser, server.url + "/")
    assert page.locator('[data-testid="bars"] .bar').count() == 10
    assert page.get_attribute('[data-testid="download-onnx"]', "href") == "/api/models/cnn/onnx"
    errors.check()
    page.close()
    # The core install has no onnx package: the download says what to install instead of failing.
    try:
        urllib.request.urlopen(server.url + "/api/models/cnn/onnx", timeout=10)
        raise AssertionError("the ONNX export answered without the onnx package")
    except urllib.error.HTTPError as exc:
        assert exc.code == 501 and "pipx inject glassnet onnx" in json.loads(exc.read())["detail"]

    images = read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[:10]
    labels = read_idx(DEFAULT_DATASET_DIR / "t10k-labels-idx1-ubyte.gz")[:10].tolist()
    read = [_post(server.url + "/api/predict", {"pixels": (im / 255.0).tolist()})["digit"] for im in images]
    assert read == labels
    print(f"installed wheel from {server.cwd}: ten test digits read {read} (labels {labels})")
    # The second process for predictions (started by the first one where there are 2+ cores, as
    # GLASSNET_PREDICT_PROCESS=auto says) runs the installed code too.
    if (os.cpu_count() or 1) > 1:
        deadline = time.monotonic() + 60
        while True:
            found = re.search(
                r'predict_lane_total\{how="process"\} ([0-9.e+]+)', _text(server.url + "/metrics")
            )
            assert found is not None, "no glassnet_predict_lane_total in /metrics"
            if float(found.group(1)) > 0:
                break
            assert time.monotonic() < deadline, "the second process never answered a prediction"
            assert _post(server.url + "/api/predict", {"pixels": (images[0] / 255.0).tolist()})["digit"] == 7
            time.sleep(0.2)

    run = _post(server.url + "/api/runs", {"preset": "mlp", "epochs": 1})
    deadline = time.monotonic() + 180
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"the mlp run did not finish in 180 s: {run}"
        time.sleep(0.5)
        run = _get(f"{server.url}/api/runs/{run['id']}")
    assert run["status"] == "finished" and run["epoch"] == 1, run
    assert run["val_accuracy"] > 0.9, run
    print(f"one-epoch mlp run {run['id']}: {run['status']}, val accuracy {run['val_accuracy']:.4f}")
    assert (server.data_dir / run["id"] / "last.npz").is_file()


def test_pipx_installs_the_same_app(wheel: Path, elsewhere: Path, tmp_path: Path) -> None:
    env = {**_clean_env(), "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    pipx = Path(sys.executable).parent / "pipx"
    _run([str(pipx), "install", "--python", sys.executable, str(wheel)], elsewhere, env)
    script = tmp_path / "bin" / "glassnet"
    srv = InstalledServer(script, tmp_path).start()
    try:
        ready = _get(srv.url + "/readyz")
        assert ready["ready"] and ready["dataset"] == "bundled MNIST", ready
        python = next((tmp_path / "pipx" / "venvs" / "glassnet" / "bin").glob("python*"))
        assert _resource(python, tmp_path).is_relative_to(tmp_path / "pipx")
        with urllib.request.urlopen(srv.url + "/", timeout=10) as r:
            assert b"<canvas" in r.read()
    finally:
        srv.stop()
