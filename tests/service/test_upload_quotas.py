"""QA4 API-4: a student's upload quotas (uploads an hour, bytes of stored uploads) count per
name, as the README says of a student's caps and as runs already did; the teacher (and anyone
without a name) by address. Before, one address counted for all: behind a school's NAT the
teacher's two uploads left Ann and Bob, who had uploaded nothing, a 429."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import REPO, make_settings

from glassnet.service.app import create_app

TEACHER = "teacher-token-0123456789"
CODE = "maths-7b"
MLP = (REPO / "models" / "mlp.npz").read_bytes()  # 440 kB: two fit in 1 MiB, three do not


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def class_client(tmp_path: Path, tiny_dataset: Path, **quotas: int) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path / "runs", tiny_dataset, token=TEACHER, join_code=CODE, quota_names_per_hour=100, **quotas
    )
    with TestClient(create_app(settings)) as client:  # one address: the whole class behind a NAT
        yield client


def join(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/join", json={"code": CODE, "name": name})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # this client plays many people: each request says who it is
    return bearer(r.json()["token"])


def upload(client: TestClient, who: dict[str, str]) -> int:
    r = client.post(
        "/api/models?filename=mine.npz",
        content=MLP,
        headers={**who, "content-type": "application/octet-stream"},
    )
    if r.status_code == 429:
        assert r.json()["code"] == "quota" and int(r.headers["retry-after"]) >= 1
    return r.status_code


@pytest.fixture
def hourly(tmp_path: Path, tiny_dataset: Path) -> Iterator[TestClient]:
    yield from class_client(tmp_path, tiny_dataset, quota_uploads_per_hour=2)


@pytest.fixture
def stored(tmp_path: Path, tiny_dataset: Path) -> Iterator[TestClient]:
    yield from class_client(tmp_path, tiny_dataset, quota_upload_bytes=2**20)


def test_uploads_an_hour_count_per_student_name(hourly: TestClient) -> None:
    c, teacher = hourly, bearer(TEACHER)
    ann, bob = join(c, "ann"), join(c, "bob")
    assert [upload(c, teacher) for _ in range(3)] == [201, 201, 429]
    assert (
        "uploads per hour"
        in c.post(
            "/api/models", content=MLP, headers={**teacher, "content-type": "application/octet-stream"}
        ).json()["detail"]
    )
    assert [upload(c, ann) for _ in range(3)] == [201, 201, 429]  # the teacher's uploads are not Ann's
    assert upload(c, bob) == 201  # nor are Ann's Bob's
    # Each upload is still recorded as its uploader's: Bob may not delete Ann's.
    uploads = [
        m["id"] for m in c.get("/api/models", headers=teacher).json()["models"] if m["kind"] == "upload"
    ]
    assert len(uploads) == 5
    refused = [c.delete(f"/api/models/{u}", headers=bob).status_code for u in uploads]
    assert sorted(refused) == [204, 403, 403, 403, 403]


def test_stored_upload_bytes_count_per_student_name(stored: TestClient) -> None:
    c, teacher = stored, bearer(TEACHER)
    ann = join(c, "ann")
    assert [upload(c, teacher) for _ in range(3)] == [201, 201, 429]
    r = c.post("/api/models", content=MLP, headers={**teacher, "content-type": "application/octet-stream"})
    assert "may hold" in r.json()["detail"]
    assert [upload(c, ann) for _ in range(3)] == [201, 201, 429]
    assert upload(c, join(c, "bob")) == 201
