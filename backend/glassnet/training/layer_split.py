"""A large first dense layer on two cores: a helper process owns half of its input rows.

Why: the mlp's batch of 64 is too little work to split the batch itself between two processes
(each share pays the ~40 NumPy calls of a step again, and the weights and gradients cross
between the cores every step: 0.96× of one process at best, :mod:`.step`). But two thirds of its
step are three things done on the first layer's 785 × 128 weights: the forward product ``W^T h``,
the weight gradient ``h g^T``, and the optimizer's pass over them. Cut by input rows
(:func:`glassnet.nn.fused.split_rows`), each half is independent: the helper computes the
second half's part of ``W^T h`` (the trainer adds the two parts), that half's rows of dW, and
the optimizer's update of those rows — so its weights, gradients and optimizer state stay in its
core's cache, and only the batch's second half (100 KB) and two (128, 64) blocks cross. Measured
on the 2-core machine in a prototype: a step 0.69–0.71× of one process's; with the optimizer
left to the trainer (the helper's core fetching its freshly written weights every step) 0.88×.

How: one shared memory block (a Linux memfd, as :mod:`.share_process`) holds the parameters,
their gradients and the optimizer's flat state (the pack and the optimizer are moved there:
:meth:`~glassnet.nn.params.ParamPack.move_to`, :meth:`~glassnet.nn.optim.Optimizer.place_state`,
so checkpoints and the dashboard read them as before), the first layer's input (D + 1, n) and
its part (U, n) and error (U, n). Per step three commands, each a few struct-packed bytes on the
helper's stdin with a doorbell beside them (:func:`~.share_process.wait_for_bell`): FORWARD,
BACKWARD, UPDATE (with the optimizer's settings and step number); each answered with one byte.

Under load the helper loses: with another busy program on the two cores it waits for a core at
every hand-over, and a step took 2.3× one process's in the prototype. So :class:`FasterOfTwo`
times both ways now and then and keeps the faster. Both give the same numbers: the cut is the
network's, not the helper's, and a step without the helper makes the same products itself.

A helper that dies, stops answering or fails has its part done by the trainer, then and from
then on (:attr:`LayerSplit.lost` says why): the run loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import signal
import statistics
import struct
import sys
from collections import deque
from typing import Any

import numpy as np

from ..nn.fused import NetworkPlan, split_rows
from ..nn.model import Sequential
from ..nn.optim import SGD, Adam, Optimizer
from .share_process import (
    ANSWERS,
    COMMANDS,
    READY,
    ShareProcessError,
    aligned,
    close_helpers,
    error_bytes,
    read_error,
    read_exact,
    rebuilt_error,
    start_helper,
    wait_for_bell,
    wait_ready,
    write_all,
)

log = logging.getLogger(__name__)

FORWARD, BACKWARD, UPDATE = 1, 2, 3
#: trainer -> helper: phase, optimizer (0 plain SGD, 1 SGD with momentum, 2 Adam), batch size,
#: the optimizer's step number, lr, weight decay, momentum or beta1, beta2, eps.
COMMAND = struct.Struct("<BBqq5d")
#: helper -> trainer: 0 done, 1 failed (then the error, as share_process.error_bytes writes it).
ANSWER = struct.Struct("<B")
#: How long the trainer waits for one answer before it gives the helper up (its part takes
#: ~0.1 ms; a helper stopped or starved this long is better done without).
ANSWER_TIMEOUT_S = 30.0
STATE_SLOTS = 2  # Adam's m and v; SGD with momentum uses one


def optimizer_settings(optimizer: Optimizer) -> tuple[int, float, float, float]:
    """What the helper needs to update as ``optimizer`` does: how (0 plain SGD, 1 SGD with
    momentum, 2 Adam), and momentum or beta1, beta2, eps."""
    if isinstance(optimizer, Adam):
        return 2, optimizer.beta1, optimizer.beta2, optimizer.eps
    if isinstance(optimizer, SGD):
        return (1 if optimizer.momentum else 0), optimizer.momentum, 0.0, 0.0
    raise ValueError(f"no helper update for {type(optimizer).__name__}")


def block_layout(size: int, d: int, u: int, n_max: int, item: int) -> dict[str, int]:
    """Byte offsets in the shared block: doorbell, parameters, gradients, STATE_SLOTS optimizer
    state vectors (``size`` numbers each), the first layer's input (d × n_max), part and error
    (u × n_max each), and the block's size."""
    offsets: dict[str, int] = {"bell": 0}
    offset = aligned(16)
    for name, count in (
        ("data", size),
        ("grad", size),
        *((f"state{i}", size) for i in range(STATE_SLOTS)),
        ("input", d * n_max),
        ("part", u * n_max),
        ("error", u * n_max),
    ):
        offsets[name] = offset
        offset = aligned(offset + count * item)
    offsets["nbytes"] = offset
    return offsets


def block_views(buf: Any, header: dict, n: int) -> dict[str, Any]:
    """Views of the shared block for a batch of ``n``: ``bell`` (two int64 counters), ``data``,
    ``grad``, ``state0``… (flat), ``input`` (d, n), ``part`` and ``error`` (u, n)."""
    dtype, size, d, u = np.dtype(header["dtype"]), header["size"], header["d"], header["u"]
    at = header["layout"]
    views: dict[str, Any] = {"bell": np.frombuffer(buf, dtype=np.int64, count=2, offset=at["bell"])}
    for name in ("data", "grad", *(f"state{i}" for i in range(STATE_SLOTS))):
        views[name] = np.frombuffer(buf, dtype=dtype, count=size, offset=at[name])
    views["input"] = np.frombuffer(buf, dtype=dtype, count=d * n, offset=at["input"]).reshape(d, n)
    for name in ("part", "error"):
        views[name] = np.frombuffer(buf, dtype=dtype, count=u * n, offset=at[name]).reshape(u, n)
    return views


class LayerSplit:
    """The helper process for ``model``'s first dense layer, for batches of up to ``n_max``.

    Making one moves the model's parameters and gradients into the shared block. The
    :class:`~glassnet.nn.fused.DenseBlock` calls :meth:`forward`, :meth:`backward` and
    :meth:`wait`; the trainer's step calls :meth:`update` instead of the optimizer's ``step``."""

    def __init__(self, model: Sequential, plan: NetworkPlan, n_max: int) -> None:
        if not hasattr(os, "memfd_create"):
            raise ShareProcessError("a helper process needs memfd_create (Linux)")
        rows = split_rows(model, plan)
        if rows is None:
            raise ValueError("the network's first layer is not split")
        first = plan.blocks[0].main
        pack = model.pack()
        d, u = pack.packed(pack.data, first).shape
        offset = next(o for i, o, _ in pack.segments if i == first)
        #: the helper's slice of the flat vectors: the first layer's rows [rows, d)
        self.lo, self.hi = offset + rows * u, offset + d * u
        self.rows, self.d, self.u, self.n_max = rows, d, u, n_max
        self.lost = ""  # why the helper was given up, once it was
        dtype = pack.data.dtype
        self.header: dict[str, Any] = {
            "dtype": dtype.str,
            "size": pack.size,
            "d": d,
            "u": u,
            "rows": rows,
            "lo": self.lo,
            "hi": self.hi,
            "layout": block_layout(pack.size, d, u, n_max, dtype.itemsize),
        }
        nbytes = self.header["layout"]["nbytes"]
        fd = os.memfd_create("glassnet-layer-split", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, nbytes)
            self.buf = mmap.mmap(fd, nbytes)
            self._views: dict[int, dict[str, Any]] = {}
            whole = self.views(n_max)
            pack.move_to(whole["data"], whole["grad"])
            self.pack = pack
            self.proc = start_helper("glassnet.training.layer_split", self.header, fd)
            self.sent = 0
            self.bell = whole["bell"]
            try:  # then the decay mask's slice (1 on weights, 0 on biases), which it cannot know
                wait_ready(self.proc)
                assert self.proc.stdin is not None
                write_all(self.proc.stdin, pack.decay_mask[self.lo : self.hi].tobytes())
            except BaseException:
                close_helpers([self.proc], 0.5)
                raise
        finally:
            os.close(fd)  # the mapping and the helper keep the block alive

    def views(self, n: int) -> dict[str, Any]:
        """The shared block's views for a batch of ``n`` (see :func:`block_views`)."""
        if n > self.n_max:
            raise ValueError(f"a batch of {n}, the shared block holds {self.n_max}")
        views = self._views.get(n)
        if views is None:
            views = self._views[n] = block_views(self.buf, self.header, n)
        return views

    def buffers(self, n: int) -> dict[str, Any]:
        """The first dense block's input and part buffers for batches of ``n``, in the block."""
        views = self.views(n)
        return {"input": views["input"], "part": views["part"]}

    @property
    def alive(self) -> bool:
        return not self.lost

    # -- the steps' hand-overs ------------------------------------------------------------
    def forward(self, n: int) -> bool:
        """Ask for the part ``W[rows:]^T h[rows:]`` of a batch of ``n`` (the input is in place);
        False when there is no helper to ask (the caller makes the part)."""
        return self._send(FORWARD, n)

    def backward(self, g: Any) -> bool:
        """Ask for dW's rows [rows, d) = ``h[rows:] g^T``, given the layer's error g (U, n);
        False when there is no helper to ask."""
        n = g.shape[1]
        np.copyto(self.views(n)["error"], g)
        return self._send(BACKWARD, n)

    def update(self, optimizer: Optimizer, lr: float | None = None) -> None:
        """One optimizer step: the helper updates its slice while this process does the rest
        (the optimizer's state is moved into the shared block first, once)."""
        pack = self.pack
        whole = self.views(self.n_max)
        for i, kind in enumerate(optimizer.state_kinds):
            optimizer.place_state(pack, kind, whole[f"state{i}"])
        rate = float(optimizer.lr if lr is None else lr)
        code, a, b, eps = optimizer_settings(optimizer)
        sent = self._send(UPDATE, 0, (code, optimizer.steps + 1, rate, optimizer.weight_decay, a, b, eps))
        optimizer.step(pack, rate, skip=(self.lo, self.hi))
        if not (sent and self.wait()):  # the helper is gone: its slice is updated here, alike
            optimizer.update_range(pack, self.lo, self.hi, rate)

    def _send(self, phase: int, n: int, settings: tuple = (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)) -> bool:
        """Send one command; False when the helper is gone (then nothing is awaited)."""
        if self.lost:
            return False
        code, steps, lr, wd, a, b, eps = settings
        try:
            assert self.proc.stdin is not None
            write_all(self.proc.stdin, COMMAND.pack(phase, code, n, steps, lr, wd, a, b, eps))
        except OSError as exc:
            self._lose(f"the helper process has stopped ({exc})")
            return False
        self.sent += 1
        self.bell[COMMANDS] = self.sent  # after the write: the bytes are there
        return True

    def wait(self) -> bool:
        """Wait for the answer to the command sent; True when the helper did its part. When it
        did not (it failed, died or stopped answering), it is given up and False says the
        caller must make the part itself."""
        try:
            self._answer()
            return True
        except ShareProcessError as exc:
            self._lose(str(exc))
        except Exception as exc:  # the helper's own error
            self._lose(f"the helper process failed: {exc}")
        return False

    def _answer(self) -> None:
        proc = self.proc
        assert proc.stdout is not None
        rang = wait_for_bell(self.bell, ANSWERS, self.sent)
        try:
            timeout = None if rang else ANSWER_TIMEOUT_S
            (status,) = ANSWER.unpack(read_exact(proc.stdout, ANSWER.size, timeout))
            message = read_error(proc.stdout) if status else ""
        except (EOFError, TimeoutError, OSError) as exc:
            raise ShareProcessError(f"the helper process stopped answering ({exc})") from exc
        if status:
            kind, _, text = message.partition(": ")
            raise rebuilt_error(kind, text)

    def _lose(self, why: str) -> None:
        log.warning("the first layer's helper process is given up: %s", why)
        self.lost = why
        close_helpers([self.proc], 0.5)

    def close(self, wait: float = 5.0) -> None:
        """Let the helper go (the shared block stays: the parameters live in it)."""
        if not self.lost:
            self.lost = "closed"
            close_helpers([self.proc], wait)


class FasterOfTwo:
    """Which of two ways to run a step is faster now, found by timing both.

    The way in use is timed all along (its latest :attr:`turn` steps). Every :attr:`keep_s`
    seconds the other way gets a turn of :attr:`turn` steps, and then the faster by the median
    of its latest steps is kept. The first step after a switch is not counted (it pays for the
    switch: a helper asleep in its pipe's read must be woken). ``True`` (the helper) starts.
    Costs at most a turn of the slower way every ``keep_s``: ~0.1% of the time on a quiet
    machine, ~0.5% on a loaded one."""

    def __init__(self, turn: int = 12, keep_s: float = 2.0) -> None:
        self.turn, self.keep_s = turn, keep_s
        self.recent: dict[bool, deque[float]] = {True: deque(maxlen=turn), False: deque(maxlen=turn)}
        self.way = True
        self.trial = turn  # steps left in the current way's turn (0: it is being kept)
        self.skip = 1  # steps not to count
        self.keep_until = 0.0

    def pick(self, now: float) -> bool:
        """The way to run the next step (call :meth:`record` after it)."""
        if not self.trial and now >= self.keep_until:
            self._switch(not self.way, trial=True)
        return self.way

    def record(self, seconds: float, now: float) -> None:
        """How long the step just run took (from its start to the next one's)."""
        if self.skip:
            self.skip -= 1
            return
        self.recent[self.way].append(seconds)
        if not self.trial:
            return
        self.trial -= 1
        if self.trial:
            return
        other = not self.way
        if not self.recent[other]:  # the first round: now the other's first turn
            self._switch(other, trial=True)
            return
        best = min((True, False), key=lambda way: statistics.median(self.recent[way]))
        if best != self.way:
            self._switch(best, trial=False)
        self.keep_until = now + self.keep_s

    def _switch(self, way: bool, trial: bool) -> None:
        self.way, self.skip = way, 1
        self.trial = self.turn if trial else 0
        if trial:
            self.recent[way].clear()  # a fresh measure of the way on trial


# -- the helper's side ------------------------------------------------------------------------


def serve(stdin: Any, stdout: Any) -> None:
    """The helper's loop: map the block, then do each command until the pipe closes."""
    header = json.loads(stdin.readline())
    dtype = np.dtype(header["dtype"])
    buf = mmap.mmap(header["fd"], header["layout"]["nbytes"])
    os.close(header["fd"])
    rows, u, lo, hi = header["rows"], header["u"], header["lo"], header["hi"]
    stdout.write(READY)
    stdout.flush()
    decay_mask = np.frombuffer(read_exact(stdin, (hi - lo) * dtype.itemsize), dtype=dtype)
    views: dict[int, dict[str, Any]] = {}
    whole = block_views(buf, header, 1)
    w, dw = whole["data"][lo:hi].reshape(-1, u), whole["grad"][lo:hi].reshape(-1, u)
    states = [whole[f"state{i}"][lo:hi] for i in range(STATE_SLOTS)]
    scratch = [np.empty(hi - lo, dtype=dtype) for _ in range(2)]
    mask = np.empty(hi - lo, dtype=bool)
    optimizers: dict[int, Optimizer] = {0: SGD(0.1), 1: SGD(0.1, 0.9), 2: Adam(0.1)}
    bell, done = whole["bell"], 0
    while True:
        wait_for_bell(bell, COMMANDS, done + 1)
        try:
            phase, code, n, steps, lr, wd, a, b, eps = COMMAND.unpack(read_exact(stdin, COMMAND.size))
        except EOFError:
            return
        try:
            if phase in (FORWARD, BACKWARD):
                v = views.get(n)
                if v is None:
                    v = views[n] = block_views(buf, header, n)
                h = v["input"][rows:]
                if phase == FORWARD:
                    np.matmul(w.T, h, out=v["part"])
                else:
                    np.matmul(h, v["error"].T, out=dw)
            elif phase == UPDATE:
                opt = optimizers[code]
                opt.steps, opt.weight_decay = steps, wd
                if isinstance(opt, Adam):
                    opt.beta1, opt.beta2, opt.eps = a, b, eps
                    kinds = {"m": states[0], "v": states[1]}
                else:
                    opt.momentum = a
                    kinds = {"velocity": states[0]} if code == 1 else {}
                with np.errstate(over="ignore", invalid="ignore"):
                    opt.update_slice(w.reshape(-1), dw.reshape(-1), kinds, decay_mask, scratch, mask, lr)
            else:
                raise ValueError(f"unknown phase {phase}")
            answer = ANSWER.pack(0)
        except Exception as exc:  # reported to the trainer, which does the part itself
            answer = ANSWER.pack(1) + error_bytes(exc)
        stdout.write(answer)
        stdout.flush()
        done += 1
        bell[ANSWERS] = done  # after the write: the trainer's read will not sleep


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer handles Ctrl-C; its pipe ends us
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError):
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
