"""A run's files against its DELETE (QA round 3, #4 and #5): a reader that finds them gone
answers 404, never a 500, a 422 or a cut download; and a delete is all or nothing across a kill
of the server (start-up finishes one that was under way and removes folders without a run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_for

from glassnet.service import learned as learned_module
from glassnet.service.app import create_app
from glassnet.service.settings import Settings


def _stopped_run(client: TestClient, app: Any = None) -> str:
    r = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 200, "batch_size": 10})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 0, what="training")
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    manager = (app or client.app).state.manager
    wait_for(lambda: (manager.run_dir(rid) / "last.npz").is_file(), what="last.npz")
    return rid


def _delete_folder_after(target: Any, name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``target.name`` removes ``folder`` (as a DELETE landing then would) once it has answered."""
    original = getattr(target, name)

    def then_delete(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        shutil.rmtree(folder, ignore_errors=True)
        return out

    monkeypatch.setattr(target, name, then_delete)


def test_a_download_whose_file_goes_is_a_404(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _stopped_run(client)
    folder = client.app.state.manager.run_dir(rid)
    _delete_folder_after(client.app.state.registry, "path_of", folder, monkeypatch)
    r = client.get(f"/api/models/{rid}:last")
    assert r.status_code == 404, r.text
    assert rid in r.json()["detail"]


def test_an_onnx_export_whose_file_goes_is_a_404(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx")
    rid = _stopped_run(client)
    folder = client.app.state.manager.run_dir(rid)
    _delete_folder_after(client.app.state.registry, "path_of", folder, monkeypatch)
    r = client.get(f"/api/models/{rid}:last/onnx")
    assert r.status_code == 404, r.text  # the request was fine: the model went away


def test_learned_frames_whose_checkpoint_goes_are_a_404(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _stopped_run(client)
    folder = client.app.state.manager.run_dir(rid)
    original = learned_module.read_checkpoint

    def removed_first(*args: Any, **kwargs: Any) -> Any:
        shutil.rmtree(folder, ignore_errors=True)  # between the listing and the read
        return original(*args, **kwargs)

    monkeypatch.setattr(learned_module, "read_checkpoint", removed_first)
    r = client.get(f"/api/runs/{rid}/learned")
    assert r.status_code == 404, r.text


def test_a_download_already_started_is_sent_whole(settings: Settings) -> None:
    doomed: list[Path] = []  # removed as soon as a download's answer starts

    app = create_app(settings)

    async def deleting_on_start(scope: Any, receive: Any, send: Any) -> None:
        async def then_delete(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["path"].startswith("/api/models/"):
                for folder in doomed:
                    shutil.rmtree(folder, ignore_errors=True)
            await send(message)

        await app(scope, receive, then_delete if scope["type"] == "http" else send)

    with TestClient(deleting_on_start) as client:
        rid = _stopped_run(client, app)
        folder = app.state.manager.run_dir(rid)
        expected = (folder / "last.npz").read_bytes()
        doomed.append(folder)
        r = client.get(f"/api/models/{rid}:last")
        assert not folder.exists()
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == len(expected)
        assert r.content == expected


def test_a_delete_leaves_no_folder_and_no_trash(client: TestClient, settings: Settings) -> None:
    rid = _stopped_run(client)
    assert client.delete(f"/api/runs/{rid}").status_code == 204
    assert not (settings.data_dir / rid).exists()
    assert not any((settings.data_dir / ".trash").glob("*"))
    assert all(not m["id"].startswith(rid) for m in client.get("/api/models").json()["models"])


def test_start_up_finishes_a_delete_that_a_kill_interrupted(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        trashed, kept = _stopped_run(client), _stopped_run(client)
    # As a server killed inside DELETE leaves it: the folder renamed into the trash, its row there.
    (settings.data_dir / ".trash").mkdir(exist_ok=True)
    os.rename(settings.data_dir / trashed, settings.data_dir / ".trash" / f"{trashed}.0badf00d")

    with TestClient(create_app(settings)) as client:  # the restart
        assert client.get(f"/api/runs/{trashed}").status_code == 404
        assert client.get(f"/api/models/{trashed}:last").status_code == 404
        assert not any((settings.data_dir / ".trash").glob("*"))
        ids = {m["id"] for m in client.get("/api/models").json()["models"]}
        assert not any(i.startswith(trashed) for i in ids)
        assert client.get(f"/api/runs/{kept}").status_code == 200  # the other is untouched
        assert f"{kept}:last" in ids


def test_a_database_moved_aside_keeps_every_run_folder(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """QA round 4 (DUR-1): the damaged-database message says to move runs.sqlite3 aside and start
    again, "every run's folder is kept" — and the next start removed every run folder without a
    row, i.e. all of them (the same after restoring an older backup)."""
    with TestClient(create_app(settings)) as client:
        runs = [_stopped_run(client), _stopped_run(client)]
    files = {rid: (settings.data_dir / rid / "last.npz").read_bytes() for rid in runs}
    settings.database_path.rename(settings.database_path.with_name("runs.sqlite3.damaged"))
    for extra in ("-wal", "-shm"):
        settings.database_path.with_name(settings.database_path.name + extra).unlink(missing_ok=True)
    with caplog.at_level("WARNING", logger="glassnet"), TestClient(create_app(settings)) as client:
        assert client.get("/api/runs").json() == []  # a new, empty run list
    for rid, data in files.items():
        assert (settings.data_dir / rid / "last.npz").read_bytes() == data, f"run {rid}'s checkpoint went"
    assert any("2 run folders" in r.getMessage() and "kept" in r.getMessage() for r in caplog.records)
    with TestClient(create_app(settings)) as client:  # and again: still kept
        pass
    assert all((settings.data_dir / rid / "last.npz").is_file() for rid in runs)
