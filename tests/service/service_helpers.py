"""Helpers for the service tests: a tiny IDX dataset, settings over temporary folders, waiting,
and a real ``glassnet serve`` in a subprocess.

Training in these tests uses a 600/200-image slice of the bundled MNIST and small networks, so
a run takes a second or two on two cores.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from glassnet.data.mnist import write_subset
from glassnet.service.chaos import wait
from glassnet.service.devserver import ServeProcess, free_port
from glassnet.service.protocol import EVENT_MODELS, PROTOCOL_VERSION, Envelope
from glassnet.service.settings import Settings
from specs import TINY_MLP  # noqa: F401  (re-exported: the service tests take it from here)

REPO = Path(__file__).resolve().parents[2]

# A small CNN (and the small MLP of specs.py): fast enough to train many steps in a test.
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


def make_dataset(folder: Path, n_train: int = 600, n_test: int = 200) -> Path:
    """The first images of the bundled MNIST, written back as uncompressed IDX files."""
    return write_subset(folder, n_train, n_test)


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
        "max_active_runs": 1,  # one run at a time unless a test says otherwise (the default: cores)
        "allowed_hosts": ["testserver"],  # the Host TestClient sends
    }
    values.update(overrides)
    return Settings(**values)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """chaos.wait, failing the test with what it waited for when the time runs out."""
    value = wait(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
    return value


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


# -- WebSocket frames ----------------------------------------------------------------------------
def decode(encoded: dict[str, Any]) -> np.ndarray:
    """The uint8 bytes of an encoded array, in its shape."""
    data = np.frombuffer(base64.b64decode(encoded["data"]), dtype=np.uint8)
    assert data.size == int(np.prod(encoded["shape"]))
    return data.reshape(encoded["shape"])


def strict_json(text: str) -> dict[str, Any]:
    """Parse a frame, failing on NaN/Infinity (which are not JSON)."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a frame")

    return json.loads(text, parse_constant=refuse)


def receive(ws: Any) -> dict[str, Any]:
    """The next frame from a TestClient WebSocket, checked against the protocol's envelope and its
    event's model."""
    message = strict_json(ws.receive_text())
    env = Envelope.model_validate(message)
    assert env.v == PROTOCOL_VERSION
    EVENT_MODELS[env.type].model_validate(message["data"])  # every frame matches its model
    return message


def receive_until(ws: Any, wanted: str, limit: int = 2000) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted} frame")


# -- a real server -------------------------------------------------------------------------------
class Server(ServeProcess):
    """``glassnet serve`` in a subprocess on a free port, started at once, with fast stream rates."""

    def __init__(
        self, data_dir: Path, dataset: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        port = free_port()
        fast = {
            "GLASSNET_VALIDATION": "100",
            "GLASSNET_METRICS_INTERVAL_S": "0.05",
            "GLASSNET_HEAVY_INTERVAL_S": "0.2",
            "GLASSNET_LIVE_CHECKPOINT_S": "0.2",
            "GLASSNET_MAX_ACTIVE_RUNS": "1",  # one run at a time unless a test says otherwise
        }
        super().__init__(
            data_dir,
            dataset,
            {**fast, **(env or {})},
            port,
            data_dir.parent / f"server-{port}.log",
            cwd=REPO,
            args=args,
        )
        self.start(timeout=30)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


def stalled_viewer(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up quickly
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return sock


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (mount's ``size=``, e.g. ``64m``) at ``mount``, unmounted after; the test
    is skipped where mounting needs a root this process is not."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
