"""The Ray executor (``glassnet serve --executor ray --ray-address HOST:PORT``; extra
``glassnet[ray]``): each run is a Ray actor on whichever node has room — ``ray_cpus_per_run``
CPUs, and a GPU when the run asks for ``cuda`` — training with the same
:class:`..session.TrainingSession` as a local process, taking the same commands and sending the
same events back to this server's hub. Only this module imports Ray, and only when chosen.

**The channels.** The actor runs the session in a thread; its two pipe ends are queues
(:class:`Outbox`, :class:`Inbox`). The server long-polls ``events(timeout)`` from one thread per
run and submits ``command(...)`` calls; both carry glassnet's messages as JSON bytes (bytes
fields as base64) — our objects are never pickled across; Ray's own transport carries the bytes.

**Checkpoints come back through the actor** (decided over a shared path or the object store):
the actor writes them in a scratch folder on its node, as a local run does, and ships each new or
changed file (``last.npz``, ``epoch-NNN.npz``, ``live.npz``) as a ``file`` message before the
event that announces it; the server writes it atomically into ``<data dir>/<run id>/``. So the
cluster needs no shared filesystem, the server stays the only writer of its data dir (disk caps,
quotas, one place to back up), predictions and the dashboard read a Ray run exactly like a local
one, and a run can resume on any node: its job carries the run folder's files (the last
checkpoint, a teach run's digits). The object store was not used because a reference dies with
the node that holds it — exactly when the checkpoint is needed. Cost: each checkpoint crosses the
network once (the cnn's ~1 MB every 30 s; ``live.npz`` every ``live_checkpoint_s``).

**The driver is a child process** (:mod:`.raydriver`; :class:`DriverClient` here): Ray's core
worker ends the process it lives in when the raylet it is attached to dies (measured: the next
call through that node's object store exits it), so it must not live in the web server. The
server asks it for everything over a pipe (JSON lines) and never calls Ray on the event loop: a
monitor task (:meth:`RayExecutor._check`, every ``RECONNECT_S``) reads the nodes and CPUs and
checks the driver's raylet; ``capacity`` and ``describe`` show what it last read.

**Failures.** A node killed mid-run: the actor dies, the poll raises, the run ends
``interrupted`` ("lost its Ray node …") and resumes from its last checkpoint on another node. The
node the *driver* is attached to dies (or the driver process ends): the runs it owned end
``interrupted``, :meth:`RayExecutor.problem` names it, a new driver is started and joins the
cluster through another node on this machine once there is one; meanwhile a resume waits
``queued``. The cluster unreachable (at start-up or later): :meth:`RayExecutor.problem` says so,
``/readyz`` shows it, runs wait ``queued`` with that message, and the server keeps serving; it
reconnects by itself. Runs still train under a server that dies (the actors are owned by its
driver, which ends with it, so Ray ends them); the next server finds them ``interrupted`` with
their last checkpoint.

Every node needs glassnet installed (the same version) and the dataset at the same path (the
bundled MNIST ships in the wheel). TensorBoard files are not written for Ray runs.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import ray

from ...nn.checkpoint import atomic_write_bytes
from ..session import session_main
from ..settings import Settings
from .base import Executor, ExecutorUnavailableError, OnMessage, RunEndedError, RunHandle
from .local import TRAIN_THREADS_VAR
from .messages import pack, unpack

log = logging.getLogger("glassnet.executor.ray")

NAMESPACE = "glassnet"
POLL_S = 0.5  # one events() call waits at most this long for a message
GET_TIMEOUT_S = 60.0  # an events() answer later than this: the cluster is in trouble
CONNECT_TIMEOUT_S = 3.0
RECONNECT_S = 5.0
SHIPPED = re.compile(r"(last|live|epoch-\d{3,})\.npz")  # the files a run sends back
SKIPPED_AT_START = re.compile(r"live\.npz|epoch-\d{3,}\.npz|.*\.tmp|\..*")  # not needed to resume
MAX_START_BYTES = 256 * 2**20  # a run folder this big is not shipped (its checkpoints are capped)


# -- inside the actor ----------------------------------------------------------------------------
class Inbox:
    """The session's command pipe end: a queue the actor's ``command`` method fills."""

    def __init__(self) -> None:
        self.q: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def put(self, message: dict[str, Any] | None) -> None:
        self.q.put(message)

    def poll(self) -> bool:
        return not self.q.empty()

    def recv(self) -> dict[str, Any]:
        message = self.q.get()
        if message is None:
            raise EOFError("the server closed the run")
        return message

    def close(self) -> None:
        self.q.put(None)


class Outbox:
    """The session's event pipe end: packs messages, ships the files a message announces."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.q: queue.Queue[bytes] = queue.Queue()
        self.sent: dict[str, float] = {}  # file name -> mtime shipped
        self.closed = threading.Event()

    def ship_changed(self) -> None:
        """Every checkpoint file written since it was last shipped, oldest first (atomic writes:
        a file seen is whole)."""
        stamped = []
        for path in self.run_dir.glob("*.npz"):
            with contextlib.suppress(OSError):
                if SHIPPED.fullmatch(path.name):
                    stamped.append((path.stat().st_mtime, path))
        for mtime, path in sorted(stamped):
            if self.sent.get(path.name) != mtime:
                with contextlib.suppress(OSError):
                    self.q.put(pack({"kind": "file", "name": path.name, "data": path.read_bytes()}))
                    self.sent[path.name] = mtime

    def send(self, message: dict[str, Any]) -> None:
        self.ship_changed()  # before the event that announces them (checkpoint, epoch, end)
        self.q.put(pack(message))

    def close(self) -> None:
        self.closed.set()


class RunActor:
    """One run on a Ray node (made a Ray actor class by :func:`actor_class`)."""

    def __init__(self, job_json: bytes, files: dict[str, bytes], threads: int) -> None:
        job = json.loads(job_json)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"glassnet-run-{job['run_id']}-"))
        for name, data in files.items():
            atomic_write_bytes(self.scratch / Path(name).name, data)
        job.update(run_dir=str(self.scratch), tensorboard=None)
        os.environ[TRAIN_THREADS_VAR] = str(threads)  # the CPUs Ray gave this run
        self.outbox, self.inbox = Outbox(self.scratch), Inbox()
        self.outbox.sent = {p.name: p.stat().st_mtime for p in self.scratch.glob("*.npz")}  # came from it
        self.thread = threading.Thread(target=self._train, args=(job,), name="glassnet-session", daemon=True)
        self.thread.start()

    def _train(self, job: dict[str, Any]) -> None:
        try:
            session_main(job, self.outbox, self.inbox, own_process=False)  # type: ignore[arg-type]
        finally:
            self.outbox.ship_changed()
            self.outbox.close()

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def events(self, timeout: float) -> bytes:
        """The messages waiting (at most ``timeout`` s for the first), as one JSON array; the last
        element is ``true`` once the session has ended and everything was sent."""
        out: list[str] = []
        try:
            out.append(self.outbox.q.get(timeout=timeout).decode())
            while len(out) < 64:
                out.append(self.outbox.q.get_nowait().decode())
        except queue.Empty:
            pass
        done = self.outbox.closed.is_set() and self.outbox.q.empty()
        return ("[" + ",".join([*out, "true" if done else "false"]) + "]").encode()

    def command(self, data: bytes) -> None:
        self.inbox.put(unpack(data))

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


_ACTOR: Any = None


def actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = ray.remote(max_restarts=0, max_concurrency=4)(RunActor)
    return _ACTOR


# -- on the server -------------------------------------------------------------------------------
def run_files(run_dir: Path) -> dict[str, bytes]:
    """What a run needs to start or resume anywhere: its folder's files but the live weights and
    the per-epoch copies (the last checkpoint, a teach run's digits and starting network)."""
    if not run_dir.is_dir():
        return {}
    files = [p for p in run_dir.iterdir() if p.is_file() and not SKIPPED_AT_START.fullmatch(p.name)]
    files = [p for p in files if p.name != "run.lock"]
    if sum(p.stat().st_size for p in files) > MAX_START_BYTES:
        raise ValueError(f"the run folder holds more than {MAX_START_BYTES >> 20} MiB to ship")
    return {p.name: p.read_bytes() for p in files}


class DriverError(Exception):
    """A call into the Ray driver failed; ``node_died``: the driver found the run's node gone."""

    def __init__(self, text: str, node_died: bool = False) -> None:
        super().__init__(text)
        self.node_died = node_died


class DriverClient:
    """The server's end of the Ray driver process (:mod:`.raydriver`): starts it, sends requests,
    matches answers; when it ends, every call in flight fails with :class:`DriverError`.
    ``call`` blocks: use it from a thread, never on the event loop."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "glassnet.service.executors.raydriver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.ids = itertools.count(1)
        self.pending: dict[int, concurrent.futures.Future[Any]] = {}
        self.lock = threading.Lock()
        self.gone: str | None = None  # why the process ended
        self.raylet: str | None = None  # the socket of the raylet it is attached to, once joined
        self.reader = threading.Thread(target=self._read, name="glassnet-ray-driver", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError, KeyError):
                answer = json.loads(line)
                future = self.pending.pop(answer["id"], None)
                if future is not None and "error" in answer:
                    future.set_exception(DriverError(answer["error"], bool(answer.get("node_died"))))
                elif future is not None:
                    future.set_result(answer.get("value"))
        code = self.proc.wait()
        with self.lock:
            self.gone = self.gone or f"the Ray driver process ended (exit status {code})"
            pending, self.pending = self.pending, {}
        for future in pending.values():
            future.set_exception(DriverError(self.gone))

    def submit(self, op: str, **fields: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self.lock:
            if self.gone is not None:
                raise DriverError(self.gone)
            request_id = next(self.ids)
            self.pending[request_id] = future
            line = json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n"
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except OSError as exc:
                self.pending.pop(request_id, None)
                raise DriverError(f"the Ray driver process is gone ({exc})") from exc
        return future

    def call(self, op: str, timeout: float | None = None, **fields: Any) -> Any:
        try:
            return self.submit(op, **fields).result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise DriverError(f"the Ray driver did not answer {op!r} within {timeout:g} s") from exc

    def close(self, timeout: float = 10.0, why: str = "the Ray driver was closed") -> None:
        """Ask it to end (its actors end with it; calls in flight fail saying ``why``); kill it
        when it lingers."""
        with self.lock:
            self.gone = self.gone or why
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class RayRun(RunHandle):
    """A run trained by a Ray actor, seen from the service (every Ray call goes through the
    executor's driver process)."""

    def __init__(self, run_id: str, job: dict[str, Any], executor: RayExecutor) -> None:
        super().__init__(run_id, job)
        self.executor = executor
        self.driver: DriverClient | None = None
        self.thread: threading.Thread | None = None
        self.reason: str | None = None
        self.node: str | None = None

    def start(self, on_message: OnMessage) -> None:
        driver = self.executor.driver
        problem = self.executor.problem()
        if problem is None and driver is not None:  # its node may have died since the last look
            problem = self.executor._problem = raylet_problem(driver.raylet)
        if problem is not None or driver is None:
            raise ExecutorUnavailableError(problem or "the Ray driver is not running")
        s = self.executor.settings
        files = run_files(Path(self.job["run_dir"]))
        self.driver = driver
        created = driver.submit(
            "create",
            run=self.run_id,
            job=json.dumps(self.job),
            files={name: base64.b64encode(data).decode() for name, data in files.items()},
            threads=max(1, int(s.ray_cpus_per_run)),
            cpus=s.ray_cpus_per_run,
            gpus=1 if self.job["config"].get("device") == "cuda" else 0,
        )
        self.where = "Ray (waiting for a node)"
        loop = asyncio.get_running_loop()
        self.thread = threading.Thread(
            target=self._poll, args=(loop, on_message, created), name=f"glassnet-ray-{self.run_id}"
        )
        self.thread.daemon = True
        self.thread.start()

    def _poll(
        self, loop: asyncio.AbstractEventLoop, on_message: OnMessage, created: concurrent.futures.Future[Any]
    ) -> None:
        folder = Path(self.job["run_dir"])
        driver = self.driver
        assert driver is not None
        finished = False
        try:
            created.result()
            self.node = driver.call("node", run=self.run_id)
            self.where = f"Ray node {(self.node or '?')[:12]}"
            log.info("run %s trains on %s", self.run_id, self.where)
            while True:
                batch = json.loads(driver.call("events", GET_TIMEOUT_S + 10, run=self.run_id, wait=POLL_S))
                done = batch.pop()
                for item in batch:
                    message = unpack(item)
                    if message.get("kind") == "file":
                        name = str(message.get("name"))
                        if SHIPPED.fullmatch(name):  # never a path: our own three names only
                            atomic_write_bytes(folder / name, message["data"])
                        continue
                    loop.call_soon_threadsafe(on_message, self, message)
                if done:
                    finished = True
                    break
        except Exception as exc:  # the actor (or its node, or the cluster, or the driver) is gone
            if isinstance(exc, DriverError) and exc.node_died:
                self.reason = f"lost its Ray node ({(self.node or '?')[:12]}…)"
            elif isinstance(exc, DriverError):
                self.reason = f"ended on Ray: {exc}"
            else:
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                self.reason = f"ended on Ray ({type(exc).__name__}: {first})"
            log.warning("run %s: %s", self.run_id, self.reason)
        finally:
            with contextlib.suppress(Exception):  # frees its CPUs; a no-op when it is gone
                driver.call("cleanup", timeout=20, run=self.run_id, scratch=finished)
            self.reason = self.reason or "ended"
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                loop.call_soon_threadsafe(on_message, self, {"kind": "exit"})

    def _send(self, message: dict[str, Any]) -> None:
        if self.driver is None or self.reason is not None:
            raise RunEndedError("the run's actor has ended")
        try:
            self.driver.submit("command", run=self.run_id, data=base64.b64encode(pack(message)).decode())
        except DriverError as exc:
            raise RunEndedError(str(exc)) from exc

    def _kill(self) -> None:
        if self.driver is not None:
            with contextlib.suppress(DriverError):
                self.driver.submit("kill", run=self.run_id)

    async def _join(self, timeout: float) -> bool:
        if self.thread is None:
            return True
        await asyncio.to_thread(self.thread.join, timeout)
        return not self.thread.is_alive()

    def death_reason(self) -> str | None:
        return self.reason


def raylet_problem(path: str | None) -> str | None:
    """None while the raylet at unix socket ``path`` (the one the driver is attached to) accepts
    connections; else why not. Asked before any call that could need its object store: a dead
    raylet there ends the driver's process (see :mod:`.raydriver`)."""
    if not path:
        return "this server's Ray driver is not attached to a node"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(path)
        return None
    except OSError as exc:
        return f"the Ray node this server's driver is attached to is gone (its raylet: {exc.strerror or exc})"


def reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when something answers at ``host:port``; else why not (Ray's own connect would
    retry for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


class RayExecutor(Executor):
    """Runs as Ray actors on the cluster at ``ray_address``, through a driver process
    (:mod:`.raydriver`) that a monitor task starts, checks every ``RECONNECT_S`` and starts
    again when it ended or its node went; ``capacity`` and ``describe`` show the nodes and CPUs
    it last reported (no Ray call on the event loop)."""

    name = "ray"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = settings.ray_address or os.environ.get("RAY_ADDRESS")
        self._problem: str | None = "not connected yet" if self.address else "no Ray address given"
        self.driver: DriverClient | None = None
        self.runs: dict[str, RayRun] = {}
        self.task: asyncio.Task[None] | None = None
        self.nodes: list[dict[str, Any]] = []
        self.cpus = 0.0

    @property
    def connected(self) -> bool:
        return self.driver is not None and self.driver.gone is None

    def problem(self) -> str | None:
        if self.driver is not None and self.driver.gone is not None:
            return f"{self.driver.gone}; a new one starts when the cluster at {self.address} answers"
        if self.driver is None:  # no driver, no runs: never "no problem" (a start would refuse)
            return self._problem or "the Ray driver is not running"
        return self._problem

    async def open(self) -> None:
        if self.address:
            self.task = asyncio.create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        while True:
            try:
                await self._check()
            except Exception:  # the monitor must go on
                log.exception("checking the Ray cluster failed")
            if self.problem():
                log.warning("%s; runs wait", self.problem())
            await asyncio.sleep(RECONNECT_S)

    async def _check(self) -> None:
        """One look: the cluster answers, the driver runs and its node is alive; (re)start the
        driver when it is not."""
        why = await asyncio.to_thread(reachable, self.address or "")
        if why is not None:
            self._problem = f"the Ray cluster at {self.address} is unreachable ({why})"
            return
        driver = self.driver
        if driver is None or driver.gone is not None:
            await self._restart(None if driver is None else driver.gone)  # gone: why it ended
            return
        try:
            status = await asyncio.to_thread(driver.call, "status", 30.0)
        except DriverError as exc:
            self._problem = f"the Ray driver does not answer: {exc}"
            return
        self.nodes, self.cpus = status["nodes"], float(status["cpus"])
        self._problem = status["problem"]
        if self._problem is not None:  # its raylet is dead: this driver can never work again
            log.warning("%s; starting a new Ray driver", self._problem)
            await self._restart(self._problem)

    async def _restart(self, why: str | None = None) -> None:
        # Until the new driver has joined, runs cannot start: said as a problem (/readyz, the
        # waiting runs' message). Left as it was, a driver that Ray ended between two looks
        # left the last look's "no problem" standing while there was no driver at all.
        self._problem = (
            f"starting a new Ray driver ({why})" if why else f"joining the Ray cluster at {self.address}"
        )
        if self.driver is not None:
            await asyncio.to_thread(self.driver.close, 5.0, why or "the Ray driver was restarted")
            self.driver = None
        driver = DriverClient()
        try:
            joined = await asyncio.to_thread(driver.call, "init", 120.0, address=self.address)
            driver.raylet = joined["raylet"]
            status = await asyncio.to_thread(driver.call, "status", 30.0)
        except DriverError as exc:
            await asyncio.to_thread(driver.close, 5.0)
            self._problem = f"cannot join the Ray cluster at {self.address}: {why or exc}"
            return
        self.driver, self._problem = driver, status["problem"]
        self.nodes, self.cpus = status["nodes"], float(status["cpus"])
        log.info("connected to the Ray cluster at %s", self.address)

    def capacity(self) -> int:
        if self.settings.max_active_runs:
            return self.settings.max_active_runs
        return max(1, int(self.cpus // self.settings.ray_cpus_per_run))

    def handle(self, run_id: str, job: dict[str, Any], active: int = 1) -> RayRun:
        run = RayRun(run_id, job, self)
        self.runs[run_id] = run
        return run

    def describe(self) -> dict[str, Any]:
        for run_id in [r for r, h in self.runs.items() if h.exited.is_set()]:
            del self.runs[run_id]
        return {
            **super().describe(),
            "address": self.address,
            "nodes": self.nodes if self.connected else [],
            "runs": {run_id: h.node for run_id, h in self.runs.items()},
        }

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.driver is not None:
            await asyncio.to_thread(self.driver.close)
            self.driver = None
