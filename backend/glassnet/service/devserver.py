"""``glassnet serve`` in a child process on a loopback port: the one way the tests, the end-to-end
tests and the benchmarks run a real server. Standard library only (no test dependencies)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """A real ``glassnet serve`` (uvicorn, exactly as ``make run`` starts it).

    ``start()`` spawns it and waits until ``ready_path`` answers 200; ``stop(sig)`` signals it and
    waits, and ``start()`` may be called again (same port, same data) to model a restart.
    ``env`` adds ``GLASSNET_*`` settings, ``args`` more ``serve`` options; output goes to ``log``
    (a file) or is inherited.
    """

    def __init__(
        self,
        data_dir: Path,
        dataset: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        log: Path | None = None,
        ready_path: str = "/healthz",
        cwd: Path | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data_dir, self.dataset, self.env, self.log = data_dir, dataset, env or {}, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.ready_path = ready_path
        self.cwd = cwd
        self.args = args or []
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        if self.dataset is not None:
            cmd += ["--dataset", str(self.dataset)]
        return cmd + self.args

    def start(self, timeout: float = 60.0) -> ServeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out: IO[bytes] | None = self.log.open("ab") if self.log else None
        self.proc = subprocess.Popen(
            self.command(),
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"glassnet serve exited with {self.proc.returncode}: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + self.ready_path, timeout=1) as r,
            ):
                if r.status == 200:
                    return self
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"glassnet serve was not ready in {timeout:.0f} s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> float:
        """Send ``sig`` and wait for the exit (SIGKILL after ``timeout``); seconds it took."""
        started = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started

    def child_pids(self) -> list[int]:
        """The server's child processes (its training processes), from Linux's /proc."""
        found: list[int] = []
        if self.proc is None:
            return found
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    found += [int(p) for p in (task / "children").read_text().split()]
        return found

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log and self.log.exists() else ""
