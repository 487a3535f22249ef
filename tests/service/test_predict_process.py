"""The express lane of POST /api/predict and its second process: the same answers as the route,
byte for byte, and nothing lost when the process dies (service/predictlane.py,
service/predictprocess.py, service/predictchild.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_helpers import Server, wait_for

from glassnet.data.mnist import read_idx
from glassnet.service.inference import ModelRegistry
from glassnet.service.predictchild import _whole_requests, serve
from glassnet.service.predictlane import _plain_query
from glassnet.service.predictprocess import (
    ANSWER,
    OK,
    PASS,
    READY,
    STALL_S,
    _Pipes,
    answer_frame,
    request_frame,
    wanted,
)
from glassnet.training.blas import blas_threads

REPO = Path(__file__).resolve().parents[2]


def digits(n: int) -> list[list[list[float]]]:
    images = read_idx(REPO / "data" / "mnist" / "t10k-images-idx3-ubyte.gz")[:n]
    return [(img / 255.0).round(4).tolist() for img in images]


def series(text: str, name: str, labels: str = "") -> float:
    """A series' value in the Prometheus text (0 when absent)."""
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


# -- the frames -----------------------------------------------------------------------------------


def test_request_frames_are_cut_whole_from_a_stream_however_it_arrives() -> None:
    frames = [
        request_frame(1, "cnn", Path("/m/cnn.npz"), False, b'{"pixels": [1]}'),
        request_frame(2, "run:épochs", Path("/r/ä b/last.npz"), True, b"x" * 70_000),
        request_frame(0xFFFFFFFF, "", Path(""), False, b""),
    ]
    stream = b"".join(frames)
    want = [
        (1, 0, "cnn", Path("/m/cnn.npz"), b'{"pixels": [1]}'),
        (2, 1, "run:épochs", Path("/r/ä b/last.npz"), b"x" * 70_000),
        (0xFFFFFFFF, 0, "", Path(""), b""),
    ]
    for cut in (1, 7, len(frames[0]), len(frames[0]) + 5, len(stream) - 1):
        got, used = _whole_requests(bytearray(stream[:cut]))
        whole = sum(1 for end in np.cumsum([len(f) for f in frames]) if end <= cut)
        assert got == want[:whole] and used == sum(len(f) for f in frames[:whole])
    got, used = _whole_requests(bytearray(stream))
    assert got == want and used == len(stream)


def test_answer_frames_are_cut_whole_from_the_child_however_they_arrive() -> None:
    class Owner:
        def __init__(self) -> None:
            self.got: list[tuple[int, int, bytes]] = []

        def _answered(self, req_id: int, status: int, payload: bytes) -> None:
            self.got.append((req_id, status, payload))

    sent = [(0, READY, b""), (5, OK, b'{"digit": 7}' * 300), (6, PASS, b""), (7, OK, b"{}")]
    stream = b"".join(answer_frame(*a) for a in sent)
    for step in (1, 3, ANSWER.size, 1000, len(stream)):
        owner = Owner()
        pipes = _Pipes(owner)  # type: ignore[arg-type]
        for i in range(0, len(stream), step):
            pipes.pipe_data_received(1, stream[i : i + step])
        assert owner.got == sent and not pipes.buffer


def test_the_child_answers_a_batch_as_the_registry_does(tmp_path: Path) -> None:
    """serve() over real pipes: every request of one batch answered (OK with the registry's JSON,
    or PASS), READY first, and the child ends when its input ends."""
    models = REPO / "models"
    grids = digits(3)
    body = json.dumps({"pixels": grids[0]}).encode()
    other = tmp_path / "cnn-copy.npz"
    other.write_bytes((models / "cnn.npz").read_bytes())
    requests = [
        request_frame(1, "cnn", models / "cnn.npz", False, body),
        request_frame(2, "mlp", models / "mlp.npz", True, json.dumps({"pixels": grids[1]}).encode()),
        request_frame(3, "cnn", models / "cnn.npz", False, b'{"pixels": "no"}'),  # not a plain grid
        request_frame(4, "cnn", other, False, body),  # the same id, another file, in one batch
        request_frame(5, "gone", tmp_path / "gone.npz", False, body),  # a file deleted meanwhile
        request_frame(
            6, "cnn", models / "cnn.npz", False, json.dumps({"pixels": [[2.0] * 28] * 28}).encode()
        ),
    ]
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    os.write(w_in, b"".join(requests))  # all waiting in the pipe: one batch
    os.close(w_in)
    got = bytearray()

    def collect() -> None:
        while chunk := os.read(r_out, 1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=collect)
    reader.start()
    serve(models, tmp_path, "cnn", r_in, w_out)  # returns when its input ends
    os.close(w_out)
    reader.join(30)
    assert not reader.is_alive()
    answers = []
    at = 0
    while at < len(got):
        req_id, status, size = ANSWER.unpack_from(got, at)
        answers.append((req_id, status, bytes(got[at + ANSWER.size : at + ANSWER.size + size])))
        at += ANSWER.size + size
    assert answers[0] == (0, READY, b"")
    by_id = {req_id: (status, payload) for req_id, status, payload in answers[1:]}
    assert sorted(by_id) == [1, 2, 3, 4, 5, 6]
    assert {i for i, (status, _) in by_id.items() if status == PASS} == {3, 4, 5, 6}
    registry = ModelRegistry(models, tmp_path)
    for req_id, grid, model, activations in ((1, grids[0], "cnn", False), (2, grids[1], "mlp", True)):
        with blas_threads(1):  # as the child reads (a product split over threads sums in other blocks)
            want = registry.predict(pixels=np.asarray(grid), model_id=model, activations=activations)
        got_answer = json.loads(by_id[req_id][1])
        assert got_answer["digit"] == want.digit and got_answer["model"] == model
        assert got_answer["message"] == want.message
        np.testing.assert_allclose(got_answer["probabilities"], want.probabilities, rtol=1e-6)
        assert (got_answer["activations"] is not None) == activations
    os.close(r_out)
    os.close(r_in)


def test_the_lane_takes_only_a_plain_query() -> None:
    assert _plain_query(b"") == (None, False)
    assert _plain_query(b"model=mlp") == ("mlp", False)
    assert _plain_query(b"model=run%3Aa&activations=true") == ("run:a", True)
    for odd in (
        b"model=a&model=b",  # twice: FastAPI takes one, the route says which
        b"activations=yes",  # FastAPI reads more spellings than the lane
        b"activations=true&activations=false",
        b"token=abc",
        b"model=" + b"x" * 513,  # over the route's max_length: its 422
        b"activations=0&model=",  # an empty id: the route's 422 (left out, the default answers)
    ):
        assert _plain_query(odd) is None, odd


def test_the_setting() -> None:
    assert wanted("on") and not wanted("off")
    assert wanted("auto") == ((os.cpu_count() or 1) > 1)


# -- a real server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Server:
    root = tmp_path_factory.mktemp("lane")
    srv = Server(root / "runs", tiny_dataset, env={"GLASSNET_PREDICT_PROCESS": "on"})
    yield srv
    srv.stop()


def children(server: Server) -> list[int]:
    found = []
    for pid in server.child_pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"glassnet.service.predictchild" in cmd:
            found.append(pid)
    return found


def lane(http: httpx.Client, how: str) -> float:
    return series(http.get("/metrics").text, "glassnet_predict_lane_total", f'{{how="{how}"}}')


def warm(http: httpx.Client, body: dict, since: float = 0) -> None:
    """Predict until the second process has answered more than ``since`` (it starts on the first
    plain prediction, and again after it died)."""

    def answered() -> bool:
        assert http.post("/api/predict", json=body).status_code == 200
        return lane(http, "process") > since

    wait_for(answered, 60, 0.1, "the second process to answer")


def test_the_second_process_answers_what_the_route_answers_byte_for_byte(server: Server) -> None:
    grids = digits(12)
    flat = np.asarray(grids[0]).ravel().tolist()
    big = np.kron(np.asarray(grids[1]), np.ones((2, 2))).tolist()  # 56x56, as the pad sends
    blank = [[0.0] * 28 for _ in range(28)]
    with server.http() as http:
        warm(http, {"pixels": grids[0]})
        cases = [(f"?model={m}", {"pixels": g}) for g in grids for m in ("cnn", "mlp")]
        cases += [("", {"pixels": flat}), ("", {"pixels": big}), ("", {"pixels": blank})]
        cases += [
            ("?activations=true", {"pixels": grids[2]}),
            ("?model=notes&activations=1", {"pixels": big}),
        ]
        by_process = lane(http, "process")
        for query, body in cases:
            text = json.dumps(body)
            headers = {"content-type": "application/json"}
            fast = http.post(f"/api/predict{query}", content=text, headers=headers)
            # An unknown query parameter: FastAPI ignores it, the lane hands the request on.
            sep = "&" if query else "?"
            slow = http.post(f"/api/predict{query}{sep}via=route", content=text, headers=headers)
            assert fast.status_code == slow.status_code == 200, (query, fast.text[:200])
            assert fast.content == slow.content, query
            assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
            assert fast.headers["x-content-type-options"] == "nosniff"  # Guard's headers on both
        assert lane(http, "process") == by_process + len(cases)
        assert lane(http, "route") >= len(cases)
        answer = http.post("/api/predict", json={"pixels": grids[3]}).json()
        assert answer["digit"] == 0 and answer["model"] == "cnn"  # MNIST test digit 3 is a 0


def test_what_the_process_passes_back_the_route_names(server: Server) -> None:
    grid = digits(1)[0]
    with server.http() as http:
        warm(http, {"pixels": grid})
        before = lane(http, "route")
        out_of_range = [row[:] for row in grid]
        out_of_range[5][5] = 1.5
        r = http.post("/api/predict", json={"pixels": out_of_range})
        assert r.status_code == 422 and "[0, 1]" in r.json()["detail"]
        r = http.post("/api/predict?model=nosuchmodel", json={"pixels": grid})
        assert r.status_code == 404 and "nosuchmodel" in r.json()["detail"]
        r = http.post(
            "/api/predict",
            content=b'{"pixels": [[0.5, 0.5], [0.5]]}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422 and "equal length" in r.json()["detail"]
        assert lane(http, "route") == before + 3
        # An empty ?model= is refused with the field named, not read as the default model.
        r = http.post("/api/predict?model=", json={"pixels": grid})
        assert r.status_code == 422 and "model" in r.json()["detail"], r.text


def test_a_killed_process_loses_no_answer_and_comes_back(server: Server) -> None:
    grids = digits(8)
    with server.http() as http:
        warm(http, {"pixels": grids[0]})
        (pid,) = children(server)
        starts = series(http.get("/metrics").text, "glassnet_predict_process_starts_total")
        here, by_process = lane(http, "here"), lane(http, "process")
        os.kill(pid, signal.SIGKILL)
        # Every request meanwhile is answered, by the server itself until a new process is ready.
        for i in range(40):
            r = http.post("/api/predict", json={"pixels": grids[i % 8]})
            assert r.status_code == 200 and r.json()["digit"] is not None
        assert lane(http, "here") > here

        def back() -> bool:
            assert http.post("/api/predict", json={"pixels": grids[1]}).status_code == 200
            return lane(http, "process") > by_process

        wait_for(back, 60, 0.2, "a new second process to answer")
        text = http.get("/metrics").text
        assert series(text, "glassnet_predict_process_starts_total") == starts + 1
        assert len(children(server)) == 1 and children(server) != [pid]


def test_a_stuck_process_is_killed_and_its_requests_answered_here(server: Server) -> None:
    grid = digits(1)[0]
    with server.http() as http:
        warm(http, {"pixels": grid})
        (pid,) = children(server)
        here, by_process = lane(http, "here"), lane(http, "process")
        os.kill(pid, signal.SIGSTOP)  # alive, holding its pipes, answering nothing
        try:
            started = time.monotonic()
            r = http.post("/api/predict", json={"pixels": grid})
            waited = time.monotonic() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        assert r.status_code == 200 and r.json()["digit"] == 7
        assert STALL_S <= waited < STALL_S + 5  # the watchdog's second, then answered here
        assert lane(http, "here") == here + 1
        wait_for(
            lambda: (
                not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
            ),
            10,
            0.1,
            "the stuck process to be gone",
        )
        warm(http, {"pixels": grid}, since=by_process)  # and a new one answers


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_process_ends_with_the_server(tmp_path: Path, tiny_dataset: Path, sig: int) -> None:
    srv = Server(tmp_path / "runs", tiny_dataset, env={"GLASSNET_PREDICT_PROCESS": "on"})
    try:
        with srv.http() as http:
            warm(http, {"pixels": digits(1)[0]})
        (pid,) = children(srv)
    finally:
        srv.stop()
    assert (
        not Path(f"/proc/{pid}").exists() or b"predictchild" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def test_off_keeps_one_process(tmp_path: Path, tiny_dataset: Path) -> None:
    srv = Server(tmp_path / "runs", tiny_dataset, env={"GLASSNET_PREDICT_PROCESS": "off"})
    try:
        with srv.http() as http:
            for grid in digits(3):
                assert http.post("/api/predict", json={"pixels": grid}).status_code == 200
            text = http.get("/metrics").text
            assert series(text, "glassnet_predict_lane_total", '{how="here"}') == 3
            assert "glassnet_predict_process_starts_total" not in text
        assert children(srv) == []
    finally:
        srv.stop()
