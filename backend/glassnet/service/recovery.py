"""Runs across a restart of the server, and whether a checkpoint fits the data served now.

At start-up (:func:`recover`, from the lifespan) every run the last server left unfinished is
settled, whether it stopped with SIGTERM/Ctrl-C or was killed outright:

- a run that was **training** continues by itself from its last checkpoint (from the start when
  it had none yet — it had trained nothing), first in line, in the order the runs joined the queue
  — once: a run found killed again at the step a start-up continued it from (no checkpoint since)
  waits for a person, ``interrupted``, in case it is what brings the server down;
- a **queued** run keeps its place in the queue, behind those;
- a **paused** run waits for a person: ``interrupted``, resumable from its checkpoint;
- a run whose checkpoint cannot be read, or was trained on other data than the server now serves
  (another ``--dataset``, ``--classes`` or ``--transpose``), is not started: ``interrupted``, with
  a message saying why. A resume by hand is refused the same way (409), so a run never continues
  silently on data prepared differently. (The validation split is the run's own, stored in its
  row: it is never taken from the server's settings.)

With ``auto_resume`` off (``glassnet serve --no-auto-resume``, ``GLASSNET_AUTO_RESUME=0``: a
teacher who restarts the server to stop everything) nothing starts by itself: the runs that were
training or queued are ``interrupted`` too, each resumable by hand.

Every message names the step a run continues from, read from the checkpoint itself; a run that
never wrote one is not said to have one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..data.mnist import dataset_name, resolve_dataset_dir
from ..nn.checkpoint import MAX_RUN_CHECKPOINT_BYTES, read_checkpoint_info
from .runstate import RunStatus
from .settings import Settings
from .worker import RunManager

log = logging.getLogger("glassnet.recovery")


def served_data(settings: Settings, classes: list[str]) -> dict[str, Any]:
    """What the server's training processes load now, as checkpoints record it (``session.py``
    ``dataset_meta``): the dataset's name, its class names, and whether images are transposed."""
    root = resolve_dataset_dir(settings.dataset)
    return {"dataset": dataset_name(root), "classes": list(classes), "transpose": bool(settings.transpose)}


def data_mismatch(meta: dict[str, Any], served: dict[str, Any] | None) -> str | None:
    """How the data a checkpoint was trained on differs from what the server serves now (one
    clause per setting, naming the option to change), or None when it fits. A key the checkpoint
    does not record (an older one) is not compared."""
    if served is None:
        return None
    differences = []
    if "dataset" in meta and meta["dataset"] != served["dataset"]:
        differences.append(
            f"it was trained on the dataset {meta['dataset']!r}, the server now serves "
            f"{served['dataset']!r} (--dataset, GLASSNET_DATASET)"
        )
    if "classes" in meta and list(meta["classes"]) != served["classes"]:
        differences.append(
            f"it was trained on the classes {','.join(map(str, meta['classes']))}, the server now "
            f"has {','.join(served['classes'])} (--classes, GLASSNET_CLASSES)"
        )
    if "transpose" in meta and bool(meta["transpose"]) != served["transpose"]:
        was = "transposed" if meta["transpose"] else "not transposed"
        now = "transposes them" if served["transpose"] else "does not"
        differences.append(f"its images were {was}, the server now {now} (--transpose, GLASSNET_TRANSPOSE)")
    return "; ".join(differences) or None


def checkpoint_meta(path: Path) -> dict[str, Any]:
    """A run checkpoint's meta (its weights are not read); a ValueError when it is unreadable."""
    return read_checkpoint_info(path, max_bytes=MAX_RUN_CHECKPOINT_BYTES)[1]


async def recover(manager: RunManager, served: dict[str, Any] | None, problem: str | None = None) -> None:
    """Settle the runs the last server left unfinished (see the module's docstring). ``served``:
    :func:`served_data`; ``problem``: why this server cannot train now (its dataset), in which
    case nothing is started and every such run waits, ``interrupted``, for a resume by hand."""
    store = manager.store
    first: list[tuple[str, str]] = []  # (run id, message): those that trained, then the queued
    then: list[tuple[str, str]] = []
    for run_id, status, stopped_training in store.unfinished():
        run = store.get(run_id)
        if run is None:  # an unreadable row: logged by the store, left alone
            continue
        training = status == RunStatus.RUNNING or (stopped_training and status == RunStatus.INTERRUPTED)
        if not training and status not in (RunStatus.QUEUED, RunStatus.PAUSED):
            continue
        last = manager.run_dir(run_id) / "last.npz"
        step: int | None = None
        if last.is_file():
            try:
                meta = await asyncio.to_thread(checkpoint_meta, last)
                step = int(meta["step"])
            except (ValueError, KeyError, TypeError) as exc:
                interrupt(
                    manager, run_id, f"not continued after the restart: its checkpoint is unreadable ({exc})"
                )
                continue
            mismatch = data_mismatch(meta, served)
            if mismatch is not None:
                interrupt(
                    manager,
                    run_id,
                    f"not continued after the restart: {mismatch}; start the server with the run's "
                    "settings to resume it",
                )
                continue
            if step != run["checkpoint_step"]:  # a process orphaned by a kill wrote a newer one:
                store.update(run_id, checkpoint_step=step)  # what deaths and resume marks name
        where = "its start" if step is None else f"its checkpoint at step {step}"
        if status == RunStatus.PAUSED:
            interrupt(
                manager,
                run_id,
                f"the server stopped while this run was paused; resume continues from {where}",
            )
        elif problem is not None:
            interrupt(
                manager, run_id, f"not continued after the restart: the server cannot train now ({problem})"
            )
        elif not manager.settings.auto_resume:
            interrupt(
                manager,
                run_id,
                f"not continued after the restart (the server runs with --no-auto-resume); resume "
                f"continues from {where}",
            )
        elif training and status == RunStatus.RUNNING and store.restarted_from(run_id) == (step or -1):
            # Killed again before it trained past the point the last start-up continued it from:
            # perhaps this run brings the server down (its memory, say). Continuing it by itself
            # once more could repeat that at every start; a person decides.
            interrupt(
                manager,
                run_id,
                f"not continued after the restart: the server stopped again before this run trained past "
                f"{where}, where the last restart had continued it; resume it by hand",
            )
        elif training:
            if step is not None:
                store.add_mark(run_id, step, "resume")
            store.update(run_id, restarted_from=step or -1)
            first.append((run_id, f"the server restarted; it continues from {where}"))
        else:
            then.append((run_id, run["message"] or "the server restarted; it kept its place in the queue"))
    # Those that trained take the free slots at once, in their old order (the fair queue would
    # interleave them with other owners' waiting runs); the rest wait in the queue as before.
    starting = {run_id for run_id, _ in first}
    for run_id, message in first + then:
        run = store.update(run_id, message=message)
        free = len(manager.workers) < manager.executor.capacity() and manager.executor.problem() is None
        if run_id in starting and free and not manager.queue:
            manager.launch(run_id)
            continue
        manager.queue.append(run_id, run.get("owner") or "")
        manager.set_status(run_id, RunStatus.QUEUED, message=message)
    if first or then:
        go, wait = len(first), len(then)  # "1 run continues, 2 wait in the queue"
        log.info(
            "after the restart: %d run%s %s, %d %s in the queue",
            *(go, "" if go == 1 else "s", "continues" if go == 1 else "continue"),
            *(wait, "waits" if wait == 1 else "wait"),
        )
    manager.schedule()


def interrupt(manager: RunManager, run_id: str, message: str) -> None:
    manager.set_status(run_id, RunStatus.INTERRUPTED, message=message)
    log.info("run %s: %s", run_id, message)
