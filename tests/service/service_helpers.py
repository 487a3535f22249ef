"""Helpers for the service tests: a tiny IDX dataset, settings over temporary folders, waiting,
and a real ``glassnet serve`` in a subprocess.

Training in these tests uses a 600/200-image slice of the bundled MNIST and small networks, so
a run takes a second or two on two cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from glassnet.data.mnist import DEFAULT_DATASET_DIR, FILE_STEMS, read_idx
from glassnet.service.settings import Settings

REPO = Path(__file__).resolve().parents[2]

# A small MLP and a small CNN: fast enough to train many steps in a test.
TINY_MLP = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 16},
        {"type": "relu"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}
TINY_CNN = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 4},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def make_dataset(folder: Path, n_train: int = 600, n_test: int = 200) -> Path:
    """The first images of the bundled MNIST, written back as uncompressed IDX files."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"train_images": n_train, "train_labels": n_train, "test_images": n_test, "test_labels": n_test}
    for key, stem in FILE_STEMS.items():
        source = DEFAULT_DATASET_DIR / f"{stem}.gz"
        write_idx(folder / stem, read_idx(source)[: sizes[key]])
    return folder


def make_settings(data_dir: Path, dataset: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "dataset": dataset,
        "validation": 100,
        "metrics_interval_s": 0.05,
        "heavy_interval_s": 0.2,
        "live_checkpoint_s": 0.2,
        "viewer_send_timeout_s": 3.0,
        "command_timeout_s": 20.0,
    }
    values.update(overrides)
    return Settings(**values)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")


def wait_status(client: Any, run_id: str, statuses: set[str] | str, timeout: float = 60.0) -> dict[str, Any]:
    wanted = {statuses} if isinstance(statuses, str) else statuses
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        last.update(client.get(f"/api/runs/{run_id}").json())
        return dict(last) if last["status"] in wanted else None

    try:
        return wait_for(check, timeout, 0.05, f"run {run_id} to become {wanted}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the run: {last}") from None


# -- a real server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``glassnet serve`` in a subprocess on a free port."""

    def __init__(self, data_dir: Path, dataset: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log = data_dir.parent / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "GLASSNET_VALIDATION": "100",
            "GLASSNET_METRICS_INTERVAL_S": "0.05",
            "GLASSNET_HEAVY_INTERVAL_S": "0.2",
            "GLASSNET_LIVE_CHECKPOINT_S": "0.2",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "glassnet.cli",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--dataset",
                str(dataset),
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
        )
        wait_for(self._up, 30.0, 0.1, "the server to start")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200
        return False

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> float:
        """Send ``sig``; returns seconds until exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started


def stalled_viewer(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up quickly
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return sock


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False
