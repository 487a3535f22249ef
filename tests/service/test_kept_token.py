"""A class outlives a restart (QA3 class #1): the token ``glassnet serve --join-code`` generates is
kept in the data dir (0600) and reused by the same command, so the teacher's link and every
student's token still work; ``GLASSNET_TOKEN`` wins when set; deleting the file rotates it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from service_helpers import Server

pytestmark = pytest.mark.slow

CODE = "maths-7b"
ARGS = ["--host", "0.0.0.0", "--join-code", CODE]


def me(server: Server, token: str) -> httpx.Response:
    with server.http() as http:
        return http.get("/api/me", headers={"authorization": f"Bearer {token}"})


def serve(data_dir: Path, dataset: Path, env: dict[str, str] | None = None) -> tuple[Server, str]:
    """A server on ``data_dir`` and what it printed at start."""
    server = Server(data_dir, dataset, env=env, args=ARGS)
    return server, server.log_tail(200_000)


def test_a_restart_with_the_same_command_keeps_every_token(tmp_path: Path, tiny_dataset: Path) -> None:
    data_dir = tmp_path / "runs"
    kept = data_dir / "teacher-token"
    server, printed = serve(data_dir, tiny_dataset)
    try:
        teacher = printed.split("?token=")[1].split()[0]
        assert len(teacher) >= 24
        with server.http() as http:
            joined = http.post("/api/join", json={"code": CODE, "name": "Ana"})
        assert joined.status_code == 200, joined.text
        ana = joined.json()["token"]
    finally:
        server.stop()
    first = printed

    # The same command again: the same teacher, the same students, and the token is not printed.
    server, printed = serve(data_dir, tiny_dataset)
    try:
        assert me(server, teacher).json() == {"owner": "teacher", "role": "teacher"}
        assert me(server, ana).json() == {"owner": "Ana", "role": "student"}
        assert f"kept in {kept}" in printed and "delete it" in printed
        assert teacher not in printed
    finally:
        server.stop()
    assert f"generated now and kept in {kept}" in first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # the owner's only
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".teacher-token")]  # no temp left
    assert kept.read_text().strip() == teacher

    # GLASSNET_TOKEN wins over the kept one (and the file is left alone).
    server, printed = serve(data_dir, tiny_dataset, env={"GLASSNET_TOKEN": "operator-token-0123456789"})
    try:
        assert "(GLASSNET_TOKEN)" in printed and teacher not in printed
        assert me(server, teacher).status_code == 401
        assert me(server, "operator-token-0123456789").json()["role"] == "teacher"
    finally:
        server.stop()
    assert kept.read_text().strip() == teacher

    # Deleting the file rotates the token: everyone is signed out.
    kept.unlink()
    server, printed = serve(data_dir, tiny_dataset)
    try:
        assert "generated now" in printed
        assert kept.read_text().strip() != teacher
        assert me(server, teacher).status_code == 401 and me(server, ana).status_code == 401
    finally:
        server.stop()


def test_a_damaged_token_file_is_one_line_naming_it(tmp_path: Path, tiny_dataset: Path) -> None:
    data_dir = tmp_path / "runs"
    data_dir.mkdir()
    (data_dir / "teacher-token").write_text("x\n")
    with pytest.raises(RuntimeError, match="teacher-token: not a token glassnet wrote; delete it"):
        Server(data_dir, tiny_dataset, args=ARGS)
