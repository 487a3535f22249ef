"""The WebSocket ``/ws`` through TestClient: hello, every event type while a run trains, the
paused state, subscribing, live predictions, divergence, and every kind of bad message."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_CNN, TINY_MLP, decode, receive, receive_until, wait_for, wait_status
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.service.protocol import PROTOCOL_VERSION, EventType


@pytest.fixture(scope="module")
def test_digits() -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[:20]
    labels = read_idx(DEFAULT_DATASET_DIR / "t10k-labels-idx1-ubyte.gz")[:20]
    return images.astype(np.float64) / 255.0, labels


def test_hello_on_connect(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        hello = receive(ws)
        assert hello["type"] == "hello" and hello["seq"] >= 1
        assert hello["data"]["version"] == PROTOCOL_VERSION
        assert hello["data"]["runs"] == [] and hello["data"]["current"] is None
        assert client.get("/healthz").json()["viewers"] == 1


def test_every_event_type_while_a_run_trains(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": TINY_CNN, "epochs": 3, "batch_size": 25}).json()
        ws.send_json({"type": "subscribe", "run": run["id"]})
        seen: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = receive(ws)
            seen.setdefault(message["type"], []).append(message)
            if message["type"] == "status" and message["data"]["status"] == "finished":
                break
        assert {"status", "metrics", "epoch", "activations", "kernels", "gradients"} <= set(seen)
        assert all(m["run"] == run["id"] for m in seen["metrics"])
        # Every step's loss arrives (coalesced into frames), in order.
        steps = [s for m in seen["metrics"] for s in m["data"]["step"]]
        assert steps == list(range(1, 61))
        epoch = seen["epoch"][-1]["data"]
        assert epoch["epoch"] == 3 and len(epoch["confusion"]) == 10
        assert sum(map(sum, epoch["confusion"])) == 100
        for wrong in epoch["misclassified"]:
            assert wrong["label"] != wrong["predicted"] and decode(wrong["image"]).shape == (28, 28)
        acts = seen["activations"][-1]["data"]
        assert decode(acts["inputs"]).shape == (10, 28, 28)  # one probe of each digit
        assert [p["label"] for p in acts["probes"]] == list(range(10))
        layers = acts["probes"][0]["layers"]
        assert [layer["type"] for layer in layers] == ["conv2d", "relu", "maxpool2d", "flatten", "dense"]
        assert layers[0]["kind"] == "maps" and layers[0]["shape"] == [2, 24, 24]
        assert layers[-1]["kind"] == "vector" and layers[-1]["shape"] == [10]
        kernels = seen["kernels"][-1]["data"]
        assert decode(kernels["conv"][0]["kernels"]).shape == (2, 1, 5, 5)
        assert kernels["dense"] is None  # the dense layer reads feature maps, not pixels
        grads = seen["gradients"][-1]["data"]
        assert {(g["index"], g["param"]) for g in grads["norms"]} == {(0, "W"), (0, "b"), (4, "W"), (4, "b")}
        assert decode(grads["conv"][0]["grad"]).shape == (2, 1, 5, 5)
        seqs = [m["seq"] for ms in seen.values() for m in ms]
        assert len(seqs) == len(set(seqs))


def test_dense_weights_as_images_for_an_mlp(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1}).json()
        ws.send_json({"type": "subscribe", "run": run["id"]})
        kernels = receive_until(ws, "kernels")["data"]
        assert kernels["conv"] == [] and decode(kernels["dense"]["weights"]).shape == (16, 28, 28)
        wait_status(client, run["id"], "finished")


def test_paused_run_state_is_sent_to_new_subscribers(client: TestClient) -> None:
    run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 300, "batch_size": 20}).json()
    wait_for(lambda: client.get(f"/api/runs/{run['id']}").json()["step"] > 0, what="the first steps")
    paused = client.post(f"/api/runs/{run['id']}/pause").json()
    with client.websocket_connect("/ws") as ws:
        hello = receive(ws)
        assert hello["data"]["current"] == run["id"] and hello["data"]["subscribed"] == [run["id"]]
        # The latest heavy frames, after the latest epoch summary when an epoch has ended.
        types = [receive(ws)["type"] for _ in range(3)]
        if types[0] == "epoch":
            types = [*types[1:], receive(ws)["type"]]
        assert set(types) == {"activations", "kernels", "gradients"}
        ws.send_json({"type": "subscribe", "run": run["id"]})
        status = receive_until(ws, "status")
        assert status["data"]["status"] == "paused" and status["data"]["step"] == paused["step"]
        acts = receive_until(ws, "activations")
        assert acts["data"]["step"] == paused["step"]
        client.post(f"/api/runs/{run['id']}/stop")
        stopped = receive_until(ws, "status")
        assert stopped["data"]["status"] == "stopped"


def test_divergence_is_announced(client: TestClient) -> None:
    spec = {
        "input_shape": [1, 28, 28],
        "layers": [{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "dense", "units": 10}],
        "loss": "mse",
    }
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": spec, "optimizer": "sgd", "lr": 10.0}).json()
        ws.send_json({"type": "subscribe", "run": run["id"]})
        error = receive_until(ws, "error")
        assert error["run"] == run["id"] and error["data"]["code"] == "diverged"
        assert client.get(f"/api/runs/{run['id']}").json()["status"] == "diverged"


def test_live_prediction_with_the_bundled_model(client: TestClient, test_digits) -> None:
    images, labels = test_digits
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        correct = 0
        for image, label in zip(images[:10], labels[:10], strict=True):
            ws.send_json({"type": "predict", "pixels": image.ravel().tolist(), "id": int(label)})
            answer = receive_until(ws, "prediction")["data"]
            assert answer["model"] == "cnn" and answer["id"] == int(label) and not answer["empty"]
            assert abs(sum(answer["probabilities"]) - 1) < 1e-6
            assert answer["activations"][0]["type"] == "conv2d"
            assert decode(answer["prepared"]).shape == (28, 28)
            correct += answer["digit"] == label
        assert correct >= 9
        ws.send_json({"type": "predict", "pixels": [[0.0] * 28] * 28})
        empty = receive_until(ws, "prediction")["data"]
        assert empty["empty"] is True and empty["digit"] is None


def test_live_prediction_from_the_watched_run(client: TestClient, test_digits) -> None:
    images, _ = test_digits
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 300, "batch_size": 20}).json()
        ws.send_json({"type": "subscribe", "run": run["id"]})
        receive_until(ws, "metrics")
        live = client.app.state.settings.data_dir / run["id"] / "live.npz"
        wait_for(live.is_file, what="the run's live weights")  # written before its first step
        ws.send_json({"type": "predict", "pixels": images[0].ravel().tolist()})
        answer = receive_until(ws, "prediction")["data"]
        assert answer["model"] == run["id"]
        assert [a["type"] for a in answer["activations"]] == ["flatten", "dense", "relu", "dense"]
        ws.send_json({"type": "predict", "pixels": images[0].ravel().tolist(), "model": "mlp"})
        assert receive_until(ws, "prediction")["data"]["model"] == "mlp"
        client.post(f"/api/runs/{run['id']}/stop")
        ws.send_json({"type": "predict", "pixels": images[0].ravel().tolist(), "model": f"{run['id']}:last"})
        assert receive_until(ws, "prediction")["data"]["model"] == f"{run['id']}:last"


BAD_MESSAGES = [
    ("{not json", "bad_json", "not valid JSON"),
    ("[1, 2]", "bad_message", "unknown message type"),
    ('{"type": "dance"}', "bad_message", "unknown message type 'dance'"),
    ('{"type": "subscribe"}', "bad_message", "run"),
    ('{"type": "subscribe", "run": "nope"}', "not_found", "nope"),
    ('{"type": "predict"}', "bad_message", "pixels"),
    ('{"type": "predict", "pixels": [NaN, 0.5]}', "bad_message", "finite"),
    ('{"type": "predict", "pixels": [Infinity]}', "bad_message", "finite"),
    ('{"type": "predict", "pixels": ["0.5", 1]}', "bad_message", "number"),
    ('{"type": "predict", "pixels": [0.5, 0.5, 0.5]}', "bad_message", "784"),
    ('{"type": "predict", "pixels": [[0.5, 2.0], [0.1, 0.1]]}', "bad_message", "[0, 1]"),
    ('{"type": "predict", "pixels": [[0.5], [0.1, 0.1]]}', "bad_message", "pixels"),
    ('{"type": "predict", "pixels": [[' + ", ".join(["0.5"] * 784) + "]]}", "bad_message", "a 1x784 grid"),
    ('{"type": "predict", "pixels": [0.5], "colour": 1}', "bad_message", "colour"),
    ('{"type": "predict", "pixels": [0.0], "model": "no-such-model", "id": 7}', "not_found", "no-such-model"),
    ('{"type": "predict", "pixels": [0.0], "model": "../../etc/passwd"}', "not_found", "unknown model"),
    # json.loads raises a plain ValueError here, not a JSONDecodeError (QA #3: it killed the socket)
    (
        '{"type": "predict", "pixels": [' + "9" * 5000 + "]}",
        "bad_json",
        "a number in the message has too many digits",
    ),
    ("[" * 100_000 + "]" * 100_000, "bad_json", "the message is nested too deeply"),
    ('{"type": "predict", "pixels": [[0.5, true], [0.1, 0.1]]}', "bad_message", "pixels"),
    ('{"type": "predict", "pixels": [[0.5, "x"], [0.1, 0.1]]}', "bad_message", "pixels"),
    ('{"type": "predict", "pixels": [[0.5, 1e999], [0.1, 0.1]]}', "bad_message", "pixels"),
    ('{"type": "predict", "pixels": [[0.5, 0.5]], "id": {"a": 1}}', "bad_message", "id"),
]


def test_bad_messages_get_errors_and_the_socket_stays_open(client: TestClient, test_digits) -> None:
    images, labels = test_digits
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        for text, code, needle in BAD_MESSAGES:
            if '"pixels": [0.0]' in text:  # a valid grid for the unknown-model cases
                text = text.replace("[0.0]", json.dumps(images[0].ravel().tolist()))
            ws.send_text(text)
            error = receive_until(ws, "error")["data"]
            assert error["code"] == code, (text, error)
            assert needle in error["message"], (text, error)
        ws.send_bytes(b"\xff\xfe")
        assert receive_until(ws, "error")["data"]["code"] == "bad_json"
        ws.send_json({"type": "predict", "pixels": images[1].ravel().tolist(), "id": "after"})
        answer = receive_until(ws, "prediction")["data"]
        assert answer["id"] == "after" and answer["digit"] == labels[1]


def test_big_messages_are_parsed_off_the_loop_with_the_same_answers(
    client: TestClient, test_digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA #4: a message over 64 KiB is parsed in the heavy pool (the event loop keeps serving
    /healthz and the other sockets meanwhile), and answers exactly as a small one: every bad
    message padded past 64 KiB gets the same error, a big valid grid a prediction."""
    from glassnet.service.routes import ws as ws_routes

    threads: list[str] = []
    real = ws_routes.parse_message

    def spy(text: str):
        threads.append(threading.current_thread().name)
        return real(text)

    monkeypatch.setattr(ws_routes, "parse_message", spy)
    images, labels = test_digits
    pad = " " * (ws_routes.PLAIN_MESSAGE_CHARS + 1)  # JSON allows whitespace around the value
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        for text, code, needle in BAD_MESSAGES:
            if '"pixels": [0.0]' in text:
                text = text.replace("[0.0]", json.dumps(images[0].ravel().tolist()))
            ws.send_text(text + pad)
            error = receive_until(ws, "error")["data"]
            assert (error["code"], needle in error["message"]) == (code, True), (text[:80], error)
        big = np.kron(images[2], np.ones((10, 10)))  # 280x280: ~0.2 MiB of JSON
        ws.send_text(json.dumps({"type": "predict", "pixels": big.tolist(), "id": 3}))
        answer = receive_until(ws, "prediction")["data"]
        assert answer["id"] == 3 and answer["digit"] == labels[2]
    assert threads and all(name.startswith("glassnet-heavy") for name in threads)


def test_a_failing_message_gives_an_internal_error_and_the_socket_lives_on(
    client: TestClient, test_digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with one message (here a fault injected into its parsing) is an
    ``internal`` error event, logged; the socket stays open for the next message."""
    from glassnet.service.routes import ws as ws_routes

    real = ws_routes.parse_message

    def faulty(text: str):
        if "boom" in text:
            raise KeyError("boom")
        return real(text)

    monkeypatch.setattr(ws_routes, "parse_message", faulty)
    images, labels = test_digits
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        ws.send_text('{"type": "boom"}')
        assert receive_until(ws, "error")["data"]["code"] == "internal"
        ws.send_json({"type": "predict", "pixels": images[1].ravel().tolist(), "id": "after"})
        assert receive_until(ws, "prediction")["data"]["digit"] == labels[1]
    assert client.app.state.internal_errors == 1
    client.app.state.internal_errors = 0  # counted as it should be; the fixture checks for none


def test_oversized_message_closes_with_1009(client: TestClient) -> None:
    cap = client.app.state.settings.max_ws_message_bytes
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        ws.send_text('{"type": "predict", "pixels": [' + "0," * (cap // 2) + "0]}")
        with pytest.raises(WebSocketDisconnect) as exc:
            for _ in range(10):
                ws.receive_text()
        assert exc.value.code == 1009


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "https://localhost.evil.example",
        "http://localhost:8000",  # another port: another origin (a dev server, a notebook)
        "http://127.0.0.1:5173",
        "http://testserver:8080",
        "https://testserver",
    ],
)
def test_foreign_origin_is_refused_before_accept(client: TestClient, origin: str) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as exc,
        client.websocket_connect("/ws", headers={"origin": origin}),
    ):
        pass
    assert exc.value.status_code == 403 and f"Origin {origin!r}" in exc.value.json()["detail"]
    assert client.get("/healthz").json()["viewers"] == 0


@pytest.mark.parametrize("origin", ["http://testserver", "http://testserver:80", "HTTP://TestServer"])
def test_the_served_origin_is_accepted(client: TestClient, origin: str) -> None:
    with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
        assert receive(ws)["type"] == EventType.HELLO


def test_unsubscribe_stops_frames(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 300, "batch_size": 20}).json()
        ws.send_json({"type": "subscribe", "run": run["id"]})
        receive_until(ws, "metrics")
        ws.send_json({"type": "unsubscribe", "run": run["id"]})
        # Messages are handled in order: once this answer comes, the unsubscribe has been done.
        ws.send_json({"type": "predict", "pixels": [[0.0] * 28] * 28, "id": "fence"})
        while receive(ws)["type"] != "prediction":
            pass
        client.post(f"/api/runs/{run['id']}/stop")
        # Only status frames (sent to everyone) may still come; then a prediction answer.
        ws.send_json({"type": "predict", "pixels": [[0.0] * 28] * 28})
        types = []
        while True:
            message = receive(ws)
            types.append(message["type"])
            if message["type"] == "prediction":
                break
        late = types[types.index("status") :] if "status" in types else []
        assert set(late) <= {"status", "prediction"}


def test_a_deleted_run_is_announced_to_every_page(client: TestClient) -> None:
    """Pages that watch the run and pages that only list it are told it is gone (by id and the
    name it had); a page that connects later no longer hears of it."""
    run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1, "batch_size": 50}).json()
    wait_status(client, run["id"], "finished")
    with client.websocket_connect("/ws") as watching, client.websocket_connect("/ws") as listing:
        receive(watching), receive(listing)
        watching.send_json({"type": "subscribe", "run": run["id"]})
        receive_until(watching, "status")  # the subscription is in place
        assert client.delete(f"/api/runs/{run['id']}").status_code == 204
        for ws in (watching, listing):
            gone = receive_until(ws, "deleted")
            assert gone["run"] == run["id"] and gone["data"] == {"id": run["id"], "name": run["name"]}
    with client.websocket_connect("/ws") as later:
        assert run["id"] not in {r["id"] for r in receive(later)["data"]["runs"]}
    assert client.delete(f"/api/runs/{run['id']}").status_code == 404
