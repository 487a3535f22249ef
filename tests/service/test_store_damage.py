"""A damaged run database: a file that is not SQLite, or one whose runs table is damaged, stops
``glassnet serve`` with one line naming the file and what to do (exit 2, no traceback); the run
folders are left alone."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import REPO, TINY_MLP, make_settings

from glassnet.service.app import create_app
from glassnet.service.devserver import free_port
from glassnet.service.store import DamagedStoreError, RunStore
from glassnet.training.config import TrainConfig


def _database_with_a_run(data_dir: Path) -> Path:
    store = RunStore(data_dir / "runs.sqlite3")
    config = TrainConfig().as_dict()
    store.create({"id": "abc123", "name": "one", "spec": TINY_MLP, "config": config, "validation": 100})
    store.close()
    (data_dir / "abc123").mkdir()
    (data_dir / "abc123" / "last.npz").write_bytes(b"kept")
    return data_dir / "runs.sqlite3"


def _bad_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"GARBAGEGARBAGEGARBAGE")


def _zeroed_runs_table(path: Path) -> None:
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    db.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes(page_size))


@pytest.mark.parametrize("damage", [_bad_header, _zeroed_runs_table])
def test_create_app_names_a_damaged_database(tmp_path: Path, tiny_dataset: Path, damage) -> None:
    path = _database_with_a_run(tmp_path / "runs")
    damage(path)
    with pytest.raises(DamagedStoreError) as caught:
        create_app(make_settings(tmp_path / "runs", tiny_dataset))
    assert isinstance(caught.value, ValueError)  # glassnet serve: one line, exit 2
    text = str(caught.value)
    assert str(path) in text and "move it aside" in text and "is kept" in text
    assert (tmp_path / "runs" / "abc123" / "last.npz").read_bytes() == b"kept"


def test_a_healthy_database_and_a_new_data_dir_pass(tmp_path: Path, tiny_dataset: Path) -> None:
    _database_with_a_run(tmp_path / "old")
    create_app(make_settings(tmp_path / "old", tiny_dataset))
    create_app(make_settings(tmp_path / "new", tiny_dataset))
    assert not (tmp_path / "new").exists()  # the check creates nothing


def test_the_store_itself_names_the_file(tmp_path: Path) -> None:
    """Damage the start-up check cannot see in advance is still a DamagedStoreError naming it."""
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(b"not a database at all, but long enough to have a header" * 100)
    with pytest.raises(DamagedStoreError, match=r"runs\.sqlite3: cannot be read"):
        RunStore(path)


@pytest.mark.slow  # a real glassnet serve
def test_glassnet_serve_says_one_line_and_exits_2(tmp_path: Path, tiny_dataset: Path) -> None:
    path = _database_with_a_run(tmp_path / "runs")
    _bad_header(path)
    done = subprocess.run(
        [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "runs"), "--dataset", str(tiny_dataset)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and str(path) in errors[0] and "move it aside" in errors[0], done.stderr


# -- one unreadable row ---------------------------------------------------------------------------
def _runs_with_damaged_rows(data_dir: Path) -> None:
    """Healthy runs a and e (stopped), and between them b, c, d: each damaged in one column."""
    store = RunStore(data_dir / "runs.sqlite3")
    config = TrainConfig().as_dict()
    for rid in ("a", "b", "c", "d", "e"):
        store.create({"id": rid, "name": rid, "spec": TINY_MLP, "config": config, "validation": 100})
        store.update(rid, status="stopped")
    store.db.execute("UPDATE runs SET config = '{not json' WHERE id = 'b'")
    store.db.execute("UPDATE runs SET status = 'bogus' WHERE id = 'c'")  # e.g. from a newer version
    store.db.execute("UPDATE runs SET spec = '3' WHERE id = 'd'")
    store.close()


def test_one_unreadable_row_leaves_the_others_served(
    tmp_path: Path, tiny_dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _runs_with_damaged_rows(tmp_path / "runs")
    app = create_app(make_settings(tmp_path / "runs", tiny_dataset))
    with caplog.at_level("WARNING", logger="glassnet.store"), TestClient(app) as client:
        listed = client.get("/api/runs")
        assert listed.status_code == 200, listed.text
        assert [r["id"] for r in listed.json()] == ["a", "e"]
        page = client.get("/api/runs", params={"limit": 1})
        assert [r["id"] for r in page.json()] == ["a"]  # a full page, and a next one
        rest = client.get("/api/runs", params={"limit": 1, "cursor": page.headers["X-Next-Cursor"]})
        assert [r["id"] for r in rest.json()] == ["e"]
        assert [r["id"] for r in client.get("/api/class").json()["runs"]] == ["a", "e"]
        for rid, column in (("b", "config"), ("c", "status"), ("d", "spec")):
            for path in ("", "/metrics", "/learned", "/resume"):
                r = client.request("POST" if path == "/resume" else "GET", f"/api/runs/{rid}{path}")
                assert r.status_code == 409, (rid, path, r.text)
                assert f"run {rid} cannot be read from runs.sqlite3: its {column}" in r.json()["detail"]
        assert client.get("/api/runs/a").json()["status"] == "stopped"
        assert client.get("/api/runs/zzz").status_code == 404
        assert getattr(client.app.state, "internal_errors", 0) == 0
    warned = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warned) == 3 and "run b cannot be read" in warned[0]  # once each, at start-up


# -- a run database that cannot be written ------------------------------------------------------
@contextlib.contextmanager
def _read_only(path: Path):
    """``path`` made unwritable for this user: mode 0444, or as root (who ignores modes) the
    immutable flag, which binds root too."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i does not work: no file root cannot write")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _folder_in_place(data_dir: Path) -> Path:
    (data_dir / "runs.sqlite3").mkdir(parents=True)
    return data_dir / "runs.sqlite3"


def test_create_app_names_a_database_it_cannot_write(tmp_path: Path, tiny_dataset: Path) -> None:
    path = _database_with_a_run(tmp_path / "runs")
    with _read_only(path), pytest.raises(ValueError) as caught:
        create_app(make_settings(tmp_path / "runs", tiny_dataset))
    text = str(caught.value)
    assert text.startswith(f"{path}: the run database cannot be opened for writing (")
    assert "move it aside" in text and "\n" not in text


def test_create_app_names_a_folder_in_place_of_the_database(tmp_path: Path, tiny_dataset: Path) -> None:
    path = _folder_in_place(tmp_path / "runs")
    with pytest.raises(
        ValueError, match=r"runs\.sqlite3: the run database cannot be opened for writing \(Is"
    ):
        create_app(make_settings(tmp_path / "runs", tiny_dataset))
    assert path.is_dir()  # left as it was


@pytest.mark.slow  # a real glassnet serve
@pytest.mark.parametrize("unwritable", ["read-only", "folder"])
def test_glassnet_serve_says_one_line_for_an_unwritable_database(
    tmp_path: Path, tiny_dataset: Path, unwritable: str
) -> None:
    data_dir = tmp_path / "runs"
    if unwritable == "folder":
        path, held = _folder_in_place(data_dir), contextlib.nullcontext()
    else:
        path = _database_with_a_run(data_dir)
        held = _read_only(path)
    with held:
        done = subprocess.run(
            [sys.executable, "-m", "glassnet.cli", "serve", "--port", str(free_port()),
             "--data-dir", str(data_dir), "--dataset", str(tiny_dataset)],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # no "open http://..." before the error
    assert (
        done.stderr.splitlines()
        == [line for line in done.stderr.splitlines() if line.startswith(f"glassnet serve: error: {path}: ")]
        and len(done.stderr.splitlines()) == 1
    ), done.stderr
