"""Helpers shared by the service benchmarks: a subset of MNIST as IDX files, ``glassnet serve``
in a subprocess, a headless ``glassnet train`` for comparison, and a light raw WebSocket reader.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from glassnet.data.mnist import DEFAULT_DATASET_DIR, FILE_STEMS, read_idx

REPO = Path(__file__).resolve().parents[1]


def make_subset(folder: Path, n_train: int, n_test: int = 10_000) -> Path:
    """The first ``n_train`` training and ``n_test`` test images of the bundled MNIST, as IDX."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"train_images": n_train, "train_labels": n_train, "test_images": n_test, "test_labels": n_test}
    for key, stem in FILE_STEMS.items():
        array = read_idx(DEFAULT_DATASET_DIR / f"{stem}.gz")[: sizes[key]]
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        (folder / stem).write_bytes(header + np.ascontiguousarray(array).tobytes())
    return folder


def headless_epoch_seconds(
    dataset: Path, validation: int, preset: str, out: Path, blas_threads: int | None = None
) -> float:
    """``glassnet train`` for one epoch; its own "epoch 1 done in X s" figure. ``blas_threads``:
    pin OpenBLAS to that many threads (None: the library's default, one per core)."""
    env = dict(os.environ)
    if blas_threads:
        env.update(OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(blas_threads))
    cmd = [
        sys.executable,
        "-m",
        "glassnet.cli",
        "train",
        "--preset",
        preset,
        "--epochs",
        "1",
        "--dataset",
        str(dataset),
        "--validation",
        str(validation),
        "--out",
        str(out),
    ]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, env=env).stdout
    match = re.search(r"epoch 1 done in ([0-9.]+)s", text)
    if not match:
        raise RuntimeError(f"cannot read the epoch time from:\n{text}")
    return float(match.group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``glassnet serve`` on a free port with the given dataset and environment."""

    def __init__(self, data_dir: Path, dataset: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
                "--log-level",
                "warning",
            ],
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become ready")

    def rss_mib(self) -> float:
        """Resident memory of the server and its training processes, MiB."""
        total = 0
        pids = [self.proc.pid]
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                pids += [int(p) for p in (task / "children").read_text().split()]
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> dict[str, float]:
        """User+system CPU seconds so far: the main process and each live training process."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        pids = {"main": self.proc.pid}
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                for p in (task / "children").read_text().split():
                    pids[f"child {p}"] = int(p)
        for name, pid in pids.items():
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[name] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def main_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_run(http: httpx.Client, run_id: str, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/api/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.2)
    raise RuntimeError("the run did not finish")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
