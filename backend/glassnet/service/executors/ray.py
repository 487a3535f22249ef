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

**Failures.** A node killed mid-run: the actor dies, the poll raises, the run ends
``interrupted`` ("lost its Ray node …") and resumes from its last checkpoint on another node. The
cluster unreachable (at start-up or later): :meth:`RayExecutor.problem` says so, ``/readyz``
shows it, runs wait ``queued`` with that message, and the server keeps serving; it reconnects by
itself. Runs still train under a server that dies (the actors are owned by it, so Ray ends them
with it); the next server finds them ``interrupted`` with their last checkpoint.

Every node needs glassnet installed (the same version) and the dataset at the same path (the
bundled MNIST ships in the wheel). TensorBoard files are not written for Ray runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import re
import shutil
import socket
import tempfile
import threading
import time
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


def node_died(exc: BaseException, node: str | None = None, wait_s: float = 5.0) -> bool:
    """Whether ``exc`` means the run's node is gone. Ray says so in several ways: an actor error
    naming a dead node, or the lost result of a call (``ObjectLostError`` and its kin, e.g.
    ``ObjectReconstructionFailedError``) — or only by the node leaving ``ray.nodes()`` a moment
    later, which is asked for up to ``wait_s``."""
    text = str(exc).lower()
    if "node" in text and ("died" in text or "dead" in text):
        return True
    if isinstance(exc, ray.exceptions.ObjectLostError):
        return True
    deadline = time.monotonic() + wait_s
    while node is not None:
        try:
            alive = any(n.get("NodeID") == node and n.get("Alive") for n in ray.nodes())
        except Exception:  # the cluster itself is unreachable: not a node's death
            return False
        if not alive:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return False


class RayRun(RunHandle):
    """A run trained by a Ray actor, seen from the service."""

    def __init__(self, run_id: str, job: dict[str, Any], executor: RayExecutor) -> None:
        super().__init__(run_id, job)
        self.executor = executor
        self.actor: Any = None
        self.thread: threading.Thread | None = None
        self.reason: str | None = None
        self.node: str | None = None
        self.killed = False  # by us (_kill): its end is no node's death, nothing to ask Ray

    def start(self, on_message: OnMessage) -> None:
        if self.executor.problem() is not None:
            raise ExecutorUnavailableError(self.executor.problem())
        s = self.executor.settings
        files = run_files(Path(self.job["run_dir"]))
        gpus = 1 if self.job["config"].get("device") == "cuda" else 0
        threads = max(1, int(s.ray_cpus_per_run))
        try:
            self.actor = (
                actor_class()
                .options(num_cpus=s.ray_cpus_per_run, num_gpus=gpus, name=f"glassnet-run-{self.run_id}")
                .remote(json.dumps(self.job).encode(), files, threads)
            )
        except Exception as exc:  # the cluster went away just now
            self.executor.lost(exc)
            raise ExecutorUnavailableError(str(exc)) from exc
        self.where = "Ray (waiting for a node)"
        loop = asyncio.get_running_loop()
        self.thread = threading.Thread(
            target=self._poll, args=(loop, on_message), name=f"glassnet-ray-{self.run_id}", daemon=True
        )
        self.thread.start()

    def _poll(self, loop: asyncio.AbstractEventLoop, on_message: OnMessage) -> None:
        folder = Path(self.job["run_dir"])
        try:
            self.node = ray.get(self.actor.node.remote())
            self.where = f"Ray node {self.node[:12]}"
            log.info("run %s trains on %s", self.run_id, self.where)
            while True:
                batch = json.loads(ray.get(self.actor.events.remote(POLL_S), timeout=GET_TIMEOUT_S))
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
                    break
            with contextlib.suppress(Exception):
                ray.get(self.actor.cleanup.remote(), timeout=10)
        except Exception as exc:  # the actor (or its node, or the cluster) is gone
            if node_died(exc, None if self.killed else self.node):
                self.reason = f"lost its Ray node ({(self.node or '?')[:12]}…)"
            else:
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                self.reason = f"ended on Ray ({type(exc).__name__}: {first})"
            log.warning("run %s: %s", self.run_id, self.reason)
        finally:
            if self.actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(self.actor)  # frees its CPUs; a no-op when it is gone
            self.reason = self.reason or "ended"
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                loop.call_soon_threadsafe(on_message, self, {"kind": "exit"})

    def _send(self, message: dict[str, Any]) -> None:
        if self.actor is None or self.reason is not None:
            raise RunEndedError("the run's actor has ended")
        self.actor.command.remote(pack(message))

    def _kill(self) -> None:
        self.killed = True
        if self.actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.actor)

    async def _join(self, timeout: float) -> bool:
        if self.thread is None:
            return True
        await asyncio.to_thread(self.thread.join, timeout)
        return not self.thread.is_alive()

    def death_reason(self) -> str | None:
        return self.reason


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
    """Runs as Ray actors on the cluster at ``ray_address``."""

    name = "ray"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = settings.ray_address or os.environ.get("RAY_ADDRESS")
        self._problem: str | None = "not connected yet" if self.address else "no Ray address given"
        self.connected = False
        self.runs: dict[str, RayRun] = {}
        self.task: asyncio.Task[None] | None = None
        self._capacity = (0, 0.0)  # (value, when read)

    def problem(self) -> str | None:
        return self._problem

    def lost(self, exc: BaseException) -> None:
        if reachable(self.address or "") is not None:
            self._problem = f"the Ray cluster at {self.address} is unreachable: {exc}"

    async def open(self) -> None:
        if self.address:
            self.task = asyncio.create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        while True:
            why = await asyncio.to_thread(reachable, self.address or "")
            if why is not None:
                self._problem = f"the Ray cluster at {self.address} is unreachable ({why})"
            elif not self.connected:
                try:
                    await asyncio.to_thread(self._connect)
                    self.connected, self._problem = True, None
                    log.info("connected to the Ray cluster at %s", self.address)
                except Exception as exc:
                    self._problem = f"cannot join the Ray cluster at {self.address}: {exc}"
            else:
                self._problem = None
            if self._problem:
                log.warning("%s; runs wait", self._problem)
            await asyncio.sleep(RECONNECT_S)

    def _connect(self) -> None:
        ray.init(
            address=self.address,
            namespace=NAMESPACE,
            ignore_reinit_error=True,
            log_to_driver=False,
        )

    def capacity(self) -> int:
        if self.settings.max_active_runs:
            return self.settings.max_active_runs
        value, when = self._capacity
        if self.connected and time.monotonic() - when > 5.0:
            with contextlib.suppress(Exception):
                cpus = ray.cluster_resources().get("CPU", 0.0)
                value = max(1, int(cpus // self.settings.ray_cpus_per_run))
                self._capacity = (value, time.monotonic())
        return max(1, value)

    def handle(self, run_id: str, job: dict[str, Any], active: int = 1) -> RayRun:
        run = RayRun(run_id, job, self)
        self.runs[run_id] = run
        return run

    def describe(self) -> dict[str, Any]:
        for run_id in [r for r, h in self.runs.items() if h.exited.is_set()]:
            del self.runs[run_id]
        nodes: list[dict[str, Any]] = []
        if self.connected:
            with contextlib.suppress(Exception):
                nodes = [
                    {"node": n["NodeID"], "alive": n["Alive"], "cpus": n.get("Resources", {}).get("CPU", 0)}
                    for n in ray.nodes()
                ]
        return {
            **super().describe(),
            "address": self.address,
            "nodes": nodes,
            "runs": {run_id: h.node for run_id, h in self.runs.items()},
        }

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.connected:
            await asyncio.to_thread(ray.shutdown)
            self.connected = False
