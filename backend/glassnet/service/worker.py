"""The run manager: schedules runs, relays their reports to the store and the hub, and forwards
commands — whatever trains them. Where a run trains is the executor's business
(:mod:`.executors`: a spawned process per run on this machine by default, or a Ray actor per run
on a cluster); the manager sees one :class:`.executors.RunHandle` per training run.

Scheduling: up to ``executor.capacity()`` runs train at once (``max_active_runs``; default one per
core, or the Ray cluster's CPUs). A run started while the slots are taken is **queued** (status
``queued``) in a fair queue (:mod:`.fairqueue`): first in, first out per owner, round-robin across
owners, so one person cannot fill it; a paused run keeps its slot. Up to ``max_queued_runs`` wait
(``max_queued_per_owner`` of one owner); one more is refused with 409, before anything is stored
(:meth:`RunManager.admit`). :meth:`RunManager.starts_in` estimates when each waiting run starts
(:mod:`.estimates`).
What each status allows is :mod:`.runstate`.

Every command that changes a run (pause, resume, step, stop, patch, delete) holds that run's
``asyncio.Lock``: two PATCHes at once are applied one after the other, none is lost.

Crashes: a training process (or actor) that ends without a word — the OOM killer, a SIGKILL, a
lost Ray node — leaves its run ``interrupted``; any run with a checkpoint can be resumed from it,
whatever ended it, on whichever node has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..nn.optim import check_hyperparameters, check_names
from .disk import disk_full
from .estimates import RunSpeeds
from .executors import Executor, ExecutorUnavailableError, RunHandle, make_executor
from .executors.base import RunEndedError
from .fairqueue import FairQueue
from .frames import ExactKernels
from .hub import Hub
from .locks import trash
from .protocol import (
    ActivationsData,
    DeletedData,
    EpochData,
    ErrorData,
    EventType,
    GradientsData,
    KernelsData,
    MetricsData,
    RunSummary,
    StatusData,
)
from .runlog import RunObserver
from .runstate import RunAction, RunStatus, allowed, refusal
from .settings import Settings
from .store import RunStore

log = logging.getLogger("glassnet.worker")

RUN_ID = re.compile(r"[0-9a-f]{1,64}")


def run_checkpoint(folder: Path, diverged: bool = False) -> Path | None:
    """The weights a run's folder answers predictions with: ``live.npz`` while it trains, else
    ``last.npz``; only ``last.npz`` for a diverged run (never weights written after it blew up)."""
    for name in ("last.npz",) if diverged else ("live.npz", "last.npz"):
        if (folder / name).is_file():
            return folder / name
    return None


RETRY_EXECUTOR_S = 5.0  # while the executor cannot take runs, the scheduler looks again this often


class RunConflictError(Exception):
    """The run is not in a state that allows this (-> 409)."""


class RunNotFoundError(LookupError):
    """No run with this id (-> 404)."""


def summary(run: dict[str, Any], position: int | None = None, starts_in: float | None = None) -> RunSummary:
    """A run as lists show it; ``position`` and ``starts_in`` (seconds) while it waits."""
    c = run["config"]
    return RunSummary(
        id=run["id"],
        name=run["name"],
        status=run["status"],
        preset=run["preset"],
        created=run["created"],
        updated=run["updated"],
        epoch=run["epoch"],
        epochs=c["epochs"],
        step=run["step"],
        total_steps=run["total_steps"],
        optimizer=c["optimizer"],
        lr=c["lr"],
        momentum=c.get("momentum"),
        beta1=c.get("beta1"),
        beta2=c.get("beta2"),
        weight_decay=c["weight_decay"],
        val_accuracy=run["val_accuracy"],
        message=run["message"],
        resumable=allowed(run["status"], RunAction.RESUME, run["checkpoint"] is not None),
        owner=run.get("owner"),
        queue_position=position,
        starts_in_s=None if starts_in is None else round(starts_in, 1),
    )


def check(run: dict[str, Any], action: RunAction, has_checkpoint: bool = True) -> None:
    """Raise :class:`RunConflictError` (409) when the state machine says no."""
    why = refusal(run["id"], run["status"], action, has_checkpoint)
    if why is not None:
        raise RunConflictError(why)


#: the message of a run stopped while it waited in the queue
STOPPED_QUEUED = "stopped before it started"


class RunManager:
    """Starts, queues, commands and watches runs; keeps the store and the viewers up to date."""

    def __init__(
        self,
        settings: Settings,
        store: RunStore,
        hub: Hub,
        executor: Executor | None = None,
        pinned: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.executor = executor or make_executor(settings)
        self.pinned = pinned  # the teacher's class run: viewers that follow stay on it
        self.workers: dict[str, RunHandle] = {}
        self.queue = FairQueue()
        self.exact_kernels = ExactKernels()  # the live frames' exact kernels, for the Enlarge dialog
        self.speeds = RunSpeeds()  # measured seconds per mini-batch: the waiting runs' starts
        self.retry: asyncio.TimerHandle | None = None
        self.shutting_down = False
        self.locks: dict[str, asyncio.Lock] = {}
        self.observer = RunObserver()  # logs and metrics of each run's lifecycle (runlog.py)

    def lock(self, run_id: str) -> asyncio.Lock:
        """The lock every state-changing command on ``run_id`` holds (one at a time per run)."""
        return self.locks.setdefault(run_id, asyncio.Lock())

    # -- helpers --------------------------------------------------------------------------------
    def get(self, run_id: str) -> dict[str, Any]:
        run = self.store.get(run_id)
        if run is None:
            raise RunNotFoundError(f"no run with id {run_id!r}")
        return run

    def run_dir(self, run_id: str) -> Path:
        return self.settings.data_dir / run_id

    def checkpoint_for(self, run_id: str) -> Path | None:
        """A bare run id's weights for predictions: the live file while it trains, else the last
        checkpoint (the registry reloads a file when its mtime changes). A diverged run answers
        with its last good checkpoint, never with weights written after it blew up."""
        if not RUN_ID.fullmatch(run_id):  # only ids this service makes: never a path
            return None
        run = self.store.get(run_id)
        return run_checkpoint(
            self.run_dir(run_id), diverged=run is not None and run["status"] == RunStatus.DIVERGED
        )

    def is_run(self, run_id: str) -> bool:
        """Whether an id names a run of this service (with or without weights yet)."""
        return bool(RUN_ID.fullmatch(run_id)) and self.store.get(run_id) is not None

    def current(self) -> str | None:
        """The run that trains now (the most recently started, when several do)."""
        return next(reversed(self.workers), None) if self.workers else None

    def summaries(self, runs: list[dict[str, Any]]) -> list[RunSummary]:
        """Runs as lists show them, waiting ones with their place in the queue and start estimate."""
        starts = self.starts_in() if any(r["id"] in self.queue for r in runs) else {}
        return [summary(r, self.queue.position(r["id"]), starts.get(r["id"])) for r in runs]

    def publish_status(self, run: dict[str, Any], everyone: bool = True) -> None:
        """A run's status for every viewer (a change of state), or only for the run's
        subscribers (progress: its latest epoch and step)."""
        data = StatusData(**self.summaries([run])[0].model_dump())
        self.hub.publish(EventType.STATUS, run["id"], data, everyone=everyone)

    def set_status(self, run_id: str, status: RunStatus, **fields: Any) -> dict[str, Any]:
        before = self.store.get(run_id)
        run = self.store.update(run_id, status=status, **fields)
        self.publish_status(run)
        self.observer.status(run, None if before is None else before["status"])
        return run

    # -- lifecycle ------------------------------------------------------------------------------
    def admit(self, owner: str | None) -> None:
        """Raise :class:`RunConflictError` when one more run of ``owner`` could neither start nor
        wait. Called before a run is stored, with no ``await`` until it is queued: a refusal
        changes nothing."""
        if len(self.workers) < self.executor.capacity() and not self.queue:
            return  # it starts at once
        s = self.settings
        if len(self.queue) >= s.max_queued_runs:
            raise RunConflictError(f"{len(self.queue)} runs are already waiting (the limit); stop one")
        if self.queue.count(owner or "") >= s.max_queued_per_owner:
            raise RunConflictError(
                f"{owner or 'this owner'} already has {s.max_queued_per_owner} runs waiting (the limit per "
                "person, GLASSNET_MAX_QUEUED_PER_OWNER); stop one or wait"
            )

    def enqueue(self, run_id: str) -> dict[str, Any]:
        owner = self.get(run_id).get("owner") or ""
        self.admit(owner)
        self.queue.append(run_id, owner)
        run = self.set_status(run_id, RunStatus.QUEUED)
        self.schedule()
        if run_id in self.queue:  # it waits for a slot
            self.observer.queued(run, self.queue.position(run_id))
        return self.store.get(run_id) or run

    def schedule(self) -> None:
        while not self.shutting_down and self.queue and len(self.workers) < self.executor.capacity():
            problem = self.executor.problem()
            if problem is not None:  # e.g. the Ray cluster is unreachable: the runs wait, said why
                self.wait_for_executor(problem)
                return
            if not self.launch(self.queue.popleft()):
                # The executor refused at the start although it named no problem (a Ray driver
                # between two connections): the run is back in the queue and a look again is
                # planned. Trying again here would spin on the event loop and stall the server.
                return

    def wait_for_executor(self, problem: str) -> None:
        """Tell the waiting runs why they wait, and look again in a few seconds."""
        text = f"waiting for the executor: {problem}"
        for run_id in self.queue.order():
            run = self.store.get(run_id)
            if run is not None and run["message"] != text:
                self.store.update(run_id, message=text)
                self.publish_status(self.store.get(run_id) or run)
        if self.retry is None or self.retry.cancelled():

            def again() -> None:
                self.retry = None
                self.schedule()

            self.retry = asyncio.get_running_loop().call_later(RETRY_EXECUTOR_S, again)

    def launch(self, run_id: str) -> bool:
        """Start a run on the executor; False when the executor refused it for now (the run
        waits in the queue again, and :meth:`schedule` looks again in ``RETRY_EXECUTOR_S``)."""
        run = self.get(run_id)
        s = self.settings
        job = {
            "run_id": run_id,
            "spec": run["spec"],
            "config": run["config"],
            "dataset": None if s.dataset is None else str(s.dataset),
            "validation": run["validation"],
            "transpose": s.transpose,
            "classes": s.classes,
            "run_dir": str(self.run_dir(run_id)),
            "resume": True,  # from last.npz when there is one
            "metrics_interval": s.metrics_interval_s,
            "heavy_interval": s.heavy_interval_s,
            "live_interval": s.live_checkpoint_s,
            "checkpoint_interval": s.checkpoint_interval_s,
            "tensorboard": None if s.tensorboard_dir is None else str(s.tensorboard_dir / run_id),
        }
        worker = self.executor.handle(run_id, job, active=len(self.workers) + 1)
        self.workers[run_id] = worker
        self.speeds.started(run_id, run.get("step") or 0)
        if self.pinned() is None:  # with a class run pinned, viewers that follow stay on it
            self.hub.follow(run_id)
        self.set_status(run_id, RunStatus.RUNNING, message=None)
        try:
            worker.start(self.on_message)
        except ExecutorUnavailableError as exc:  # it went away just now: wait again
            self.workers.pop(run_id, None)
            self.queue.putback(run_id, run.get("owner") or "")  # its place in the line, not the end
            self.set_status(run_id, RunStatus.QUEUED, message=f"waiting for the executor: {exc}")
            self.wait_for_executor(str(exc))
            return False
        except Exception as exc:  # could not even start a process (resources, permissions)
            log.exception("run %s: cannot start the training process", run_id)
            worker.exited.set()
            self.end(run_id, RunStatus.FAILED, f"cannot start the training process: {exc}")
        return True

    def on_message(self, worker: RunHandle, message: dict[str, Any]) -> None:
        """A report from a training process (on the event loop)."""
        try:
            self._on_message(worker, message)
        except Exception as exc:  # one malformed report must not take the service down
            if disk_full(exc):  # figures lost; the checkpoint's history replays them on resume
                log.warning(
                    "run %s: the disk is full; a %s report was not stored", worker.run_id, message.get("kind")
                )
                return
            log.exception("run %s: could not handle a %s message", worker.run_id, message.get("kind"))

    def _on_message(self, worker: RunHandle, message: dict[str, Any]) -> None:
        kind, run_id = message.get("kind"), worker.run_id
        if kind == "exit":
            worker.exited.set()
            if not worker.ended and self.workers.get(run_id) is worker:  # died without a word
                self.on_death(worker)
            return
        if worker.ended or self.workers.get(run_id) is not worker:
            return  # a late word from a process that has already ended
        if kind == "metrics":
            data = message["data"]
            self.speeds.measure(worker.run_id, worker.job, data)
            self.observer.progress(run_id, data, worker.job["config"]["batch_size"])
            self.store.add_frame(run_id, data)  # points, step and epoch: written off the loop
            self.hub.publish(EventType.METRICS, run_id, MetricsData(**data))
        elif kind == "heavy":
            self.hub.publish(EventType.GRADIENTS, run_id, GradientsData(**message["gradients"]))
            self.hub.publish(EventType.KERNELS, run_id, KernelsData(**message["kernels"]))
            self.exact_kernels.keep(run_id, message["kernels"], message.get("exact"))
            self.hub.publish(EventType.ACTIVATIONS, run_id, ActivationsData(**message["activations"]))
        elif kind == "epoch":
            data = message["data"]
            # The row keeps the handful of misclassified digits (~1 KB each) for late viewers.
            self.store.add_epoch(run_id, data["epoch"], data)
            if message.get("predicted") is not None:
                self.store.add_predictions(run_id, data["epoch"], message["predicted"])
            run = self.store.update(
                run_id, epoch=data["epoch"], step=data["step"], val_accuracy=data["val_accuracy"]
            )
            self.hub.publish(EventType.EPOCH, run_id, EpochData(**data))
            # Progress, not a change of state: the run's viewers see its new epoch and step at
            # once (only they: the dashboard follows a *running* run it hears about).
            self.publish_status(run, everyone=False)
        elif kind == "checkpoint":
            self.store.update(run_id, checkpoint=Path(message["path"]).name, checkpoint_step=message["step"])
            self.observer.checkpointed(run_id, message)
        elif kind == "checkpoint_failed":
            self.observer.checkpoint_failed(run_id, message)
        elif kind == "ack":
            worker.acknowledge(message)
        elif kind == "started":
            resumed = message.get("resumed_from") or {"step": 0, "epoch": 0}
            self.store.truncate_history(run_id, resumed["step"], resumed["epoch"])
            run = self.store.update(
                run_id,
                step=message["step"],
                epoch=message["epoch"],
                total_steps=message["total_steps"],
            )
            self.observer.started(run, message)
            self.publish_status(run)
        elif kind == "replay":  # figures the last process sent but may not have been stored
            if message["points"]["step"]:
                self.store.add_points(run_id, message["points"])
            for epoch in message["epochs"]:
                self.store.add_epoch(run_id, epoch["epoch"], epoch, replace=False)
        elif kind == "end":
            message_text = message.get("message")
            if message["status"] == RunStatus.INTERRUPTED and not message_text:
                message_text = "the server stopped; resume continues from the last checkpoint"
            self.end(run_id, message["status"], message_text)

    def on_death(self, worker: RunHandle, tries: int = 20) -> None:
        """End a run whose process or actor died without a word, once the reason is known (a
        process's pipe closes a moment before it is reaped)."""
        if worker.ended or self.workers.get(worker.run_id) is not worker:
            return
        how = worker.death_reason()
        if how is None and tries > 0:
            asyncio.get_running_loop().call_later(0.05, self.on_death, worker, tries - 1)
            return
        self.end(worker.run_id, *self.death_notice(worker.run_id, how or "ended"))

    def death_notice(self, run_id: str, how: str) -> tuple[RunStatus, str]:
        """Status and message for a run whose process died without a word (killed, out of
        memory, its Ray node lost): ``interrupted`` — resumable from its last checkpoint, or from
        the start when it died before writing one (it had trained nothing then: the first one is
        written at once)."""
        run = self.store.get(run_id)
        if (self.run_dir(run_id) / "last.npz").is_file():
            step = run["checkpoint_step"] if run else None
            at = f" at step {step}" if step is not None else ""
            return (
                RunStatus.INTERRUPTED,
                f"the training process {how}; resume continues from its last checkpoint{at}",
            )
        return RunStatus.INTERRUPTED, f"the training process {how} while starting; resume starts it again"

    def end(self, run_id: str, status: str, message: str | None) -> None:
        worker = self.workers.pop(run_id, None)
        run = self.store.get(run_id)
        self.speeds.ended(
            run_id,
            worker.job if worker else None,
            None if run is None else run["step"],
            complete=RunStatus(status) == RunStatus.FINISHED,
        )
        if worker:
            worker.ended = True
            worker.release_waiters(status)
        status = RunStatus(status)
        if status == RunStatus.FAILED:
            log.error("run %s failed: %s", run_id, message)
        self.set_status(run_id, status, message=message)
        if status in (RunStatus.DIVERGED, RunStatus.FAILED):
            self.hub.publish(
                EventType.ERROR, run_id, ErrorData(code=status.value, message=message or status.value)
            )
        self.schedule()

    # -- commands -------------------------------------------------------------------------------
    def _live(self, run_id: str, action: str) -> RunHandle:
        run = self.get(run_id)
        worker = self.workers.get(run_id)
        if worker is None:
            raise RunConflictError(f"cannot {action} run {run_id}: it is {run['status']}")
        return worker

    async def _command(self, run_id: str, cmd: str, **fields: Any) -> dict[str, Any]:
        worker = self._live(run_id, cmd)
        try:
            reply = await worker.command(cmd, self.settings.command_timeout_s, **fields)
        except RunEndedError as exc:
            raise RunConflictError(f"cannot {cmd} run {run_id}: {exc}") from None
        except TimeoutError:
            raise RunConflictError(f"run {run_id} did not answer the {cmd} command in time") from None
        if not reply.get("ok", True):
            raise RunConflictError(f"cannot {cmd} run {run_id}: {reply.get('error')}")
        if worker.ended:
            # The run ended right after answering (e.g. diverged on the next step): its final
            # status is already stored and must not be overwritten by this command's.
            reply = {**reply, "ended": True}
        return reply

    async def pause(self, run_id: str) -> dict[str, Any]:
        async with self.lock(run_id):
            return await self._pause(run_id)

    async def _pause(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        if run["status"] == RunStatus.PAUSED:
            return run
        check(run, RunAction.PAUSE)
        reply = await self._command(run_id, "pause")
        if "ended" in reply:
            return self.get(run_id)
        self.store.add_mark(run_id, reply["state"]["step"], "pause")
        return self.set_status(
            run_id, RunStatus.PAUSED, step=reply["state"]["step"], epoch=reply["state"]["epoch"]
        )

    async def resume(self, run_id: str, readable: Callable[[Path], Any] | None = None) -> dict[str, Any]:
        """Continue a paused run, or start a new process from the last checkpoint of one that
        ended any other way but finished or stopped (``readable(path)`` may check the file)."""
        async with self.lock(run_id):
            run = self.get(run_id)
            status = run["status"]
            if status in (RunStatus.RUNNING, RunStatus.QUEUED):
                return run
            if status == RunStatus.PAUSED and run_id in self.workers:
                reply = await self._command(run_id, "resume")
                if "ended" in reply:
                    return self.get(run_id)
                self.store.add_mark(run_id, reply["state"]["step"], "resume")
                return self.set_status(run_id, RunStatus.RUNNING)
            last = self.run_dir(run_id) / "last.npz"
            check(run, RunAction.RESUME, last.is_file())
            if last.is_file() and readable is not None:
                try:
                    await readable(last)
                except ValueError as exc:
                    raise RunConflictError(
                        f"cannot resume run {run_id}: its checkpoint is unreadable ({exc})"
                    ) from None
            self.store.add_mark(run_id, run["checkpoint_step"] or 0, "resume")
            return self.enqueue(run_id)  # a new process, from the last checkpoint

    async def step(self, run_id: str) -> dict[str, Any]:
        async with self.lock(run_id):
            return await self._step(run_id)

    async def _step(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        check(run, RunAction.STEP)
        if run_id not in self.workers:
            raise RunConflictError(f"cannot step run {run_id}: its process has ended")
        reply = await self._command(run_id, "step")
        if "ended" in reply:
            return self.get(run_id)
        run = self.store.update(run_id, step=reply["state"]["step"], epoch=reply["state"]["epoch"])
        self.publish_status(run, everyone=False)
        return run

    async def stop(self, run_id: str, by: str | None = None) -> dict[str, Any]:
        """Stop a run; ``by``: who, when not its owner ("the teacher"), recorded in its message so
        its owner is told why it ended."""
        async with self.lock(run_id):
            run = await self._stop(run_id)
            if by is None:
                return run
            before = " before it started" if run.get("message") == STOPPED_QUEUED else ""
            run = self.store.update(run_id, message=f"stopped by {by}{before}")
            self.publish_status(run)
            return run

    async def _stop(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        status = run["status"]
        check(run, RunAction.STOP)
        if status == RunStatus.QUEUED:
            self.queue.remove(run_id)
            return self.set_status(run_id, RunStatus.STOPPED, message=STOPPED_QUEUED)
        if status in (RunStatus.INTERRUPTED, RunStatus.PAUSED) and run_id not in self.workers:
            return self.set_status(run_id, RunStatus.STOPPED)
        if run_id not in self.workers:
            raise RunConflictError(f"cannot stop run {run_id}: it is {status}")
        worker = self.workers[run_id]
        await self._command(run_id, "stop")
        await worker.wait_exit(self.settings.command_timeout_s)
        return self.get(run_id)

    async def patch(self, run_id: str, values: dict[str, float]) -> dict[str, Any]:
        """Change hyperparameters by name (those of the run's optimizer only), also of a run that
        ended but can be resumed (e.g. a lower learning rate after it diverged)."""
        async with self.lock(run_id):
            run = self.get(run_id)  # read under the lock: a concurrent PATCH has been applied
            check(run, RunAction.PATCH)
            check_names(run["config"]["optimizer"], values)
            check_hyperparameters(values)
            applied_at = None  # the step the training process applied it at (its answer's)
            if run_id in self.workers:
                reply = await self._command(run_id, "set", values=values)
                applied_at = reply.get("state", {}).get("step")
            run = self.store.update(run_id, config={**self.get(run_id)["config"], **values})
            if "lr" in values:  # not the stored step: it lags the process by a metrics frame or more
                step = run["step"] if applied_at is None else applied_at
                self.store.add_mark(run_id, step, "lr", values["lr"])
            self.publish_status(run)
            return run

    async def rename(self, run_id: str, name: str) -> dict[str, Any]:
        """A run's human name (shown wherever the run is), changeable in any state."""
        async with self.lock(run_id):
            self.get(run_id)
            run = self.store.update(run_id, name=name)
            self.publish_status(run)
            return run

    async def delete(self, run_id: str, remove: Callable[[Path], Any]) -> None:
        """Forget a run that does not train (a queued one leaves the queue); ``remove(folder)``
        deletes its files, once renamed into the trash (awaited; in the heavy pool)."""
        async with self.lock(run_id):
            run = self.get(run_id)
            if run_id in self.workers or not allowed(run["status"], RunAction.DELETE):
                raise RunConflictError(f"cannot delete run {run_id}: it is {run['status']}; stop it first")
            self.queue.remove(run_id)
            # Its files unreachable first, in one rename (the delete's point of no return: a
            # server killed after it finishes the delete at start-up, locks.sweep_deleted).
            trashed = trash(self.settings.data_dir, run_id)
            self.store.delete(run_id)
            self.hub.forget(run_id)
            self.exact_kernels.forget(run_id)
            # Every page, not only the run's watchers: each lists the run and may show it.
            gone = DeletedData(id=run_id, name=run["name"])
            self.hub.publish(EventType.DELETED, run_id, gone, everyone=True)
            if trashed is not None:
                await remove(trashed)
        self.locks.pop(run_id, None)

    def queue_position(self, run_id: str) -> int | None:
        return self.queue.position(run_id)

    def starts_in(self) -> dict[str, float | None]:
        """Seconds from now until each waiting run starts (None: not known yet — see
        :mod:`.estimates`)."""
        return self.speeds.starts_in(
            self.queue.order(), list(self.workers), self.store.get, self.executor.capacity()
        )

    async def shutdown(self, timeout: float = 6.0) -> None:
        """Checkpoint every active run and stop its process (status ``interrupted``)."""
        self.shutting_down = True
        workers = list(self.workers.values())
        training = [
            w.run_id for w in workers if (self.store.get(w.run_id) or {}).get("status") == RunStatus.RUNNING
        ]

        async def close(worker: RunHandle) -> None:
            with contextlib.suppress(Exception):
                await worker.command("shutdown", timeout)
            await worker.wait_exit(2.0)

        if self.retry is not None:
            self.retry.cancel()
        await asyncio.gather(*(close(w) for w in workers))
        for worker in workers:  # whatever did not report: still resumable from its checkpoint
            if worker.run_id in self.workers:
                self.end(worker.run_id, RunStatus.INTERRUPTED, "the server stopped")
        # The next start continues these (service/recovery.py): the runs that trained, from the
        # checkpoint just written; the queued ones keep their rows as they are, queued, in order.
        for run_id in training:
            if (self.store.get(run_id) or {}).get("status") == RunStatus.INTERRUPTED:
                self.store.update(run_id, resume_at_start=1)
        self.queue.clear()
