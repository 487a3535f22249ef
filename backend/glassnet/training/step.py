"""One mini-batch's forward pass, cost and backpropagation, as fast as the machine allows.

:class:`TrainStep` leaves dCost/dθ of a batch in the model's gradients (the flat vector of
``model.pack()``) and reports the batch's cost and correct answers; the optimizer step stays
with the trainer. Two ways to get there, with the same result (within float rounding, which
the tests check):

* **fused** (:mod:`glassnet.nn.fused`) when the network is made of what that module fuses —
  every preset is: blocks on preallocated batch-last buffers;
* **layer by layer** otherwise: ``model.forward`` / ``compute_loss`` / ``model.backward``.

On the fused path the batch is split into shares, one per usable core (at least
:data:`MIN_SHARE` samples and :data:`MIN_SHARE_WORK` multiply-adds each): each share runs the
whole network with its own buffers and gradient vector, and the shares' gradients are added up
(in a fixed order, so a seed gives the same run) for one optimizer step. Share 0 runs in the
calling thread; the others run in **helper processes** (:mod:`.share_process`: each its own
interpreter, so the shares do not queue for one GIL; the numbers cross in shared memory), or,
where those cannot start or with ``GLASSNET_TRAIN_PROCESSES=0``, in **threads** (NumPy releases
the GIL inside large operations; a thread that finishes early takes a share no other thread has
started, so a core lost to another program does not hold up the step). BLAS runs at one
thread in every share (``blas.py``): the parallelism is ours, not BLAS's, so there is no
spin-waiting BLAS pool to suffer when other programs load the machine, and elementwise work
(pooling, im2col) runs in parallel too. ``GLASSNET_TRAIN_THREADS`` overrides the number of
shares (1 = one share, e.g. for comparisons).

A batch too small to share out (the mlp's 64: below MIN_SHARE_WORK) with a large first dense
layer gets the second core another way: a helper process owns half of that layer's input rows,
their products and their optimizer update (:mod:`.layer_split`; the optimizer's step is
:meth:`TrainStep.update`), whenever that is faster than one process (timed, now and then).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn.fused import (
    FusedNetwork,
    NetworkPlan,
    StepStats,
    UnsupportedNetworkError,
    multiply_adds,
    plan_network,
    split_rows,
)
from ..nn.losses import compute_loss
from ..nn.model import Sequential
from ..nn.optim import Optimizer
from .blas import blas_controls, blas_threads
from .layer_split import FasterOfTwo, LayerSplit
from .share_process import SharePool, ShareProcessError

log = logging.getLogger(__name__)

MIN_SHARE = 16  # smaller shares lose more to per-call overhead than a second core gains
# Forward multiply-adds a share must hold to be worth a thread: below it (the mlp: 3.5 million
# for 32 samples) the work is mostly Python-level calls on small arrays, which hold the GIL,
# and two threads were slower than one (bench/train_speed.py); the cnn's shares hold 36 million.
MIN_SHARE_WORK = 8_000_000
#: How often (seconds) the step re-reads the cores it may use and $GLASSNET_TRAIN_THREADS.
RECOUNT_S = 1.0
THREADS_ENV = "GLASSNET_TRAIN_THREADS"
PROCESSES_ENV = "GLASSNET_TRAIN_PROCESSES"


def usable_cores() -> int:
    """Cores this process may run on (``taskset`` / cgroup affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_count(batch: int, requested: int | None = None, work: int = MIN_SHARE_WORK) -> int:
    """Threads for a batch: ``requested`` (or ``$GLASSNET_TRAIN_THREADS``), else one per usable
    core, with at least MIN_SHARE samples and MIN_SHARE_WORK forward multiply-adds per thread
    (``work``: a sample's); 1 when BLAS's threads cannot be set."""
    if requested is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise ValueError(f"{THREADS_ENV} must be a whole number, got {env!r}") from None
            if requested < 1:
                raise ValueError(f"{THREADS_ENV} must be at least 1, got {requested}")
    if requested is not None:
        return max(1, min(requested, batch))
    if blas_controls() is None:
        return 1
    return max(1, min(usable_cores(), batch // MIN_SHARE, batch * work // MIN_SHARE_WORK))


@dataclass
class StepResult:
    """A batch's mean cost, how many it read right, and whether the outputs were all finite."""

    loss: float
    correct: int
    finite: bool


class _Workers:
    """Threads that each run jobs from their own queue (one job per step each)."""

    def __init__(self, count: int) -> None:
        self.jobs: list[queue.SimpleQueue[Callable[[], Any] | None]] = [
            queue.SimpleQueue() for _ in range(count)
        ]
        self.done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        for i, jobs in enumerate(self.jobs):
            threading.Thread(
                target=_work, args=(i, jobs, self.done), name=f"glassnet-train-{i + 1}", daemon=True
            ).start()

    def start(self, i: int, job: Callable[[], Any]) -> None:
        self.jobs[i].put(job)

    def wait(self, count: int) -> list[Any]:
        results: list[Any] = [None] * count
        for _ in range(count):
            i, result = self.done.get()
            results[i] = result
        return results

    def close(self) -> None:
        for jobs in self.jobs:
            jobs.put(None)


def _work(i: int, jobs: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        try:
            done.put((i, job()))
        except BaseException as exc:  # handed to the trainer's thread, which re-raises it
            done.put((i, exc))


class TrainStep:
    """Forward, cost and backward of one batch into ``model``'s gradients (see module doc).

    ``threads``: None for one share per usable core (or ``$GLASSNET_TRAIN_THREADS``); ``fused``:
    False forces the layer-by-layer path; ``processes``: False runs the shares in threads
    instead of helper processes (None: ``$GLASSNET_TRAIN_PROCESSES``, on unless "0").
    """

    def __init__(
        self, model: Sequential, threads: int | None = None, fused: bool = True, processes: bool | None = None
    ) -> None:
        self.model = model
        self.requested = threads
        if processes is None:
            processes = os.environ.get(PROCESSES_ENV, "1").strip() != "0"
        self.use_processes = processes
        self.process_error = ""  # why helper processes could not be used, once they could not
        self.plan: NetworkPlan | None = None
        self.reason = "fused path turned off"
        self.work = MIN_SHARE_WORK  # a sample's forward multiply-adds
        if fused:
            try:
                self.plan = plan_network(model)
                self.reason = ""
                self.work = multiply_adds(model, self.plan)
            except UnsupportedNetworkError as exc:
                self.reason = str(exc)
        self._pack: Any = None
        self._nets: dict[tuple[int, int], FusedNetwork] = {}
        self._grads: dict[int, Any] = {}
        self._workers: _Workers | None = None
        self._finalizer: weakref.finalize | None = None
        self._pool: SharePool | None = None
        self._pool_finalizer: weakref.finalize | None = None
        self._counts: dict[int, int] = {}  # batch size -> shares, re-read every RECOUNT_S
        self._counted = 0.0
        # A large first dense layer: a helper process for half of it (.layer_split), on 2+ cores.
        self.splits = self.plan is not None and split_rows(model, self.plan) is not None
        self._split: LayerSplit | None = None
        self._split_finalizer: weakref.finalize | None = None
        self._chooser = FasterOfTwo()
        self._helped = False  # whether the last step used the helper (then so does its update)
        self._timed = False  # whether the last step's time goes to the chooser
        self._started = 0.0  # when the last step started
        self._cores = usable_cores()  # re-read with the share counts, every RECOUNT_S

    @property
    def fused(self) -> bool:
        return self.plan is not None

    def describe(self, batch: int) -> str:
        """How a batch of this size is trained: ``"fused, 2 processes"``, ``"fused, 1 thread"`` or
        ``"layer by layer (why)"``."""
        if self.plan is None:
            return f"layer by layer ({self.reason})"
        n = self._share_count(batch) if self.model.device == "cpu" else 1
        if n > 1 and self.use_processes:
            return f"fused, {n} processes"
        if n == 1 and self._may_split():
            return "fused, first layer in 2 processes"
        return f"fused, {n} thread{'s' if n != 1 else ''}"

    def helper_pids(self) -> list[int]:
        """The process ids of the running helper processes: the shares' and the first layer's
        (none before the first step)."""
        pids = [proc.pid for proc in self._pool.procs] if self._pool is not None else []
        if self._split is not None and self._split.alive:
            pids.append(self._split.proc.pid)
        return pids

    def close(self) -> None:
        """Stop the worker threads and helper processes (also done when the step object is
        garbage-collected, and, for the helpers, when this process ends)."""
        if self._finalizer is not None:
            self._finalizer()
        self._workers = None
        if self._pool_finalizer is not None:
            self._pool_finalizer()
        self._pool = None
        self._close_split()

    def __call__(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        """x (N, *input_shape) float32, y (N,) labels -> the batch's cost; gradients in the model."""
        if self.plan is None:
            return self._layer_by_layer(x, y)
        pack = self.model.pack()
        if pack is not self._pack:  # first step, or the parameters were re-made (astype, to)
            self._pack, self._nets, self._grads = pack, {}, {}
            self._close_pool()  # the helpers built their networks for the old ones
            self._close_split()
        x, y = pack.xp.asarray(x), pack.xp.asarray(y)
        n = x.shape[0]
        count = self._share_count(n) if pack.xp is np else 1
        now = time.perf_counter()
        if self._timed:  # the last step's time, from its start to this one's
            self._chooser.record(now - self._started, now)
        chosen = count == 1 and self._may_split()
        self._helped = chosen and self._use_split(n, now)
        self._timed, self._started = chosen, now
        bounds = [n * t // count for t in range(count + 1)]
        shares = [(bounds[t], bounds[t + 1]) for t in range(count)]
        scale = 1.0 / n
        # BLAS at one thread: the shares are the parallelism (and a lone share's small products
        # lose more to waking BLAS's helper threads than they gain from them).
        with blas_threads(1):
            if count == 1:
                stats: list[StepStats | None] = [self._run_share(0, x, y, scale)]
            else:
                pool = self._share_pool(count, max(hi - lo for lo, hi in shares))
                if pool is not None:
                    stats = self._run_in_processes(pool, x, y, shares, scale)
                else:
                    stats = self._run_in_threads(x, y, shares, scale)
        done = [s for s in stats if s is not None]
        return StepResult(
            loss=sum(s.loss_sum for s in done) / n,
            correct=sum(s.correct for s in done),
            finite=all(s.finite for s in done),
        )

    def update(self, optimizer: Optimizer, lr: float | None = None) -> None:
        """The optimizer's step after this step's gradients: ``optimizer.step(pack, lr)``, with
        the first layer's helper updating its half meanwhile when it took part in the step."""
        pack = self.model.pack()
        split = self._split
        if self._helped and split is not None and split.alive and split.pack is pack:
            split.update(optimizer, lr)
        else:
            optimizer.step(pack, lr)

    def _may_split(self) -> bool:
        """Whether a helper may take half of the first layer: the network has one to split,
        on the CPU, in processes, with two cores or more, and none has failed."""
        return (
            self.splits
            and self.use_processes
            and (self._pack if self._pack is not None else self.model.pack()).xp is np  # the CPU
            and self._cores >= 2
            and not (self._split is not None and not self._split.alive)
        )

    def _use_split(self, n: int, now: float) -> bool:
        """Whether this step of ``n`` samples runs with the first layer's helper (started on
        first use; :class:`~.layer_split.FasterOfTwo` decides, from how fast each way runs)."""
        split = self._split
        if split is None or split.n_max < n:
            self._close_split()
            # The networks read the old parameter vectors and buffers: made again, whether or
            # not the helper starts (the parameters may have moved before it failed).
            self._nets, self._grads = {}, {}
            assert self.plan is not None
            try:
                split = LayerSplit(self.model, self.plan, max(n, 64))
            except (ShareProcessError, OSError) as exc:
                log.warning("the first layer stays in this process: %s", exc)
                self.splits = False
                return False
            self._split = split
            self._split_finalizer = weakref.finalize(self, split.close)
        return self._chooser.pick(now) and split.alive

    def _close_split(self) -> None:
        if self._split_finalizer is not None:
            self._split_finalizer()
        self._split = None
        self._split_finalizer = None

    def _share_count(self, n: int) -> int:
        """:func:`thread_count` for a batch of ``n``, looked up again at most every RECOUNT_S (it
        reads the environment and asks the kernel for the process's cores: not every step)."""
        now = time.monotonic()
        if now - self._counted > RECOUNT_S:
            self._counts, self._counted, self._cores = {}, now, usable_cores()
        count = self._counts.get(n)
        if count is None:
            count = self._counts[n] = thread_count(n, self.requested, self.work)
        return count

    def _run_in_threads(
        self, x: Any, y: Any, shares: list[tuple[int, int]], scale: float
    ) -> list[StepStats | None]:
        """Share 0 here, the others in worker threads; the gradients summed into the pack's."""
        count = len(shares)
        workers = self._ensure_workers(count - 1)
        stats: list[StepStats | None] = [None] * count
        claims = itertools.count()

        def take() -> None:
            # Each share goes to whichever thread asks first: a worker that the OS has not
            # scheduled yet (another program holds its core) leaves its share to the threads
            # that are running instead of holding up the step.
            while (i := next(claims)) < count:
                lo, hi = shares[i]
                stats[i] = self._run_share(i, x[lo:hi], y[lo:hi], scale)

        for t in range(count - 1):
            workers.start(t, take)
        try:
            take()
        finally:  # even when this thread failed: no worker may still be running
            errors = [r for r in workers.wait(count - 1) if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        for t in range(1, count):  # in a fixed order: the same sums every run
            self._pack.grad += self._grads[t]
        return stats

    def _run_in_processes(
        self, pool: SharePool, x: Any, y: Any, shares: list[tuple[int, int]], scale: float
    ) -> list[StepStats | None]:
        """Share 0 here, share t in helper process t - 1; the gradients summed into the pack's
        in the same order as the threads' (the same numbers). A helper that has died or stopped
        answering has its share run here instead, and later steps use threads."""
        count = len(shares)
        pack = self._pack
        pool.load_params(pack.data)
        stats: list[StepStats | None] = [None] * count
        sent: list[int] = []
        lost: ShareProcessError | None = None
        for t in range(1, count):
            lo, hi = shares[t]
            try:
                pool.start(t - 1, x[lo:hi], y[lo:hi], scale)
            except ShareProcessError as exc:
                lost = exc
                break
            sent.append(t)
        errors: list[BaseException] = []
        try:
            try:
                lo, hi = shares[0]
                stats[0] = self._run_share(0, x[lo:hi], y[lo:hi], scale)
            finally:  # every answer is read, even when share 0 failed: the pipes stay in step
                for t in sent:
                    if lost is not None:
                        break  # the pool is being given up: its answers no longer matter
                    try:
                        stats[t] = pool.finish(t - 1)
                    except ShareProcessError as exc:
                        lost = exc
                    except Exception as exc:  # the share's own error, raised below
                        errors.append(exc)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C while answers were pending: the pipes
                self._close_pool(wait=0.5)  # are out of step; the next step starts new helpers
            raise
        if lost is not None:
            self._lose_pool(lost)
        if errors:
            raise errors[0]
        for t in range(1, count):  # in a fixed order: the same sums every run
            if stats[t] is None:  # its helper is gone: run the share here
                lo, hi = shares[t]
                stats[t] = self._run_share(t, x[lo:hi], y[lo:hi], scale)
                pack.grad += self._grads[t]
            else:
                pack.grad += pool.grad(t - 1)
        return stats

    def _share_pool(self, count: int, share: int) -> SharePool | None:
        """Helper processes for ``count`` shares of up to ``share`` samples, started on first
        use; None where the step runs its shares in threads instead."""
        if not self.use_processes:
            return None
        pool = self._pool
        if pool is not None and pool.count == count - 1 and pool.share >= share:
            return pool
        self._close_pool()  # the wrong number of helpers, or blocks too small for this share
        try:
            self._pool = SharePool(self.model, count - 1, share)
        except (ShareProcessError, OSError) as exc:
            self._lose_pool(exc)
            return None
        self._pool_finalizer = weakref.finalize(self, self._pool.close)
        return self._pool

    def _lose_pool(self, exc: BaseException) -> None:
        """No helper processes from now on: say why once, and use threads."""
        log.warning("training in threads instead of helper processes: %s", exc)
        self.use_processes = False
        self.process_error = str(exc)
        self._close_pool(wait=0.5)  # one that stopped answering will not start again

    def _close_pool(self, wait: float = 5.0) -> None:
        """Let the helpers go (each exits when its pipe closes; killed after ``wait`` s)."""
        if self._pool is not None:
            self._pool.close(wait=wait)
            self._pool = None

    def _run_share(self, t: int, x: Any, y: Any, scale: float) -> StepStats:
        key = (t, x.shape[0])
        net = self._nets.get(key)
        if net is None:
            assert self.plan is not None
            if t not in self._grads:
                self._grads[t] = self._pack.grad if t == 0 else self._pack.zeros()
            split = self._split if t == 0 else None
            # Share 0 of a batch shared out across the cores can be larger than the block (and
            # runs without the helper): it keeps buffers of its own then.
            fits = split is not None and x.shape[0] <= split.n_max
            buffers = split.buffers(x.shape[0]) if fits else None
            net = FusedNetwork(self.model, self.plan, self._pack, x.shape[0], self._grads[t], buffers=buffers)
            self._nets[key] = net
        if t == 0 and self.splits:
            net.blocks[0].helper = self._split if self._helped else None  # type: ignore[union-attr]
        # Overflow is not an error here: the trainer reports a diverging run from the cost.
        with np.errstate(over="ignore", invalid="ignore"):
            return net.run(x, y, scale)

    def _ensure_workers(self, count: int) -> _Workers:
        if self._workers is None or len(self._workers.jobs) != count:
            self.close()
            self._workers = _Workers(count)
            self._finalizer = weakref.finalize(self, self._workers.close)
        return self._workers

    def _layer_by_layer(self, x: np.ndarray, y: np.ndarray) -> StepResult:
        model = self.model
        xp = model.pack().xp
        x, y = xp.asarray(x), xp.asarray(y)
        with np.errstate(over="ignore", invalid="ignore"):
            out = model.forward(x, train=True)
            loss, dout = compute_loss(model.loss, out, y)
        finite = bool(xp.isfinite(out).all())
        if finite and np.isfinite(loss):
            model.backward(dout)
        return StepResult(loss=loss, correct=int((out.argmax(axis=1) == y).sum()), finite=finite)


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)
