"""The Ray driver of ``--executor ray``, in a child process of the server (``python -m
glassnet.service.executors.raydriver``), so that Ray can never end the web server.

**Why a child process.** Ray's core worker is tied to the raylet of the node it runs on; when
that raylet dies (the OOM killer, a crash) the next call that needs its object store — an actor
created with a checkpoint as argument, a large result fetched — ends the whole process from C++
("The connection to the plasma store is failed. Terminate the process"), with nothing Python can
catch. Measured (QA4 DUR-4, Ray 2.60): after ``kill_raylet`` a driver still answers
``ray.nodes()`` (its node shown alive for seconds), ``ray.kill`` and a small actor creation, and
exits with status 1 on the first creation with a 2 MB argument. So the driver lives here: if Ray
ends this process, the server sees its pipe close, marks the runs it owned ``interrupted``, names
the problem on ``/readyz`` and starts a new driver once the cluster answers again.

**Protocol** (stdin → requests, the original stdout → answers; Ray's own prints go to stderr):
one JSON object per line, bytes as base64 — nothing is pickled across. A request is
``{"id", "op", ...}``; its answer ``{"id", "value"}`` or ``{"id", "error", "node_died"}``. Each
request runs in its own thread (the server long-polls one ``events`` per run), so answers may
come in any order. Closing stdin ends the driver.

Operations: ``init`` (join the cluster at ``address``), ``status`` (this node's raylet, the nodes
and CPUs), ``create`` (a run's actor), ``node``, ``events``, ``command``, ``kill``, ``cleanup``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sys
import threading
import time
from typing import Any, BinaryIO

import ray

from .ray import GET_TIMEOUT_S, NAMESPACE, actor_class, raylet_problem


def attached_raylet() -> str | None:
    """The socket of the raylet this driver is attached to (Ray keeps it private)."""
    node = getattr(ray._private.worker.global_worker, "node", None)
    return getattr(node, "raylet_socket_name", None)


def node_died(exc: BaseException, node: str | None, wait_s: float = 5.0) -> bool:
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


class Driver:
    """The actors this driver owns (one per run) and the operations on them."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.write_lock = threading.Lock()
        self.actors: dict[str, Any] = {}
        self.nodes: dict[str, str] = {}  # run id -> the node its actor runs on
        self.killed: set[str] = set()  # by the server: their end is no node's death

    def answer(self, message: dict[str, Any]) -> None:
        line = json.dumps(message).encode() + b"\n"
        with self.write_lock:
            self.out.write(line)
            self.out.flush()

    def serve(self, request: dict[str, Any]) -> None:
        run_id = request.get("run")
        try:
            self.answer({"id": request["id"], "value": getattr(self, "op_" + request["op"])(request)})
        except Exception as exc:
            died = request["op"] in ("node", "events") and node_died(
                exc, None if run_id in self.killed else self.nodes.get(str(run_id))
            )
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            self.answer({"id": request["id"], "error": f"{type(exc).__name__}: {first}", "node_died": died})

    def op_init(self, r: dict[str, Any]) -> dict[str, Any]:
        ray.init(address=r["address"], namespace=NAMESPACE, ignore_reinit_error=True, log_to_driver=False)
        return {"node": ray.get_runtime_context().get_node_id(), "raylet": attached_raylet()}

    def op_status(self, r: dict[str, Any]) -> dict[str, Any]:
        problem = raylet_problem(attached_raylet())
        if problem is not None:
            return {"problem": problem, "nodes": [], "cpus": 0.0}
        nodes = [
            {"node": n["NodeID"], "alive": n["Alive"], "cpus": n.get("Resources", {}).get("CPU", 0)}
            for n in ray.nodes()
        ]
        return {"problem": None, "nodes": nodes, "cpus": ray.cluster_resources().get("CPU", 0.0)}

    def op_create(self, r: dict[str, Any]) -> None:
        problem = raylet_problem(attached_raylet())
        if problem is not None:
            raise ConnectionError(problem)
        files = {name: base64.b64decode(data) for name, data in r["files"].items()}
        # Each start's actor has a name of its own (the run's id, then a random part, as Ray's
        # dashboard lists it): after a node dies, its actor keeps its name until Ray has given up
        # on the node's heartbeats (about 30 s), so a resume on a node that came back sooner was
        # refused with ActorAlreadyExistsError and the run ended again. Nothing looks actors up
        # by name; the driver keeps their handles.
        name = f"glassnet-run-{r['run']}-{secrets.token_hex(3)}"
        self.actors[r["run"]] = (
            actor_class()
            .options(num_cpus=r["cpus"], num_gpus=r["gpus"], name=name)
            .remote(r["job"].encode(), files, r["threads"])
        )

    def op_node(self, r: dict[str, Any]) -> str:
        node = ray.get(self.actors[r["run"]].node.remote())
        self.nodes[r["run"]] = node
        return node

    def op_events(self, r: dict[str, Any]) -> str:
        return ray.get(self.actors[r["run"]].events.remote(r["wait"]), timeout=GET_TIMEOUT_S).decode()

    def op_command(self, r: dict[str, Any]) -> None:
        self.actors[r["run"]].command.remote(base64.b64decode(r["data"]))

    def op_kill(self, r: dict[str, Any]) -> None:
        self.killed.add(r["run"])
        actor = self.actors.get(r["run"])
        if actor is not None:
            ray.kill(actor)

    def op_cleanup(self, r: dict[str, Any]) -> None:
        """The run is over: its scratch folder removed, its actor ended and forgotten."""
        actor = self.actors.pop(r["run"], None)
        self.nodes.pop(r["run"], None)
        self.killed.discard(r["run"])
        if actor is not None:
            if r.get("scratch"):
                with contextlib.suppress(Exception):
                    ray.get(actor.cleanup.remote(), timeout=10)
            with contextlib.suppress(Exception):
                ray.kill(actor)  # frees its CPUs; a no-op when it is gone


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever Ray prints goes to the server's stderr, not into the answers
    driver = Driver(out)
    for line in sys.stdin.buffer:
        request = json.loads(line)
        threading.Thread(target=driver.serve, args=(request,), daemon=True).start()
    with contextlib.suppress(Exception):
        ray.shutdown()  # the server closed the pipe: its actors end with this driver


if __name__ == "__main__":
    main()
