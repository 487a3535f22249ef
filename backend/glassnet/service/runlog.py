"""A run's life, told once per event: one log line on ``glassnet.runs`` (with the run id and its
figures) and the matching Prometheus series, for every

created, queued, started, paused, resumed, checkpointed, finished, stopped, diverged, failed, interrupted

:class:`RunObserver` is called by the run manager (``worker.py``) and the runs route; it knows
nothing of processes or HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

from ..logs import fields
from .metrics import ServiceMetrics
from .runstate import RunStatus

__all__ = ["RunObserver"]

log = logging.getLogger("glassnet.runs")

# The status a run moves to -> the event logged, named as the status (RUNNING is logged when the
# process says it started, or as "resumed" when a paused run continues; QUEUED only when the run
# really waits: queued()).
_STATUS_EVENTS = {
    s: s.value
    for s in (
        RunStatus.PAUSED,
        RunStatus.FINISHED,
        RunStatus.STOPPED,
        RunStatus.DIVERGED,
        RunStatus.FAILED,
        RunStatus.INTERRUPTED,
    )
}
_ENDS = {RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.INTERRUPTED}


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "preset": run.get("preset"),
        "epoch": run.get("epoch"),
        "step": run.get("step"),
        "total_steps": run.get("total_steps"),
        "val_accuracy": run.get("val_accuracy"),
    }


class RunObserver:
    """Logs and counts what happens to runs."""

    def __init__(self, metrics: ServiceMetrics | None = None) -> None:
        self.metrics = metrics

    def _log(self, event: str, run_id: str, level: int = logging.INFO, **values: Any) -> None:
        clean = {k: v for k, v in values.items() if v is not None}
        log.log(level, "run %s", event, extra=fields(event=event, run=run_id, **clean))

    def created(self, run: dict[str, Any]) -> None:
        c = run["config"]
        self._log(
            "created",
            run["id"],
            name=run["name"],
            preset=run.get("preset"),
            epochs=c.get("epochs"),
            batch_size=c.get("batch_size"),
            lr=c.get("lr"),
            optimizer=c.get("optimizer"),
            total_steps=run.get("total_steps"),
        )

    def queued(self, run: dict[str, Any], position: int) -> None:
        """The run waits for a training slot (at ``position`` in the queue, 1 = next)."""
        self._log(RunStatus.QUEUED.value, run["id"], position=position)

    def started(self, run: dict[str, Any], message: dict[str, Any]) -> None:
        resumed = message.get("resumed_from")
        self._log(
            "started",
            run["id"],
            step=message.get("step"),
            epoch=message.get("epoch"),
            total_steps=message.get("total_steps"),
            resumed_from_step=None if not resumed else resumed.get("step"),
            pid=message.get("pid"),
        )

    def status(self, run: dict[str, Any], previous: str | None) -> None:
        """A change of status (called with the run as it is afterwards)."""
        status = RunStatus(run["status"])
        if status == previous:
            return
        if status == RunStatus.QUEUED:
            return
        if status == RunStatus.RUNNING:
            if previous == RunStatus.PAUSED:
                self._log("resumed", run["id"], **_figures(run))
            return
        event = _STATUS_EVENTS[status]
        level = (
            logging.ERROR
            if status == RunStatus.FAILED
            else logging.WARNING
            if status == RunStatus.DIVERGED
            else logging.INFO
        )
        self._log(event, run["id"], level, **_figures(run), reason=run.get("message"))
        if status in _ENDS and self.metrics is not None:
            self.metrics.run_ended(run["id"])

    def checkpointed(self, run_id: str, message: dict[str, Any]) -> None:
        self._log(
            "checkpointed",
            run_id,
            step=message.get("step"),
            epoch=message.get("epoch"),
            path=message.get("path"),
        )
        if self.metrics is not None:
            self.metrics.checkpoint_writes.inc()

    def checkpoint_failed(self, run_id: str, message: dict[str, Any]) -> None:
        self._log(
            "checkpoint failed", run_id, logging.ERROR, error=message.get("error"), path=message.get("path")
        )
        if self.metrics is not None:
            self.metrics.checkpoint_failures.inc()

    def progress(self, run_id: str, data: dict[str, Any], batch_size: int) -> None:
        """A metrics frame from the training process: throughput and samples trained."""
        if self.metrics is None:
            return
        rate = data.get("samples_per_s")
        if rate is not None:  # none yet (the first second, or just resumed): keep the last figure
            self.metrics.samples_per_s.labels(run_id).set(float(rate))
        self.metrics.samples.inc(len(data.get("step", [])) * batch_size)
