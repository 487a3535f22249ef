"""The local executor (the default): one spawned process per run on this machine.

Why a process: with NumPy holding the GIL between BLAS calls, a training thread would starve the
event loop; a separate process trains at full speed while the loop answers requests. The
``spawn`` context gives the child a clean interpreter (no inherited threads or sockets). Messages
are plain dicts both ways over two one-way pipes, as JSON bytes (:class:`.messages.JsonPipe`:
``send_bytes``/``recv_bytes``, never the pipes' pickling ``send``/``recv``), and the job goes to
the child as JSON text; everything a browser gets is re-validated by :mod:`..protocol` models.
What multiprocessing itself still pickles at spawn is its own bootstrap (the target's name and
the pipe ends' handles), none of it data. A reader thread per run turns the child's messages
into calls on the event loop.

Concurrency: ``max_active_runs`` (default: one run per core). A run that starts alone trains on
every core; one that starts while others train gets ``cores // runs`` training threads (at least
one), so they do not oversubscribe the cores.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from multiprocessing.connection import Connection
from typing import Any

from ..session import session_main
from ..settings import Settings
from .base import Executor, OnMessage, RunEndedError, RunHandle
from .messages import JsonPipe

log = logging.getLogger("glassnet.executor.local")

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
TRAIN_THREADS_VAR = "GLASSNET_TRAIN_THREADS"  # training/step.py reads it
# Idle OpenBLAS threads sleep after a short spin instead of a long one: with a server on the same
# two cores, two BLAS threads then beat one (bench/service_speed.py). The glassnet command sets the
# same default for headless training (cli.py).
BLAS_THREAD_TIMEOUT = ("OPENBLAS_THREAD_TIMEOUT", "4")


def cores() -> int:
    """Cores this process may run on (affinity / cgroup), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_list(text: str) -> list[int]:
    """``"1-3,6"`` -> [1, 2, 3, 6] (Linux's CPU list notation)."""
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return sorted(out)


def local_session_main(job_json: str, events: Connection, commands: Connection) -> None:
    """A run's process: the job from JSON, both pipe ends carrying JSON bytes (:class:`JsonPipe`)."""
    session_main(json.loads(job_json), JsonPipe(events), JsonPipe(commands))  # type: ignore[arg-type]


class LocalRun(RunHandle):
    """A spawned process training one run."""

    def __init__(self, run_id: str, job: dict[str, Any], env: dict[str, str]) -> None:
        super().__init__(run_id, job)
        self.env = env  # set in the child's environment (it reads BLAS threads when importing NumPy)
        self.process: Any = None

    def start(self, on_message: OnMessage) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        events_r, events_w = ctx.Pipe(duplex=False)
        commands_r, commands_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=local_session_main,
            args=(json.dumps(self.job), events_w, commands_r),
            name=f"glassnet-run-{self.run_id}",
            daemon=True,
        )
        saved = {k: os.environ.get(k) for k in (*self.env, BLAS_THREAD_TIMEOUT[0])}
        try:
            os.environ.update(self.env)
            os.environ.setdefault(*BLAS_THREAD_TIMEOUT)
            self.process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.where = f"pid {self.process.pid}"
        # Close our copies of the child's ends: EOF then means the child is gone.
        events_w.close()
        commands_r.close()
        self.events, self.commands = JsonPipe(events_r), JsonPipe(commands_w)
        loop = asyncio.get_running_loop()

        def read() -> None:
            while True:
                try:
                    message = self.events.recv()
                except (EOFError, OSError):
                    break
                except ValueError as exc:  # not JSON: a bug in the child; skip it, keep reading
                    log.error("run %s: %s", self.run_id, exc)
                    continue
                loop.call_soon_threadsafe(on_message, self, message)
            loop.call_soon_threadsafe(on_message, self, {"kind": "exit"})

        threading.Thread(target=read, name=f"glassnet-reader-{self.run_id}", daemon=True).start()

    def _send(self, message: dict[str, Any]) -> None:
        if self.process is None:
            raise RunEndedError("the run's process never started")
        self.commands.send(message)

    def _kill(self) -> None:
        if self.process is not None and self.process.pid is not None:
            self.process.kill()

    async def _join(self, timeout: float) -> bool:
        if self.process is None or self.process.pid is None:  # never started
            return True
        await asyncio.to_thread(self.process.join, timeout)
        return not self.process.is_alive()

    def death_reason(self) -> str | None:
        code = None if self.process is None else self.process.exitcode
        if code is None:
            return None  # the pipe closes a moment before the process is reaped
        return f"was killed by signal {-code}" if code < 0 else f"exited (code {code})"


class LocalExecutor(Executor):
    """Runs in spawned processes on this machine, ``max_active_runs`` at once (default: cores)."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Training may be kept off some CPUs (train_cpus), which then serve the viewers alone.
        self.cpus = cpu_list(settings.train_cpus) if settings.train_cpus else None
        self.n_cpus = len(self.cpus) if self.cpus else cores()
        self.slots = settings.max_active_runs or self.n_cpus

    def capacity(self) -> int:
        return self.slots

    def handle(self, run_id: str, job: dict[str, Any], active: int = 1) -> LocalRun:
        """A lone run trains on every core, as before; runs that start while others train get
        their share of the cores (at least one thread each), BLAS on one thread inside it."""
        env: dict[str, str] = {}
        blas = self.settings.worker_blas_threads
        if active > 1 or self.cpus:
            env[TRAIN_THREADS_VAR] = str(max(1, self.n_cpus // active))
            blas = blas or 1
        if blas:
            env.update({k: str(blas) for k in BLAS_VARS})
        if self.cpus:
            job = {**job, "cpus": self.cpus}  # the session moves itself there (session_main)
        return LocalRun(run_id, job, env)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cores": cores(), "train_cpus": self.cpus}
