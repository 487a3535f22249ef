"""One run's training process, seen from the service: spawning it (a clean ``spawn`` interpreter
with the BLAS thread settings in its environment), the two one-way pipes, the reader thread that
turns the child's messages into calls on the event loop, commands with acknowledgements, and
waiting for the process to exit. Scheduling and the run's state live in :mod:`.worker`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from typing import Any

from .session import session_main

log = logging.getLogger("glassnet.worker")

_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Idle OpenBLAS threads sleep after a short spin instead of a long one: with a server on the same
# two cores, two BLAS threads then beat one (bench/service_speed.py). The glassnet command sets the
# same default for headless training (cli.py).
BLAS_THREAD_TIMEOUT = ("OPENBLAS_THREAD_TIMEOUT", "4")


class RunConflictError(Exception):
    """The run is not in a state that allows this (-> 409)."""


class RunWorker:
    """The process training one run, seen from the service."""

    def __init__(self, run_id: str, job: dict[str, Any], blas_threads: int | None) -> None:
        self.run_id = run_id
        self.job = job
        self.blas_threads = blas_threads
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ended = False
        self.exited = asyncio.Event()

    def start(self, on_message: Callable[[RunWorker, dict[str, Any]], None]) -> None:
        ctx = mp.get_context("spawn")
        events_r, events_w = ctx.Pipe(duplex=False)
        commands_r, commands_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=session_main,
            args=(self.job, events_w, commands_r),
            name=f"glassnet-run-{self.run_id}",
            daemon=True,
        )
        # The child reads its BLAS thread count from the environment when it imports NumPy.
        saved = {k: os.environ.get(k) for k in (*_BLAS_VARS, BLAS_THREAD_TIMEOUT[0])}
        try:
            if self.blas_threads:
                for k in _BLAS_VARS:
                    os.environ[k] = str(self.blas_threads)
            os.environ.setdefault(*BLAS_THREAD_TIMEOUT)
            self.process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        # Close our copies of the child's ends: EOF then means the child is gone.
        events_w.close()
        commands_r.close()
        self.events, self.commands = events_r, commands_w
        loop = asyncio.get_running_loop()

        def read() -> None:
            while True:
                try:
                    message = self.events.recv()
                except (EOFError, OSError):
                    break
                loop.call_soon_threadsafe(on_message, self, message)
            loop.call_soon_threadsafe(on_message, self, {"kind": "exit"})

        threading.Thread(target=read, name=f"glassnet-reader-{self.run_id}", daemon=True).start()

    async def command(self, cmd: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its acknowledgement (the child answers between batches)."""
        if self.ended:
            raise RunConflictError("the run's process has ended")
        command_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        try:
            self.commands.send({"cmd": cmd, "id": command_id, **fields})
            return await asyncio.wait_for(future, timeout)
        except (BrokenPipeError, OSError) as exc:
            raise RunConflictError("the run's process has ended") from exc
        finally:
            self.pending.pop(command_id, None)

    def acknowledge(self, message: dict[str, Any]) -> None:
        future = self.pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(message)

    def release_waiters(self, status: str) -> None:
        """The run ended: commands in flight are answered with the final state."""
        for future in self.pending.values():
            if not future.done():
                future.set_result({"kind": "ack", "ok": True, "ended": status})

    async def wait_exit(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.exited.wait(), timeout)
        if self.process.pid is None:  # never started
            return
        await asyncio.to_thread(self.process.join, 0.5)
        if self.process.is_alive():
            log.warning("run %s: the training process did not exit; killing it", self.run_id)
            self.process.kill()
            await asyncio.to_thread(self.process.join, 2.0)
