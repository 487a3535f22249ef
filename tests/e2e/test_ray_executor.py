"""Bar 2 of the classroom issue: the Ray executor against a real local Ray cluster of two worker
nodes on 127.0.0.1 (Ray's own ``Cluster``; head without CPUs), with a real ``glassnet serve
--executor ray``. A run created through the API trains on Ray; pause, step, set lr, resume and
stop work; the dashboard shows it live; predictions use its weights (checkpoints come back into
the server's data dir); killing the node that runs it leaves it ``interrupted``, and resumed it
finishes on the other node with exactly the accuracy and weights of a run never killed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.preprocess import prepare_digit
from glassnet.nn.checkpoint import read_checkpoint
from glassnet.nn.losses import probabilities
from glassnet.service.devserver import ServeProcess, free_port
from raycluster import local_cluster, node_with_id
from specs import MLP32

from .conftest import ROOT, open_page

pytestmark = pytest.mark.e2e

BODY = {"spec": MLP32, "epochs": 6, "batch_size": 10, "optimizer": "sgd", "lr": 0.05, "seed": 3}
PIXELS = [[0.0] * 28] * 8 + [[0.0] * 10 + [1.0] * 6 + [0.0] * 12] * 12 + [[0.0] * 28] * 8


def api(url: str, path: str, body: dict | None = None, method: str | None = None) -> dict:
    req = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method=method or ("POST" if body is not None else "GET"),
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def wait(url: str, run_id: str, test, what: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api(url, f"/api/runs/{run_id}")
        if test(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {run}")


@pytest.fixture(scope="module")
def cluster() -> Iterator:
    with local_cluster(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def ray_server(
    tmp_path_factory: pytest.TempPathFactory, small_mnist: Path, cluster
) -> Iterator[ServeProcess]:
    data = tmp_path_factory.mktemp("ray") / "data"
    port = free_port()
    srv = ServeProcess(
        data,
        small_mnist,
        env={
            "GLASSNET_VALIDATION": "200",
            "GLASSNET_CHECKPOINT_INTERVAL_S": "1",
            "GLASSNET_LIVE_CHECKPOINT_S": "0.5",
        },
        port=port,
        log=data.parent / f"server-{port}.log",
        cwd=ROOT,
        args=["--executor", "ray", "--ray-address", cluster.address],
        ready_path="/readyz",  # ready once the cluster is joined
    )
    srv.start(timeout=120)
    try:
        yield srv
    finally:
        srv.stop()


def test_a_ray_run_is_controlled_watched_and_read(ray_server, browser) -> None:
    url = ray_server.url
    executor = api(url, "/api/executor")
    assert executor["name"] == "ray" and executor["problem"] is None and executor["capacity"] == 2
    run = api(url, "/api/runs", {**BODY, "epochs": 1000, "name": "on ray"})
    rid = run["id"]
    assert run["status"] == "running"
    # The dashboard shows it live: the loss chart fills and the status pill says running.
    page, errors = open_page(browser, url)
    page.wait_for_function(f"() => window.glassnet.S.watched === {json.dumps(rid)}", timeout=30000)
    page.wait_for_function("() => window.glassnet.charts.loss.series[0].xs.length > 20", timeout=60000)
    assert page.get_by_test_id("run-status").get_attribute("data-state") == "running"
    node = api(url, "/api/executor")["runs"][rid]
    assert node in {n["node"] for n in api(url, "/api/executor")["nodes"]}
    # Pause, one step, a new learning rate, resume.
    paused = api(url, f"/api/runs/{rid}/pause", {})
    assert paused["status"] == "paused"
    stepped = api(url, f"/api/runs/{rid}/step", {})
    assert stepped["step"] == paused["step"] + 1
    assert api(url, f"/api/runs/{rid}", {"lr": 0.01}, method="PATCH")["lr"] == 0.01
    assert api(url, f"/api/runs/{rid}/resume", {})["status"] == "running"
    wait(url, rid, lambda r: r["step"] > stepped["step"] + 20, "training after resume")
    page.wait_for_function(
        f"() => window.glassnet.charts.loss.series[0].xs.length > {stepped['step'] + 10}", timeout=30000
    )
    # Predictions read its weights: the live checkpoint came back into the server's data dir.
    api(url, f"/api/runs/{rid}/pause", {})
    live = ray_server.data_dir / rid / "live.npz"
    assert live.is_file() and (ray_server.data_dir / rid / "last.npz").is_file()
    model = read_checkpoint(live).model
    answer = api(url, f"/api/predict?model={rid}", {"pixels": PIXELS})
    assert answer["model"] == rid
    seen = prepare_digit(np.asarray(PIXELS, dtype=np.float32))
    expected = probabilities(model.loss, model.forward(seen.reshape(1, 1, 28, 28)))[0]
    assert np.allclose(answer["probabilities"], expected, atol=1e-5)
    # Stop: the run ends stopped, its last checkpoint in the data dir.
    stopped = api(url, f"/api/runs/{rid}/stop", {})
    assert stopped["status"] == "stopped"
    assert read_checkpoint(ray_server.data_dir / rid / "last.npz").meta["step"] == stopped["step"]
    errors.check()
    page.close()


def test_a_killed_node_interrupts_the_run_and_it_finishes_on_the_other(ray_server, cluster) -> None:
    url = ray_server.url
    # 30 epochs: long enough that the resumed run is still training when the test looks for
    # its new node (6 epochs could finish within a second of the resume).
    reference = api(url, "/api/runs", {**BODY, "epochs": 30, "name": "never killed"})
    reference = wait(url, reference["id"], lambda r: r["status"] == "finished", "the reference run")
    run = api(url, "/api/runs", {**BODY, "epochs": 30, "name": "killed"})
    rid = run["id"]
    wait(url, rid, lambda r: (r["checkpoint_step"] or 0) > 30, "a checkpoint mid-run")
    node = api(url, "/api/executor")["runs"][rid]
    cluster.remove_node(node_with_id(cluster, node))
    interrupted = wait(url, rid, lambda r: r["status"] != "running", "the run to notice")
    assert interrupted["status"] == "interrupted", interrupted
    assert "lost its Ray node" in interrupted["message"] and interrupted["resumable"]
    resumed = api(url, f"/api/runs/{rid}/resume", {})
    assert resumed["status"] in ("running", "queued")
    wait(url, rid, lambda r: api(url, "/api/executor")["runs"].get(rid) not in (None, node), "another node")
    assert api(url, "/api/executor")["runs"][rid] != node
    finished = wait(url, rid, lambda r: r["status"] == "finished", "the resumed run")
    assert finished["val_accuracy"] == reference["val_accuracy"] and finished["val_accuracy"] > 0.7
    mine = read_checkpoint(ray_server.data_dir / rid / "last.npz").model.state_dict()
    theirs = read_checkpoint(ray_server.data_dir / reference["id"] / "last.npz").model.state_dict()
    assert all(np.array_equal(mine[k], theirs[k]) for k in theirs), "the same weights as never killed"
    history = api(url, f"/api/runs/{rid}/metrics")
    assert history["batches"]["step"] == list(range(1, finished["total_steps"] + 1))


def test_an_unreachable_cluster_is_a_clear_error_and_runs_wait(tmp_path: Path, small_mnist: Path) -> None:
    port = free_port()
    nowhere = f"127.0.0.1:{free_port()}"
    srv = ServeProcess(
        tmp_path / "data",
        small_mnist,
        env={"GLASSNET_VALIDATION": "200"},
        port=port,
        log=tmp_path / "server.log",
        cwd=ROOT,
        args=["--executor", "ray", "--ray-address", nowhere],
    )
    srv.start(timeout=60)
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            api(srv.url, "/readyz")
        body = json.loads(info.value.read())
        assert info.value.code == 503 and any("unreachable" in p and nowhere in p for p in body["problems"])
        run = api(srv.url, "/api/runs", {**BODY, "epochs": 1})
        assert run["status"] == "queued"
        run = wait(srv.url, run["id"], lambda r: "waiting for the executor" in (r["message"] or ""), "why")
        assert nowhere in run["message"] and run["status"] == "queued"
        assert api(srv.url, "/healthz")["active_runs"] == 0  # the app stays up
    finally:
        srv.stop()
