"""QA4 DUR-4: the Ray node the server's driver is attached to dies (``kill -9`` of its raylet,
as the OOM killer does). Ray's core worker ends the process that holds the driver on its next
call through that node's object store, so the driver runs in a child process: the server keeps
serving, the run ends ``interrupted``, ``/readyz`` names the problem, a resume waits ``queued``
with that message — and once a node is back the server joins it by itself and the run trains
again from its checkpoint."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from glassnet.service.devserver import ServeProcess, free_port
from raycluster import NODE, Cluster  # Ray kept on loopback, as in the other Ray tests
from specs import MLP32

from .conftest import ROOT

pytestmark = pytest.mark.e2e

BODY = {"spec": MLP32, "epochs": 1000, "batch_size": 10, "optimizer": "sgd", "lr": 0.05, "seed": 3}


def get(url: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def until(test, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = test()
        if seen:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def one_node() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        yield cluster
    finally:
        cluster.shutdown()


def test_the_server_outlives_its_ray_node(tmp_path: Path, small_mnist: Path, one_node: Cluster) -> None:
    srv = ServeProcess(
        tmp_path / "data",
        small_mnist,
        env={"GLASSNET_VALIDATION": "200", "GLASSNET_CHECKPOINT_INTERVAL_S": "1"},
        port=free_port(),
        log=tmp_path / "server.log",
        cwd=ROOT,
        args=["--executor", "ray", "--ray-address", one_node.address],
        ready_path="/readyz",
    )
    srv.start(timeout=120)
    try:
        url = srv.url
        rid = get(url, "/api/runs", BODY)[1]["id"]
        until(lambda: (get(url, f"/api/runs/{rid}")[1]["checkpoint_step"] or 0) > 20, "a checkpoint")
        one_node.head_node.kill_raylet()  # the only node, the one the driver is attached to
        run = until(
            lambda: (r := get(url, f"/api/runs/{rid}")[1])["status"] != "running" and r, "the run to notice"
        )
        assert run["status"] == "interrupted" and run["resumable"] and "Ray" in run["message"], run
        # The resume that ended the server: answered, the run waits with the reason.
        code, resumed = get(url, f"/api/runs/{rid}/resume", {})
        assert code == 200 and resumed["status"] == "queued", (code, resumed)
        # Which of two says why depends on who notices first: the monitor (the node is gone) or the
        # driver's child, which Ray may end at once (the driver process ended); both are true.
        why = resumed["message"]
        assert "waiting for the executor" in why, why
        assert "Ray node" in why or "Ray driver process ended" in why, why
        # /readyz names the problem (it said ready while the node was dead before).
        code, ready = until(lambda: (seen := get(url, "/readyz"))[0] == 503 and seen, "/readyz to say why")
        assert any("Ray node" in p or "Ray driver process ended" in p for p in ready["problems"]), ready
        time.sleep(3)
        assert srv.proc is not None and srv.proc.poll() is None, srv.log_tail()
        assert get(url, "/healthz")[0] == 200
        # A node again: the server joins it by itself and the run trains on from its checkpoint.
        one_node.add_node(**NODE)
        until(lambda: get(url, "/readyz")[0] == 200, "the server to join the new node", timeout=120)
        before = run["step"]
        until(lambda: get(url, f"/api/runs/{rid}")[1]["step"] > before + 20, "training again", timeout=120)
        assert srv.proc.poll() is None
    finally:
        srv.stop()
