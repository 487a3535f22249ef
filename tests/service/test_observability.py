"""Logs and metrics of a real ``glassnet serve``: ``/metrics`` series move while a run trains, the log
(``--log-json``) has one line per lifecycle event of each run with its id and figures, and
``GET /api/runs`` pages and filters."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_for

from glassnet.data.mnist import read_idx
from glassnet.service.devserver import ServeProcess, free_port

pytestmark = pytest.mark.slow

FAST = {
    "GLASSNET_METRICS_INTERVAL_S": "0.05",
    "GLASSNET_HEAVY_INTERVAL_S": "0.2",
    "GLASSNET_LIVE_CHECKPOINT_S": "0.2",
    "GLASSNET_MAX_ACTIVE_RUNS": "1",
}
LONG = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 8, "lr": 0.01}


def series(text: str, name: str, labels: str = "") -> float:
    """The value of one series in Prometheus text (summed over label sets that contain ``labels``)."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.fullmatch(rf"{re.escape(name)}(\{{.*\}})? (\S+)", line)
        if m and labels in (m.group(1) or ""):
            total += float(m.group(2))
            found = True
    assert found, f"no series {name}{{{labels}}} in /metrics"
    return total


def wait_run(http: httpx.Client, run_id: str, statuses: set[str], timeout: float = 60) -> dict:
    return wait_for(
        lambda: (r := http.get(f"/api/runs/{run_id}").json())["status"] in statuses and r,
        timeout,
        0.05,
        f"run {run_id} to become {statuses}",
    )


def lifecycle(log: Path) -> dict[str, list[str]]:
    """Run id -> its lifecycle events, in order, from the JSON log lines of glassnet.runs."""
    events: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)  # every log line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(record)
        if record["logger"] == "glassnet.runs":
            assert record["message"] == f"run {record['event']}" and re.fullmatch(
                r"[0-9a-f]{12}", record["run"]
            )
            events.setdefault(record["run"], []).append(record["event"])
    return events


def test_metrics_move_and_every_lifecycle_event_is_logged_once(tmp_path: Path, tiny_dataset: Path) -> None:
    log = tmp_path / "serve.log"
    server = ServeProcess(
        tmp_path / "runs",
        tiny_dataset,
        env={**FAST, "GLASSNET_MAX_QUEUED_RUNS": "4"},
        port=free_port(),
        log=log,
        args=["--log-json", "--validation", "100"],
    ).start(timeout=30)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            # A long run trains; a second one waits behind it.
            a = http.post("/api/runs", json=LONG).json()
            wait_run(http, a["id"], {"running"})
            b = http.post("/api/runs", json={**LONG, "epochs": 1}).json()
            assert b["status"] == "queued"
            digit = (read_idx(tiny_dataset / "t10k-images-idx3-ubyte")[0] / 255.0).tolist()

            def scrape() -> str:
                r = http.get("/metrics")
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
                return r.text

            wait_for(lambda: series(scrape(), "glassnet_training_samples_total") > 0, 30, 0.1, "samples")
            first = scrape()
            assert http.post("/api/predict", json={"pixels": digit}).status_code == 200
            wait_for(
                lambda: (
                    series(scrape(), "glassnet_training_samples_total")
                    > series(first, "glassnet_training_samples_total") + 1000
                ),
                30,
                0.1,
                "more samples",
            )
            wait_for(
                lambda: (
                    series(scrape(), "glassnet_checkpoint_writes_total")
                    > series(first, "glassnet_checkpoint_writes_total")
                ),
                30,
                0.1,
                "a checkpoint",
            )
            second = scrape()
            assert series(second, "glassnet_active_runs") == 1 and series(second, "glassnet_queued_runs") == 1
            # The speed is over the last seconds of training: none in the first second.
            name, label = "glassnet_training_samples_per_second", f'run="{a["id"]}"'
            wait_for(
                lambda: f"{name}{{{label}}}" in (text := scrape()) and series(text, name, label) > 0,
                30,
                0.1,
                "a training speed",
            )
            assert (
                series(second, "glassnet_predict_seconds_count")
                == series(first, "glassnet_predict_seconds_count") + 1
            )
            requests = 'route="/metrics",status="200"'
            assert series(second, "glassnet_http_requests_total", requests) > series(
                first, "glassnet_http_requests_total", requests
            )
            for name in (
                "glassnet_viewers",
                "glassnet_dropped_frames_total",
                "glassnet_checkpoint_failures_total",
            ):
                series(second, name)

            # Pause, resume, let the queued one go, kill a training process (interrupted: resumable).
            assert http.post(f"/api/runs/{a['id']}/pause").json()["status"] == "paused"
            assert http.post(f"/api/runs/{a['id']}/resume").json()["status"] == "running"
            assert http.post(f"/api/runs/{b['id']}/stop").json()["status"] == "stopped"
            # The run's training process: the last pid its "started" log lines name.
            started = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            pid = [r["pid"] for r in started if r.get("run") == a["id"] and r.get("event") == "started"][-1]
            assert pid in server.child_pids()
            os.kill(pid, signal.SIGKILL)
            wait_run(http, a["id"], {"interrupted"})
            assert series(scrape(), "glassnet_active_runs") == 0

            # One that diverges, one that finishes, one interrupted by the server's shutdown.
            c = http.post(
                "/api/runs",
                json={"spec": {**TINY_MLP, "loss": "mse"}, "optimizer": "sgd", "lr": 10.0, "epochs": 50},
            ).json()
            wait_run(http, c["id"], {"diverged"})
            d = http.post("/api/runs", json={**LONG, "epochs": 1}).json()
            finished = wait_run(http, d["id"], {"finished"})
            e = http.post("/api/runs", json=LONG).json()
            wait_run(http, e["id"], {"running"})
            wait_for(lambda: (server.data_dir / e["id"] / "live.npz").is_file(), 30, 0.05, "live weights")

            # Pages and filters of /api/runs.
            assert [r["id"] for r in http.get("/api/runs").json()] == [
                a["id"],
                b["id"],
                c["id"],
                d["id"],
                e["id"],
            ]
            page = http.get("/api/runs", params={"limit": 2})
            assert [r["id"] for r in page.json()] == [a["id"], b["id"]]
            rest = http.get("/api/runs", params={"limit": 2, "cursor": page.headers["x-next-cursor"]})
            assert [r["id"] for r in rest.json()] == [c["id"], d["id"]] and 'rel="next"' in rest.headers[
                "link"
            ]
            last = http.get("/api/runs", params={"limit": 2, "cursor": rest.headers["x-next-cursor"]})
            assert [r["id"] for r in last.json()] == [e["id"]] and "x-next-cursor" not in last.headers
            filtered = http.get(
                "/api/runs", params=[("status", "interrupted"), ("status", "diverged")]
            ).json()
            assert [r["id"] for r in filtered] == [a["id"], c["id"]]
            assert http.get("/api/runs", params={"status": "sleeping"}).status_code == 422
            assert http.get("/api/runs", params={"cursor": "not-a-cursor"}).status_code == 422
    finally:
        server.stop(signal.SIGTERM)

    events = lifecycle(log)
    # Checkpoints come with every epoch and with the pause: between the other events.
    assert [x for x in events[a["id"]] if x != "checkpointed"] == [
        "created",
        "started",
        "paused",
        "resumed",
        "interrupted",
    ]
    assert "checkpointed" in events[a["id"]]
    assert events[b["id"]] == ["created", "queued", "stopped"]
    assert events[c["id"]][:2] == ["created", "started"] and events[c["id"]][-1] == "diverged"
    d_events = events[d["id"]]
    assert d_events[:2] == ["created", "started"] and d_events[-1] == "finished"
    assert d_events.count("checkpointed") == 2  # the resume point before the first step, the one epoch
    assert [x for x in events[e["id"]] if x != "checkpointed"] == ["created", "started", "interrupted"]
    assert "checkpointed" in events[e["id"]]  # the shutdown's checkpoint
    text = log.read_text()
    done = next(json.loads(x) for x in text.splitlines() if d["id"] in x and '"finished"' in x)
    assert done["epoch"] == 1 and done["val_accuracy"] == pytest.approx(finished["val_accuracy"])
    assert done["level"] == "info" and done["time"].endswith("Z")


def test_text_logs_are_timestamped_and_levelled(client: TestClient, caplog) -> None:
    import io
    import logging

    from glassnet.logs import configure, fields

    stream = io.StringIO()
    handler = configure("info", stream=stream)
    try:
        logging.getLogger("glassnet.runs").info(
            "run created", extra=fields(event="created", run="abc", lr=0.001)
        )
        logging.getLogger("glassnet.runs").debug("not shown")
    finally:
        logging.getLogger("glassnet").removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(stamp + " INFO glassnet.runs: run created event=created run=abc lr=0.001", line)
