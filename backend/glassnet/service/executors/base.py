"""The executor interface: how the run manager (:mod:`..worker`) starts a run, sends it commands,
receives its events and stops it, whatever trains it.

A run's training code is always :class:`..session.TrainingSession`; an executor only decides
*where* it runs and how its two channels travel:

- **events** (session → service): plain dicts (``started``, ``metrics``, ``heavy``, ``epoch``,
  ``checkpoint``, ``ack``, ``end`` …), delivered to ``on_message(handle, message)`` on the event
  loop, in order, then one ``{"kind": "exit"}`` when the run's process (or actor) is gone;
- **commands** (service → session): ``{"cmd", "id", ...}``; each is answered by an ``ack`` event
  carrying the same id (the session answers between mini-batches).

:class:`RunHandle` holds what is common (command ids, waiting for acknowledgements); a subclass
implements ``_start``, ``_send``, ``_kill``, ``_join`` and says why a run died (``death_reason``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

log = logging.getLogger("glassnet.executor")

OnMessage = Callable[["RunHandle", dict[str, Any]], None]


class ExecutorUnavailableError(Exception):
    """The executor cannot take a run now (e.g. the Ray cluster is unreachable): the run waits."""


class RunEndedError(Exception):
    """The run's process or actor has ended: it takes no more commands."""


class RunHandle(ABC):
    """One run's training process (or actor), seen from the service."""

    def __init__(self, run_id: str, job: dict[str, Any]) -> None:
        self.run_id = run_id
        self.job = job
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ended = False  # the manager has recorded the run's end
        self.exited = asyncio.Event()  # the process or actor is gone
        self.where = ""  # e.g. "pid 1234" or "Ray node 62dfcc13…": for logs and messages

    # -- implemented per executor ---------------------------------------------------------------
    @abstractmethod
    def start(self, on_message: OnMessage) -> None:
        """Start training; deliver every event with ``on_message`` on the running event loop.
        Raises :class:`ExecutorUnavailableError` when it cannot start now (the run waits)."""

    @abstractmethod
    def _send(self, message: dict[str, Any]) -> None:
        """Send one command (raise :class:`RunEndedError` or ``OSError`` when the run is gone)."""

    @abstractmethod
    def _kill(self) -> None:
        """End the process or actor at once (it did not exit when asked)."""

    @abstractmethod
    async def _join(self, timeout: float) -> bool:
        """Wait for the process or actor to be gone; whether it is."""

    @abstractmethod
    def death_reason(self) -> str | None:
        """Why it ended without a word (``"was killed by signal 9"``, ``"lost its Ray node"``);
        None while that is not known yet (the manager asks again shortly)."""

    # -- common ---------------------------------------------------------------------------------
    async def command(self, cmd: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its acknowledgement (the session answers between batches).
        Raises :class:`RunEndedError` when the run is gone, ``TimeoutError`` after ``timeout``."""
        if self.ended:
            raise RunEndedError("the run's process has ended")
        command_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        try:
            self._send({"cmd": cmd, "id": command_id, **fields})
            return await asyncio.wait_for(future, timeout)
        except OSError as exc:  # a broken pipe: the process is gone
            raise RunEndedError("the run's process has ended") from exc
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
        """Wait for the exit event, then for the process or actor; kill it if it lingers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.exited.wait(), timeout)
        if not await self._join(0.5):
            log.warning("run %s: the training process did not exit; killing it", self.run_id)
            self._kill()
            await self._join(2.0)


class Executor(ABC):
    """Makes run handles; knows how many runs it can train at once."""

    name = "executor"

    @abstractmethod
    def handle(self, run_id: str, job: dict[str, Any], active: int = 1) -> RunHandle:
        """A handle for one run (not started yet); ``active``: the runs that will be training
        with it, itself included."""

    @abstractmethod
    def capacity(self) -> int:
        """How many runs may train at once now (the scheduler starts at most this many)."""

    def problem(self) -> str | None:
        """Why it cannot take runs now (shown by /readyz and in queued runs' messages), or None."""
        return None

    async def open(self) -> None:
        """Connect (called once at start-up; must not raise: problems go to :meth:`problem`)."""
        return None

    async def close(self) -> None:
        """Disconnect (after every run has been stopped)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/executor`` shows: name, capacity, problem, and executor specifics."""
        return {"name": self.name, "capacity": self.capacity(), "problem": self.problem()}
