"""Commands that race a DELETE of the same run: each passes the route's "does it exist?" check,
then waits for the run's lock while the DELETE holds it and removes the run. The answer is the
404 of a run that is gone, never a 500 (the ``client`` fixture fails on any internal error)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_for, wait_status


def _stopped_run(client: TestClient) -> str:
    r = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 200, "batch_size": 10})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 0, what="training")
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    return rid


def _in_thread(call: Any) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "resume", None),
        ("POST", "stop", None),
        ("POST", "pause", None),
        ("POST", "step", None),
        ("PATCH", "", {"lr": 0.01}),
        ("PATCH", "", {"name": "renamed"}),
        ("DELETE", "", None),
    ],
)
def test_a_command_queued_behind_a_delete_is_a_404(
    client: TestClient, method: str, path: str, body: dict | None
) -> None:
    rid = _stopped_run(client)
    manager = client.app.state.manager
    lock = manager.lock(rid)
    # Hold the run's lock in the server's event loop, so that both requests pass their checks
    # and wait for it: the DELETE first (asyncio's lock is first come, first served).
    client.portal.call(lock.acquire)
    try:
        deleting, deleted = _in_thread(lambda: client.delete(f"/api/runs/{rid}"))
        wait_for(lambda: len(lock._waiters or ()) == 1, 10, 0.01, "the DELETE to wait for the lock")
        url = f"/api/runs/{rid}/{path}" if path else f"/api/runs/{rid}"
        commanding, answered = _in_thread(lambda: client.request(method, url, json=body))
        wait_for(lambda: len(lock._waiters or ()) == 2, 10, 0.01, "the command to wait for the lock")
    finally:
        client.portal.call(lock.release)
    deleting.join(30)
    commanding.join(30)
    assert deleted[0].status_code == 204
    assert answered[0].status_code == 404, answered[0].text
    assert answered[0].json()["detail"] == f"no run with id {rid!r}"
    assert client.get(f"/api/runs/{rid}").status_code == 404


def test_a_run_that_is_not_deleted_is_unchanged_by_the_check(client: TestClient) -> None:
    """The same path without a DELETE: the stopped run resumes (the 404 is only for a run gone)."""
    rid = _stopped_run(client)
    assert client.post(f"/api/runs/{rid}/resume").json()["status"] in ("queued", "running")
    wait_status(client, rid, "running")
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
