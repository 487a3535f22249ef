"""Helpers shared by the service benchmarks: a subset of MNIST as IDX files, ``glassnet serve``
in a subprocess, a headless ``glassnet train`` for comparison, and a light raw WebSocket reader.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from glassnet.data.mnist import write_subset
from glassnet.service.devserver import ServeProcess
from glassnet.service.runstate import LIVE_STATUSES

REPO = Path(__file__).resolve().parents[1]


def make_subset(folder: Path, n_train: int, n_test: int = 10_000) -> Path:
    """The first ``n_train`` training and ``n_test`` test images of the bundled MNIST, as IDX."""
    return write_subset(folder, n_train, n_test)


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


class ServerProcess(ServeProcess):
    """``glassnet serve`` on a free port with the given dataset and environment, ready when
    ``/readyz`` says so."""

    def __init__(self, data_dir: Path, dataset: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(
            data_dir, dataset, env, ready_path="/readyz", cwd=REPO, args=["--log-level", "warning"]
        )
        self.start()

    def rss_mib(self) -> float:
        """Resident memory of the server and its training processes, MiB."""
        total = 0
        for pid in [self.proc.pid, *self.child_pids()]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> dict[str, float]:
        """User+system CPU seconds so far: the main process and each live training process."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        pids = {"main": self.proc.pid, **{f"child {p}": p for p in self.child_pids()}}
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


def wait_run(http: httpx.Client, run_id: str, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/api/runs/{run_id}").json()
        if run["status"] not in LIVE_STATUSES:
            return run
        time.sleep(0.2)
    raise RuntimeError("the run did not finish")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
