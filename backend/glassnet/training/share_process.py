"""Helper processes that each run one share of every batch: the fused step's parallelism
without Python's global interpreter lock.

Why processes: :mod:`.step` splits a batch into shares, one per core, and each share runs the
whole fused network (:mod:`glassnet.nn.fused`). Run as threads, the shares do release the GIL
inside every large NumPy call, but each share makes about a hundred calls per step and must
take the GIL back after each one: two threads in lock-step queue for it, and every handover is
a wake-up on the other core. Measured on the 2-core machine with the cnn preset, a share of 32
took 3.9 ms alone, 4.0 ms in a second *process* beside another (so the cores and memory do not
get in each other's way), but 4.4 ms as a thread beside a free-running thread and 5.2 ms as a
thread in the trainer's lock-step: a third of the second core went to the lock.

How: each helper is a fresh interpreter (``python -m glassnet.training.share_process``,
started once per :class:`SharePool`) that builds the same network from its spec (JSON) and
waits for work (:mod:`.layer_split`'s helper is started, and answers, the same way). The
numbers cross through one shared memory block (a Linux ``memfd``, mapped by
both sides; nothing is pickled): the parameters, and for each helper its share of the batch
and the gradient it leaves behind. Each step the trainer copies the parameters in, writes the
helpers' inputs, sends each a 17-byte command on its stdin, runs share 0 itself, reads each
helper's 19-byte answer (the share's summed cost, correct answers, finiteness) and adds the
helpers' gradients to its own in a fixed order (the same numbers as the threads give). A
helper reads its commands from a pipe only its parent holds: when the trainer ends or is
killed, the pipe closes and the helper exits.

**Doorbells.** A pipe alone makes every hand-over a wake-up: the reader sleeps in ``read``
and the kernel must wake it, on this 2-core virtual machine about 33 µs each way (a pipe
round trip took 65–72 µs, against 0.5 µs for two processes watching a number in shared
memory). That is nothing beside the cnn's 4 ms share but as much as half of the mlp's. So each
side, right after writing to its pipe, also counts up a number in the shared block (the
helper's doorbell), and the other side, before it reads the pipe, watches that number for up to
:data:`SPIN_S` (yielding the core at every look, so another program waiting for it gets it).
When the number moves, the bytes are already in the pipe and the read does not sleep; when
it does not move in time, the read sleeps as before. The pipe stays the only channel: a
doorbell is just a hint that a read will not block, so a missed or early one costs time, never
a wrong answer.

Where processes cannot run (no ``memfd_create``: not Linux), :class:`SharePool` raises
:class:`ShareProcessError` and the trainer keeps to threads.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..nn.fused import FusedNetwork, StepStats, plan_network
from ..nn.model import Sequential

#: trainer -> helper: share size (samples), gradient scale. A size of 0 asks the helper to exit.
COMMAND = struct.Struct("<qd")
#: helper -> trainer: summed cost, correct answers, all outputs finite, status (0 ok, 1 error;
#: an error is followed by a 4-byte length and the message, "TypeName: text", in UTF-8).
ANSWER = struct.Struct("<dqBB")
ERROR_LENGTH = struct.Struct("<I")
READY = b"ready\n"  # the helper's first words, once its network is built
MAX_ERROR = 4096
#: How long a helper may take to start (import NumPy, build the network) and to run one share
#: before the trainer gives up on it and runs its shares in threads.
START_TIMEOUT_S = 120.0
STEP_TIMEOUT_S = 300.0
_ALIGN = 64  # every array in the shared block starts on a cache line
#: How long a side watches the other's doorbell before it sleeps in the pipe's read: longer
#: than the trainer's work between two steps (the optimizer step, the next batch: a few
#: hundred µs), short enough that a trainer busy elsewhere (validation, a checkpoint) costs
#: its helpers next to nothing.
SPIN_S = 0.002
#: Where a helper's two counters sit in its doorbell (one cache line per helper): commands
#: sent by the trainer, answers sent by the helper.
COMMANDS, ANSWERS = 0, 1


class ShareProcessError(RuntimeError):
    """A helper process could not start, or stopped answering."""


def aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def shared_layout(size: int, share: int, input_shape: tuple[int, ...], dtype: np.dtype, helpers: int) -> dict:
    """Byte offsets in the shared block: the doorbells (a cache line per helper), the
    parameters (``size`` numbers), then per helper its gradient (``size``), its inputs
    (``share`` × input) and labels (``share`` int64)."""
    item = np.dtype(dtype).itemsize
    bells = 0
    offset = aligned(helpers * _ALIGN)
    params = offset
    offset = aligned(offset + size * item)
    blocks = []
    for _ in range(helpers):
        grad = offset
        offset = aligned(offset + size * item)
        x = offset
        offset = aligned(offset + share * math.prod(input_shape) * item)
        y = offset
        offset = aligned(offset + share * 8)
        blocks.append({"grad": grad, "x": x, "y": y})
    return {"bells": bells, "params": params, "helpers": blocks, "nbytes": max(offset, _ALIGN)}


def shared_views(buf: Any, header: dict, index: int | None) -> dict[str, np.ndarray]:
    """NumPy views of the shared block: ``params``, and helper ``index``'s ``bell`` (its two
    int64 counters), ``grad``, ``x``, ``y``. ``header``: ``size``, ``share``, ``input_shape``,
    ``dtype`` and ``layout`` (as sent)."""
    dtype, size, share = np.dtype(header["dtype"]), header["size"], header["share"]
    layout, shape = header["layout"], tuple(header["input_shape"])
    views = {"params": np.frombuffer(buf, dtype=dtype, count=size, offset=layout["params"])}
    if index is not None:
        block = layout["helpers"][index]
        views["bell"] = np.frombuffer(buf, dtype=np.int64, count=2, offset=layout["bells"] + index * _ALIGN)
        views["grad"] = np.frombuffer(buf, dtype=dtype, count=size, offset=block["grad"])
        x = np.frombuffer(buf, dtype=dtype, count=share * math.prod(shape), offset=block["x"])
        views["x"] = x.reshape(share, *shape)
        views["y"] = np.frombuffer(buf, dtype=np.int64, count=share, offset=block["y"])
    return views


def read_exact(stream: Any, n: int, timeout: float | None = None) -> bytes:
    """``n`` bytes from a pipe; EOFError when it closes first, TimeoutError after ``timeout``
    seconds without data (None: wait as long as it takes)."""
    data = b""
    while len(data) < n:
        if timeout is not None and not select.select([stream], [], [], timeout)[0]:
            raise TimeoutError(f"no answer in {timeout:.0f} s")
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        data += chunk
    return data


def wait_for_bell(bell: np.ndarray, which: int, count: int, spin: float | None = None) -> bool:
    """Watch ``bell[which]`` for up to ``spin`` seconds (default :data:`SPIN_S`) until it
    reaches ``count``; whether it did (then the pipe holds the bytes it announces). Yields the
    core at every look."""
    if bell[which] >= count:
        return True
    deadline = time.perf_counter() + (SPIN_S if spin is None else spin)
    while time.perf_counter() < deadline:
        os.sched_yield()
        if bell[which] >= count:
            return True
    return False


def write_all(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) :]


def start_helper(module: str, header: dict, fd: int) -> subprocess.Popen:
    """Start ``python -m module`` with the shared block's ``fd`` and send it ``header`` (one
    JSON line); :func:`wait_for_ready` then waits for its first words."""
    header = {**header, "fd": fd}
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,  # raw pipes: select() sees every byte that has not been read
        pass_fds=(fd,),
        env=helper_environment(),
    )
    assert proc.stdin is not None
    try:
        write_all(proc.stdin, json.dumps(header).encode() + b"\n")
    except OSError as exc:
        proc.kill()
        proc.wait()
        raise ShareProcessError(f"a helper process did not start ({exc})") from exc
    return proc


def wait_ready(proc: subprocess.Popen) -> None:
    """Wait for a helper's :data:`READY` (at most START_TIMEOUT_S)."""
    assert proc.stdout is not None
    try:
        line = read_exact(proc.stdout, len(READY), START_TIMEOUT_S)
    except (EOFError, TimeoutError, OSError) as exc:
        proc.kill()
        code = proc.wait()
        raise ShareProcessError(f"a helper process did not start ({exc}; exit code {code})") from exc
    if line != READY:
        raise ShareProcessError(f"a helper process answered {line!r} instead of {READY!r}")


def read_error(stream: Any) -> str:
    """The message after an answer whose status says error (a length, then UTF-8 text)."""
    (length,) = ERROR_LENGTH.unpack(read_exact(stream, ERROR_LENGTH.size, STEP_TIMEOUT_S))
    if length > MAX_ERROR:
        raise OSError(f"an error message of {length} bytes")
    return read_exact(stream, length, STEP_TIMEOUT_S).decode("utf-8", "replace")


def error_bytes(exc: BaseException) -> bytes:
    """An exception as the helper reports it: length, then "TypeName: text" in UTF-8."""
    message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:MAX_ERROR]
    return ERROR_LENGTH.pack(len(message)) + message


def close_helpers(procs: list[subprocess.Popen], wait: float) -> None:
    """Close each helper's pipe (it exits when it sees that); kill any still there after ``wait`` s."""
    for proc in procs:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class SharePool:
    """``helpers`` helper processes for ``model``, each taking shares of up to ``share`` samples."""

    def __init__(self, model: Sequential, helpers: int, share: int) -> None:
        if not hasattr(os, "memfd_create"):
            raise ShareProcessError("helper processes need memfd_create (Linux)")
        pack = model.pack()
        self.size, self.share, self.count = pack.size, share, helpers
        dtype = pack.data.dtype
        shape = tuple(model.input_shape)
        header = {
            "spec": model.spec(),
            "dtype": dtype.str,
            "size": self.size,
            "share": share,
            "input_shape": list(shape),
            "layout": shared_layout(self.size, share, shape, dtype, helpers),
        }
        nbytes = header["layout"]["nbytes"]
        fd = os.memfd_create("glassnet-shares", os.MFD_CLOEXEC)
        self.procs: list[subprocess.Popen] = []
        self.sent = [0] * helpers  # commands sent to each helper (its doorbell's count)
        try:
            os.ftruncate(fd, nbytes)
            self.buf = mmap.mmap(fd, nbytes)
            self.params = shared_views(self.buf, header, None)["params"]
            self.views = [shared_views(self.buf, header, i) for i in range(helpers)]
            for i in range(helpers):
                self.procs.append(start_helper("glassnet.training.share_process", {**header, "index": i}, fd))
            for proc in self.procs:
                wait_ready(proc)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(fd)  # the mapping and the helpers keep the block alive

    def start(self, index: int, x: np.ndarray, y: np.ndarray, scale: float) -> None:
        """Hand helper ``index`` its share (call :meth:`load_params` first)."""
        n = x.shape[0]
        views = self.views[index]
        np.copyto(views["x"][:n], x)
        np.copyto(views["y"][:n], y)
        proc = self.procs[index]
        assert proc.stdin is not None
        try:
            write_all(proc.stdin, COMMAND.pack(n, scale))
        except OSError as exc:
            raise ShareProcessError(f"helper process {index + 1} has stopped ({exc})") from exc
        self.sent[index] += 1
        views["bell"][COMMANDS] = self.sent[index]  # after the write: the bytes are there

    def load_params(self, data: np.ndarray) -> None:
        np.copyto(self.params, data)

    def finish(self, index: int) -> StepStats:
        """Wait for helper ``index``'s answer; its gradient is then in ``grad(index)``.

        An error in the helper's share is raised here as the same built-in exception type
        (a ``RuntimeError`` for any other); a helper that died raises :class:`ShareProcessError`."""
        proc = self.procs[index]
        assert proc.stdout is not None
        # The bell rang: the answer is in the pipe, and reading it needs no select() first.
        rang = wait_for_bell(self.views[index]["bell"], ANSWERS, self.sent[index])
        try:
            answer = read_exact(proc.stdout, ANSWER.size, None if rang else STEP_TIMEOUT_S)
            loss_sum, correct, finite, status = ANSWER.unpack(answer)
            message = ""
            if status:
                message = read_error(proc.stdout)
        except (EOFError, TimeoutError, OSError) as exc:
            raise ShareProcessError(f"helper process {index + 1} stopped answering ({exc})") from exc
        if status:
            kind, _, text = message.partition(": ")
            raise rebuilt_error(kind, text)
        return StepStats(loss_sum, int(correct), bool(finite))

    def grad(self, index: int) -> np.ndarray:
        return self.views[index]["grad"]

    def close(self, wait: float = 5.0) -> None:
        """Ask every helper to exit (closing its pipe does); kill any still there after ``wait``
        seconds."""
        close_helpers(self.procs, wait)
        self.procs = []


def rebuilt_error(kind: str, text: str) -> BaseException:
    """The helper's exception as the same built-in type where there is one."""
    import builtins

    cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        with contextlib.suppress(Exception):
            return cls(f"{text} (in a helper process)")
    return RuntimeError(f"{kind}: {text} (in a helper process)")


def helper_environment() -> dict[str, str]:
    """The parent's environment, with BLAS at one thread (the helpers are the parallelism) and
    the folder holding this ``glassnet`` first on the path (a checkout run without installing)."""
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# -- the helper's side ------------------------------------------------------------------------


def serve(stdin: Any, stdout: Any) -> None:
    """The helper's loop: build the network from the header, then run shares until told to stop
    (a share size of 0, or the parent closing the pipe)."""
    header = json.loads(stdin.readline())
    dtype = np.dtype(header["dtype"])
    model = Sequential.from_spec(header["spec"], np.random.default_rng(0))
    if model.pack().data.dtype != dtype:
        model.astype(dtype)
    plan = plan_network(model)
    pack = model.pack()
    size, share = header["size"], header["share"]
    if pack.size != size:
        raise ValueError(f"the network has {pack.size} parameters, the trainer's {size}")
    buf = mmap.mmap(header["fd"], header["layout"]["nbytes"])
    os.close(header["fd"])
    views = shared_views(buf, header, header["index"])
    nets: dict[int, FusedNetwork] = {}
    bell, done = views["bell"], 0
    stdout.write(READY)
    stdout.flush()
    while True:
        wait_for_bell(bell, COMMANDS, done + 1)
        try:
            n, scale = COMMAND.unpack(read_exact(stdin, COMMAND.size))
        except EOFError:
            return
        if n <= 0:
            return
        try:
            if n > share:
                raise ValueError(f"a share of {n} samples, the shared block holds {share}")
            net = nets.get(n)
            if net is None:  # reads the trainer's parameters where they are, in the shared block
                net = nets[n] = FusedNetwork(model, plan, pack, n, views["grad"], views["params"])
            with np.errstate(over="ignore", invalid="ignore"):
                stats = net.run(views["x"][:n], views["y"][:n], scale)
            answer = ANSWER.pack(stats.loss_sum, stats.correct, stats.finite, 0)
        except Exception as exc:  # reported to the trainer, which raises it there
            answer = ANSWER.pack(0.0, 0, 0, 1) + error_bytes(exc)
        stdout.write(answer)
        stdout.flush()
        done += 1
        bell[ANSWERS] = done  # after the write: the trainer's read will not sleep


def main() -> None:
    # Ctrl-C reaches the whole process group: the trainer handles it, and the helper ends when
    # the trainer closes its pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answers go out on the original stdout; anything else that writes to stdout (a
    # warning printed by a library) goes to stderr instead of into the answers.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError):  # the trainer is gone: nothing to answer
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
