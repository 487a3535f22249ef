"""Plain predictions in a second process: the server's other core reads the digits.

Under a class's predictions one ``glassnet serve`` process was the bottleneck while the
machine's second core sat idle: the event loop (HTTP, the middlewares) and the batch thread
(parsing the grid, preparing the digit, the forward pass, the answer's JSON) share one GIL, so
the process never used more than one core (measured on a 2-core AMD EPYC under 32 clients:
0.99 cores for the server, 1.07 of 2 for the whole machine, wrk included). A
:class:`PredictProcess` is a child process (:mod:`.predictchild`) that does the second half —
from the request's body to the answer's bytes — for the express lane (:mod:`.predictlane`); the
event loop keeps the HTTP.

The two talk over the child's stdin and stdout in frames of plain bytes (no pickle; the pipes
are the server's own, nothing else can reach them):

* request: ``<IBHHI`` — id, flags (1: activations), the model id's length, the checkpoint
  path's length, the body's length — then the model id (UTF-8), the path (the file system's
  bytes) and the JSON body as it came;
* answer: ``<IBI`` — id, status, length — then the answer's JSON (status :data:`OK`), nothing
  (:data:`PASS`: the request is not a plain digit the child reads, or reading it raised), or,
  once, the id 0 with :data:`READY` when the child has loaded the default network.

The parent resolves the model id to its checkpoint (its registry knows the runs), so the child
needs no database; it reads the same files with its own :class:`~.inference.ModelRegistry` and
answers with the same code as the route (``predict_batch`` and the result's JSON): the same
bytes. Everything the child passes on, and everything while it starts, after it died or when it
is off, is answered in the server's own process as before — a dead child costs speed, never an
answer. It is started on the first plain prediction (a server nobody asks stays one process),
again at most every :data:`RESTART_S` seconds after it died (or after it was killed for leaving
a request unanswered :data:`STALL_S` seconds), and it ends with the server (its stdin closes; a
server killed outright closes it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import sys
import time
from pathlib import Path

log = logging.getLogger("glassnet.predictprocess")

REQUEST = struct.Struct("<IBHHI")
ANSWER = struct.Struct("<IBI")
OK, PASS, READY = 0, 1, 2
ACTIVATIONS = 1
#: seconds between starts of a child that died (a crash loop must not eat the server's core)
RESTART_S = 5.0
#: seconds the child gets to finish when the server stops, before it is killed
STOP_S = 3.0
#: a request unanswered this long means the child is stuck: it is killed (and its requests are
#: answered in the server's own process); a batch takes milliseconds, even with activations
STALL_S = 10.0


def request_frame(req_id: int, model_id: str, path: Path, activations: bool, body: bytes) -> bytes:
    """One request as bytes (module docstring)."""
    model = model_id.encode()
    where = os.fsencode(path)
    head = REQUEST.pack(req_id, ACTIVATIONS if activations else 0, len(model), len(where), len(body))
    return b"".join((head, model, where, body))


def answer_frame(req_id: int, status: int, payload: bytes = b"") -> bytes:
    """One answer as bytes (module docstring)."""
    return ANSWER.pack(req_id, status, len(payload)) + payload


def wanted(setting: str) -> bool:
    """Whether the ``predict_process`` setting asks for a child: ``on``; ``auto`` where there is
    a second core for it (on one core it would only add the pipes' cost); ``off``."""
    if setting == "auto":
        return (os.cpu_count() or 1) > 1
    return setting == "on"


class _Pipes(asyncio.SubprocessProtocol):
    """The child's stdout, cut into answers as it arrives (no task per read)."""

    def __init__(self, owner: PredictProcess) -> None:
        self.owner = owner
        self.buffer = bytearray()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        buf = self.buffer
        buf += data
        start = 0
        while len(buf) - start >= ANSWER.size:
            req_id, status, size = ANSWER.unpack_from(buf, start)
            end = start + ANSWER.size + size
            if len(buf) < end:
                break
            self.owner._answered(req_id, status, bytes(buf[start + ANSWER.size : end]))
            start = end
        del buf[:start]

    def process_exited(self) -> None:
        self.owner._exited()


class PredictProcess:
    """The parent's side of the child (module docstring); one per app (``app.state``)."""

    def __init__(self, models_dir: Path, runs_dir: Path, default_id: str) -> None:
        self.args = [str(models_dir), str(runs_dir), default_id]
        self.transport: asyncio.SubprocessTransport | None = None
        self.ready = False  # the child has said READY and is running
        self.pid: int | None = None
        self._starting = False
        self._closed = False
        self._last_start = -RESTART_S
        # each request in flight: its future and when it was sent (in sending order: the watchdog
        # reads the oldest first)
        self._pending: dict[int, tuple[asyncio.Future[bytes | None], float]] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        self._next_id = 1
        self._outbox: list[bytes] = []
        #: children started and answers received (OK), for /metrics
        self.starts = 0
        self.answered = 0

    # -- asking ----------------------------------------------------------------------------
    async def answer(self, model_id: str, path: Path, activations: bool, body: bytes) -> bytes | None:
        """The answer's JSON for a plain digit's body, or None: the child passed it on, died, or
        is not running (it is started then, for the requests to come)."""
        if not self.ready:
            self._start_soon()
            return None
        req_id = self._next_id
        self._next_id = req_id + 1 if req_id < 0xFFFFFFFF else 1
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (future, time.monotonic())
        if not self._outbox:  # the frames of one turn of the loop go in one write
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(request_frame(req_id, model_id, path, activations, body))
        return await future

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if self.transport is not None and self.ready and frames:
            stdin = self.transport.get_pipe_transport(0)
            if stdin is not None and not stdin.is_closing():
                stdin.write(b"".join(frames))

    def _answered(self, req_id: int, status: int, payload: bytes) -> None:
        if status == READY:
            self.ready = True
            log.info("predictions: a second process (pid %s) reads plain digits", self.pid)
            return
        future, _ = self._pending.pop(req_id, (None, 0.0))
        if future is None or future.done():
            return  # the request's client went away meanwhile
        if status == OK:
            self.answered += 1
        future.set_result(payload if status == OK else None)

    # -- starting and stopping ---------------------------------------------------------------
    def _start_soon(self) -> None:
        now = time.monotonic()
        if self._closed or self._starting or self.transport is not None or now - self._last_start < RESTART_S:
            return
        self._starting, self._last_start = True, now
        asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        env = dict(os.environ)
        # One BLAS thread: the child's batch is small work, and the event loop's core stays free.
        env.update({k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Pipes(self),
                sys.executable,
                "-m",
                "glassnet.service.predictchild",
                *self.args,
                env=env,
                stderr=None,  # its log lines go where the server's go
            )
        except OSError as exc:
            log.warning("predictions: could not start a second process (%s); reading them here", exc)
            return
        finally:
            self._starting = False
        if self._closed:
            transport.close()
            return
        self.transport, self.pid = transport, transport.get_pid()
        self.starts += 1
        self._watchdog = loop.call_later(1.0, self._watch)

    def _watch(self) -> None:
        """Every second while a child runs: kill it if its oldest request waited over STALL_S."""
        self._watchdog = None
        if self.transport is None:
            return
        oldest = next(iter(self._pending.values()), None)
        if oldest is not None and time.monotonic() - oldest[1] > STALL_S:
            log.warning("predictions: the second process (pid %s) stopped answering; killing it", self.pid)
            with contextlib.suppress(ProcessLookupError):
                self.transport.kill()
            return  # process_exited() follows: its requests are answered here
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._watch)

    def _exited(self) -> None:
        if self.ready and not self._closed:
            code = self.transport.get_returncode() if self.transport is not None else None
            log.warning(
                "predictions: the second process (pid %s) ended (code %s); reading them here "
                "until it is started again",
                self.pid,
                code,
            )
        self.ready = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.transport is not None:
            self.transport.close()
        self.transport = None
        self._outbox.clear()
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_result(None)  # answered in the server's own process instead

    async def close(self) -> None:
        """Stop the child: its stdin closes and it ends; killed after :data:`STOP_S` seconds."""
        self._closed = True
        transport = self.transport
        if transport is None:
            return
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        deadline = time.monotonic() + STOP_S
        while transport.get_returncode() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if transport.get_returncode() is None:
            with contextlib.suppress(ProcessLookupError):
                transport.kill()
        self._exited()


def _package_root() -> str:
    """The folder that holds the ``glassnet`` package: the child imports the same code as the
    server, whether installed or run from a checkout."""
    return str(Path(__file__).resolve().parents[2])
