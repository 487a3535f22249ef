"""Scratch copies of ``/api/explain/step`` in a class (QA3 #4, #5): a copy stays named by the
network it came from however deep, one person's steps never evict another's copy, memory stays
bounded, and a copy that is gone is a 404 with the code ``scratch_gone`` and the reason."""

from __future__ import annotations

from fastapi.testclient import TestClient

from glassnet.nn.model import Sequential
from glassnet.service.explain import ScratchModels, UnknownScratchError


def step(client: TestClient, model: str, who: str = "ann") -> dict:
    r = client.post(
        "/api/explain/step",
        json={"model": model, "examples": [{"test_index": 0}], "lr": 1.0, "keep": True},
        headers={"x-glassnet-owner": who},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_origin_is_the_original_network_however_many_steps(client: TestClient) -> None:
    model = "notes"
    for _ in range(4):
        s = step(client, model)
        assert s["origin"] == "notes"
        model = s["scratch"]


def test_one_persons_steps_never_evict_anothers_copy(client: TestClient) -> None:
    """A class: ann keeps one copy; 60 steps by others (bob alone takes 40) leave it alive."""
    ann = step(client, "notes", "ann")["scratch"]
    model = "notes"
    for _ in range(40):
        model = step(client, model, "bob")["scratch"]
    for k in range(20):
        step(client, "notes", f"student{k}")
    r = client.post("/api/explain", json={"model": ann, "test_index": 0, "layers": []})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == ann


def test_a_copy_that_is_gone_says_why(client: TestClient) -> None:
    first = step(client, "notes", "cy")["scratch"]
    for _ in range(ScratchModels().per_owner):
        step(client, "notes", "cy")
    r = client.post("/api/explain/step", json={"model": first, "examples": [{"test_index": 0}], "lr": 1.0})
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "scratch_gone"
    assert "later steps replaced it" in body["detail"]
    r = client.post("/api/explain", json={"model": "scratch:feedface", "test_index": 0})
    assert r.json()["code"] == "scratch_gone" and "restarted" in r.json()["detail"]


def test_memory_is_bounded_and_the_fullest_owner_pays() -> None:
    net = Sequential.from_spec({"input_shape": [4], "layers": [{"type": "dense", "units": 3}], "loss": "mse"})
    size = ScratchModels.size_of(net.param_count())
    kept = ScratchModels(per_owner=4, max_bytes=5 * size)
    ann = kept.add(net, "notes", "ann")
    bobs = [kept.add(net, "notes", "bob") for _ in range(4)]
    assert ann and all(bobs)
    cy = kept.add(net, "notes", "cy")  # full: bob (four copies) gives up his oldest
    assert cy
    assert kept.get(ann)[1] == "notes"
    try:
        kept.get(bobs[0])
        raise AssertionError("bob's oldest copy should be gone")
    except UnknownScratchError as exc:
        assert "memory" in str(exc)
    assert sum(1 for b in bobs[1:] if kept.get(b)) == 3
    # too large to keep at all: refused before any copy is made
    assert not ScratchModels(max_bytes=size - 1).fits(net.param_count())
