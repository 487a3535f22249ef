"""The training process: one run, driven step by step, reporting over a pipe.

:func:`session_main` is the target of the worker process (spawned by :mod:`.worker`). It loads
the dataset, builds (or restores) the network and trains it with :class:`Trainer`, checking for
commands between mini-batches. Everything it sends is a plain dict of numbers, strings and lists
(arrays already encoded as uint8 base64), so what reaches a browser never depends on pickle.

Messages sent (``kind``): ``started``, ``replay`` (on resume: the figures stored in the
checkpoint, in case the service never stored them), ``metrics`` (coalesced points), ``heavy`` (activations,
kernels, gradients), ``epoch``, ``checkpoint``, ``ack`` (answer to a command) and finally one
``end`` (status finished | stopped | diverged | interrupted | failed). Commands received
(``cmd``): ``pause``, ``resume``, ``step``, ``stop``, ``shutdown``, ``set``.

Checkpoints (``<data dir>/<run id>/``): ``last.npz`` — weights, optimizer state and
``trainer.state()`` in the meta (data order, every random generator, the epoch's running sums),
written every ``checkpoint_interval`` seconds, every epoch, on pause/stop/shutdown and when the
service goes away (the resume point: a resume mid-epoch continues exactly where it was);
``epoch-NNN.npz`` — a copy per epoch; ``live.npz`` — the latest weights only, once before the
first mini-batch and then every ``live_interval`` seconds, for live predictions while the run
trains. Weights that are not finite are never written: the run ends ``diverged`` instead.

Crashes: the process holds its run's lock (:mod:`.locks`) while it lives and removes temporary
files a killed predecessor left. A full disk ends the run ``interrupted`` with its last good
checkpoint (resumable once there is space); a vanished service (EOF on the command pipe) gets a
last checkpoint written before the process exits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
import traceback
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..data.mnist import Split, load_splits
from ..export.tensorboard import TensorBoardWriter
from ..nn.checkpoint import (
    MAX_RUN_CHECKPOINT_BYTES,
    atomic_write_bytes,
    checkpoint_bytes,
    read_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from ..nn.losses import probabilities
from ..nn.model import Sequential
from ..training import probes
from ..training.config import TrainConfig
from ..training.teach import Teach, mix
from ..training.trainer import BatchMetrics, DivergedError, EpochMetrics, Evaluation, Trainer, evaluate
from .encoding import encode_array
from .frames import exact_kernels, finite, finite_list, heavy_frames
from .framewriter import POINT_KEYS
from .locks import RUN_LOCK, FileLock, remove_temporary_files
from .runstate import RunStatus

MISCLASSIFIED_SHOWN = 8
RUN_LOCK_WAIT_S = 30.0  # an orphaned predecessor needs one step and one checkpoint to let go
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


SPEED_WINDOW_S = 8.0  # the speed a page shows: samples over about this many seconds of training
SPEED_MIN_S = 1.0  # below this much training time measured, no speed is said at all


class RateWindow:
    """Samples per second over the last ``window`` seconds of training: a figure a person can read.

    One metrics frame lasts about 0.1 s and may also have paid for a heavy frame, a checkpoint or an
    evaluation, so its own rate swings ×10 from frame to frame; over several seconds those costs
    are spread as they really are. ``restart`` (on resume) forgets the time spent paused."""

    def __init__(self, window: float = SPEED_WINDOW_S, minimum: float = SPEED_MIN_S) -> None:
        self.window = window
        self.minimum = minimum
        self.marks: deque[tuple[float, int]] = deque()  # (time, samples trained so far)
        self.samples = 0

    def restart(self, now: float) -> None:
        self.marks.clear()
        self.marks.append((now, self.samples))

    def add(self, now: float, samples: int) -> float | None:
        """``samples`` more trained by ``now``; the rate over the window, None while too short."""
        if not self.marks:
            self.marks.append((now, self.samples))
        self.samples += samples
        self.marks.append((now, self.samples))
        # Keep one mark at or before the window's start, so the window is always full-length.
        while len(self.marks) > 2 and self.marks[1][0] <= now - self.window:
            self.marks.popleft()
        t0, n0 = self.marks[0]
        span = now - t0
        return (self.samples - n0) / span if span >= self.minimum else None


class _EndOfRun(Exception):  # noqa: N818 - control flow, not an error
    """Leave the training loop with a final status."""

    def __init__(self, status: RunStatus, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TrainingSession:
    """One run inside the worker process. ``job``: run_id, spec, config, dataset, validation,
    run_dir, resume, metrics_interval, heavy_interval, live_interval (all plain values)."""

    def __init__(self, job: dict[str, Any], events: Connection, commands: Connection) -> None:
        self.job = job
        self.events = events
        self.commands = commands
        self.run_id: str = job["run_id"]
        self.run_dir = Path(job["run_dir"])
        self.spec: dict[str, Any] = job["spec"]
        self.config = TrainConfig.from_dict(job["config"], legacy=True)
        self.paused = False
        self.board: TensorBoardWriter | None = None
        self.points: dict[str, list[Any]] = {"step": [], "epoch": [], "loss": [], "accuracy": [], "lr": []}
        # Recent figures, kept in each checkpoint: after a SIGKILL the service may not have stored
        # the last ones it was sent, and a resume replays them so the history has no gap.
        self.recent_points: deque[tuple[Any, ...]] = deque()
        self.recent_epochs: deque[dict[str, Any]] = deque(maxlen=2)
        self.frame_samples = 0
        now = time.monotonic()
        self.speed = RateWindow()
        self.speed.restart(now)
        self.next_metrics = now
        self.next_heavy = now
        self.next_live = now + job["live_interval"]
        self.checkpoint_interval: float = job.get("checkpoint_interval", 30.0)
        self.next_checkpoint = now + self.checkpoint_interval

    # -- plumbing -------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.events.send(message)

    def setup(self) -> None:
        # One process per run folder: wait for a predecessor (orphaned by a killed service) to
        # finish its last checkpoint, then clear what a killed one left half-written.
        self.lock = FileLock(self.run_dir / RUN_LOCK).acquire(timeout=RUN_LOCK_WAIT_S)
        remove_temporary_files(self.run_dir)
        self.data = load_splits(
            self.job["dataset"],
            validation=self.job["validation"],
            transpose=self.job.get("transpose", False),
            classes=self.job.get("classes"),
        )
        # A "teach it" run: MNIST mixed with my digits, judged also on my held-out ones and on test.
        teach = Teach.load(self.run_dir)
        extra: dict[str, Split] = {}
        if teach is not None:
            self.data = mix(self.data, Teach.mine(self.run_dir, "train"), teach.repeat, teach.train_subset)
            extra = {"mine": Teach.mine(self.run_dir, "holdout"), "test": self.data.test}
        model = Sequential.from_spec(self.spec, np.random.default_rng(self.config.seed))
        model.to(self.config.device)  # "cuda" without CuPy or a GPU: a failed run naming why
        self.trainer = Trainer(model, self.config, self.data, self.on_event, extra_eval=extra)
        self.model = model
        if self.job.get("tensorboard"):  # event files for TensorBoard (export/tensorboard.py)
            self.board = TensorBoardWriter(self.job["tensorboard"], model)
        self.recent_points = deque(maxlen=2 * self.trainer.steps_per_epoch + 1)
        resumed_from, replay = None, None
        last = self.run_dir / "last.npz"
        if self.job["resume"] and last.is_file():
            ckpt = read_checkpoint(last, name="last.npz", max_bytes=MAX_RUN_CHECKPOINT_BYTES)
            model.load_state_dict(ckpt.model.state_dict())
            self.trainer.restore(ckpt.meta["trainer"], ckpt.optimizer_state)
            # The stored settings are the truth: a PATCH while no process ran is applied now.
            self.trainer.optimizer.set_hyperparameters(self.config.hyperparameters())
            resumed_from = {"step": self.trainer.step, "epoch": self.trainer.epoch}
            replay = ckpt.meta.get("history")
            if replay:
                self.recent_points.extend(zip(*(replay["points"][k] for k in POINT_KEYS), strict=True))
                self.recent_epochs.extend(replay["epochs"])
        elif teach is not None and teach.init:
            init = read_checkpoint(
                self.run_dir / teach.init, name=teach.init, max_bytes=MAX_RUN_CHECKPOINT_BYTES
            )
            model.load_state_dict(init.model.state_dict())
        self.probe_x, self.probe_y = probes.pick_probes(self.data.test)
        self.send(
            {
                "kind": "started",
                "step": self.trainer.step,
                "epoch": self.trainer.epoch,
                "total_steps": self.trainer.total_steps,
                "steps_per_epoch": self.trainer.steps_per_epoch,
                "resumed_from": resumed_from,
                "pid": os.getpid(),
            }
        )
        if replay:
            self.send({"kind": "replay", **replay})
        if teach is not None and resumed_from is None:
            self.before_training()

    def before_training(self) -> None:
        """Epoch 0 of a teach run: how the starting network reads validation, my held-out digits
        and the test set, before a single step."""
        val = evaluate(self.model, self.data.val, self.trainer.eval_batch) if len(self.data.val) else None
        metrics = EpochMetrics(
            epoch=0,
            step=0,
            train_loss=None,  # type: ignore[arg-type]
            train_accuracy=None,  # type: ignore[arg-type]
            val_loss=val.loss if val else None,
            val_accuracy=val.accuracy if val else None,
            confusion=val.confusion if val else None,
            seconds=0.0,
            extra=self.trainer.evaluate_extra(),
        )
        self.on_epoch(metrics, val)

    # -- trainer events -------------------------------------------------------------------------
    def on_event(self, event: str, payload: Any) -> None:
        if self.board is not None:
            self.board.on_event(event, payload)
        if event == "batch":
            m: BatchMetrics = payload
            self.points["step"].append(m.step)
            self.points["epoch"].append(m.epoch)
            self.points["loss"].append(finite(m.loss))
            self.points["accuracy"].append(finite(m.accuracy))
            self.points["lr"].append(finite(m.lr))
            self.recent_points.append(tuple(self.points[k][-1] for k in POINT_KEYS))
            self.frame_samples += self.config.batch_size
        elif event == "epoch":
            metrics, evaluation = payload
            self.flush_metrics()
            self.on_epoch(metrics, evaluation)

    def on_epoch(self, m: EpochMetrics, val: Evaluation | None) -> None:
        wrong = []
        if val is not None:
            idx = probes.misclassified(val.predictions, self.data.val.y, MISCLASSIFIED_SHOWN)
            if idx.size:
                probs = probabilities(self.model.loss, self.model.forward(self.data.val.x[idx]))
                for row, i in enumerate(idx.tolist()):
                    wrong.append(
                        {
                            "index": i,
                            "label": int(self.data.val.y[i]),
                            "predicted": int(val.predictions[i]),
                            "probabilities": finite_list(probs[row]),
                            "image": encode_array(self.data.val.x[i, 0], per_map_axes=2),
                        }
                    )
        data = {
            "epoch": m.epoch,
            "step": m.step,
            "train_loss": finite(m.train_loss),
            "train_accuracy": finite(m.train_accuracy),
            "val_loss": finite(m.val_loss),
            "val_accuracy": finite(m.val_accuracy),
            "confusion": m.confusion,
            "seconds": finite(m.seconds) or 0.0,
            "misclassified": wrong,
            "extra": {name: finite(v) for name, v in m.extra.items()},
        }
        self.recent_epochs.append({k: v for k, v in data.items() if k != "misclassified"})
        # The checkpoint first: once viewers see the epoch, it is on disk.
        self.checkpoint(epoch_copy=True)
        # Every validation digit's answer, one byte each: any cell of the confusion matrix can list
        # its digits later (the images are the dataset's; only the answers are the run's).
        predicted = None if val is None else val.predictions.astype(np.uint8).tobytes()
        self.send({"kind": "epoch", "data": data, "predicted": predicted})

    # -- outputs --------------------------------------------------------------------------------
    def flush_metrics(self) -> None:
        if not self.points["step"]:
            return
        # A Step while paused is not training speed: the window restarts on resume.
        rate = None if self.paused else self.speed.add(time.monotonic(), self.frame_samples)
        self.send(
            {
                "kind": "metrics",
                "data": {
                    **self.points,
                    "samples_per_s": rate,
                    "total_steps": self.trainer.total_steps,
                },
            }
        )
        self.points = {key: [] for key in self.points}
        self.frame_samples = 0

    def heavy(self) -> None:
        """Activations of the probe digits, kernels and gradients, encoded for the wire."""
        frames = heavy_frames(self.model, self.probe_x, self.probe_y, self.trainer.step)
        # The kernels' exact values too, for the service to keep (the frame's are pictures).
        self.send({"kind": "heavy", **frames, "exact": exact_kernels(self.model)})

    def check_finite(self) -> None:
        """Never write weights that blew up: end the run diverged (its last checkpoint stays)."""
        for name, p, _ in self.model.named_params():
            if not np.all(np.isfinite(p)):
                why = f"parameter {name} is no longer finite; lower the learning rate"
                raise _EndOfRun(RunStatus.DIVERGED, why)

    def checkpoint(self, epoch_copy: bool = False, notify: bool = True) -> None:
        """``last.npz`` (the resume point; optionally also ``epoch-NNN.npz``), atomically."""
        self.check_finite()
        t = self.trainer
        meta = {
            "run": self.run_id,
            **self.dataset_meta(),
            "trainer": t.state(),
            "train": self.config.as_dict(),
            "epoch": t.epoch,
            "step": t.step,
            "history": {
                "points": {k: [p[i] for p in self.recent_points] for i, k in enumerate(POINT_KEYS)},
                "epochs": list(self.recent_epochs),
            },
        }
        data = checkpoint_bytes(self.model, meta, self.spec, t.optimizer.state_dict())
        last = self.run_dir / "last.npz"
        try:
            atomic_write_bytes(last, data)
            if epoch_copy:
                atomic_write_bytes(self.run_dir / f"epoch-{t.epoch:03d}.npz", data)
        except OSError as exc:  # counted by the service (metrics); the run then ends as before
            self.send({"kind": "checkpoint_failed", "path": str(last), "error": str(exc)})
            raise
        self.next_checkpoint = time.monotonic() + self.checkpoint_interval
        self.write_live()
        if notify:
            self.send({"kind": "checkpoint", "path": str(last), "step": t.step, "epoch": t.epoch})

    def dataset_meta(self) -> dict[str, Any]:
        """What the checkpoints record of the data: its name, class names and layout."""
        d = self.data
        return {"dataset": d.name, "classes": list(d.classes.names), "transpose": d.transpose}

    def write_live(self) -> None:
        """Latest weights for live predictions (no optimizer state: small and quick)."""
        self.check_finite()
        meta = {
            "run": self.run_id,
            **self.dataset_meta(),
            "step": self.trainer.step,
            "epoch": self.trainer.epoch,
            "live": True,
        }
        save_checkpoint(self.run_dir / "live.npz", self.model, meta, self.spec)
        self.next_live = time.monotonic() + self.job["live_interval"]

    def tick(self) -> None:
        """After a training step: send what is due."""
        now = time.monotonic()
        if now >= self.next_metrics:
            self.flush_metrics()
            self.next_metrics = now + self.job["metrics_interval"]
        if now >= self.next_heavy:
            self.heavy()
            self.next_heavy = time.monotonic() + self.job["heavy_interval"]
        if now >= self.next_checkpoint:
            self.checkpoint()
        elif now >= self.next_live:
            self.write_live()

    # -- commands -------------------------------------------------------------------------------
    def train_one(self) -> None:
        try:
            self.trainer.train_step()
        except DivergedError as exc:
            self.flush_metrics()
            # The last good checkpoint stays as it is; the weights now are not trusted.
            raise _EndOfRun(RunStatus.DIVERGED, str(exc)) from None

    def handle(self, command: dict[str, Any]) -> None:
        cmd, reply = command.get("cmd"), {"kind": "ack", "id": command.get("id"), "ok": True}
        if cmd == "pause":
            if not self.paused:
                self.paused = True
                self.flush_metrics()
                self.checkpoint()
                self.heavy()  # a paused run sends its state once
        elif cmd == "resume":
            self.paused = False
            self.frame_samples = 0
            self.speed.restart(time.monotonic())
        elif cmd == "step":
            if not self.paused:
                reply.update(ok=False, error="the run is not paused")
            else:
                self.train_one()
                # The weights first: a page that hears of the new step (metrics) and asks for the
                # run's latest weights (the Learn view follows a paused run) finds this step's.
                self.write_live()
                self.flush_metrics()
                self.heavy()
        elif cmd == "set":
            try:  # names and ranges checked first: a refused change changes nothing
                self.trainer.optimizer.set_hyperparameters(command["values"])
            except ValueError as exc:
                reply.update(ok=False, error=str(exc))
        elif cmd in ("stop", "shutdown"):
            self.flush_metrics()
            self.checkpoint()
            reply["state"] = {"step": self.trainer.step, "epoch": self.trainer.epoch}
            self.send(reply)
            raise _EndOfRun(RunStatus.STOPPED if cmd == "stop" else RunStatus.INTERRUPTED)
        else:
            reply.update(ok=False, error=f"unknown command {cmd!r}")
        reply["state"] = {"step": self.trainer.step, "epoch": self.trainer.epoch, "waiting": self.paused}
        self.send(reply)
        if self.trainer.finished:
            raise _EndOfRun(RunStatus.FINISHED)

    def poll(self) -> None:
        """Handle waiting commands; while paused, block until one comes (EOF = parent gone)."""
        while self.paused or self.commands.poll():
            try:
                command = self.commands.recv()
            except (EOFError, OSError):
                self.orphaned()
            self.handle(command)

    def orphaned(self) -> None:
        """The service is gone (killed): keep the progress, then leave; nobody hears us."""
        with contextlib.suppress(Exception):
            self.checkpoint(notify=False)
        os._exit(0)

    def run(self) -> None:
        self.setup()
        try:
            if self.trainer.step == 0:  # a resume point from the start: a run killed at once resumes
                self.checkpoint()
            else:
                self.write_live()  # live predictions read the restored weights at once
            self.heavy()
            # The speed is of training alone: start-up (the data, the model, the first checkpoint)
            # is not a slow step (estimates.py counts it apart, as a run's overhead).
            self.speed.restart(time.monotonic())
            while True:
                self.poll()
                if self.trainer.finished:
                    raise _EndOfRun(RunStatus.FINISHED)
                self.train_one()
                self.tick()
        except _EndOfRun as end:
            self.finish(end.status, end.message)
        except OSError as exc:
            if not disk_full(exc):
                raise
            self.flush_metrics()
            self.finish(
                RunStatus.INTERRUPTED,
                f"the disk is full ({exc.strerror}); the run keeps its last checkpoint at step "
                f"{self.checkpoint_step()}: free some space, then resume it",
            )

    def checkpoint_step(self) -> int:
        with contextlib.suppress(Exception):
            last = self.run_dir / "last.npz"
            if last.is_file():
                return int(read_checkpoint_info(last, max_bytes=MAX_RUN_CHECKPOINT_BYTES)[1]["step"])
        return 0

    def finish(self, status: str, message: str | None) -> None:
        if self.board is not None:
            self.board.close()
        if status == RunStatus.FINISHED:
            self.flush_metrics()
            self.heavy()
            with contextlib.suppress(OSError, _EndOfRun):  # the last epoch's checkpoint is written
                self.write_live()
        self.send(
            {
                "kind": "end",
                "status": status,
                "message": message,
                "step": self.trainer.step,
                "epoch": self.trainer.epoch,
            }
        )


def session_main(
    job: dict[str, Any], events: Connection, commands: Connection, own_process: bool = True
) -> None:
    """Process entry point. Ctrl-C in a terminal reaches the whole process group: the parent
    decides when this process checkpoints and exits, so SIGINT is ignored here. ``events`` and
    ``commands`` may be any objects with a pipe end's ``send`` / ``poll`` / ``recv`` / ``close``
    (a Ray actor passes its queues, and ``own_process=False``: it runs in the actor's thread)."""
    if own_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if job.get("cpus"):  # GLASSNET_TRAIN_CPUS: training off the server's CPUs (its threads follow)
            with contextlib.suppress(AttributeError, OSError):
                os.sched_setaffinity(0, job["cpus"])
    session = TrainingSession(job, events, commands)
    try:
        session.run()
    except (BrokenPipeError, EOFError, ConnectionResetError):
        session.orphaned()  # the service is gone (e.g. SIGKILL): save the progress, then exit
    except Exception as exc:
        with contextlib.suppress(OSError):
            events.send(
                {
                    "kind": "end",
                    "status": RunStatus.FAILED,
                    "message": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=5),
                }
            )
    finally:
        events.close()
