"""Frames written straight to idle sockets (service/fastsend.py): the framing is the websockets
library's, byte for byte; a viewer whose socket backs up for a while gets every frame once, in
publishing order, the queued ones between the direct ones; through a real uvicorn server the
fast path is taken. (A stalled socket under a real server: test_fanout_stalled.py.)"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest
from service_helpers import TINY_CNN, Server, wait_for
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from glassnet.service.fastsend import RAW_SEND, DirectSocket, text_frame
from glassnet.service.hub import Hub
from glassnet.service.protocol import EventType, MetricsData


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 300_000])
def test_text_frame_is_the_libraries_framing(size: int) -> None:
    text = ("0123456789abcdef" * (size // 16 + 1))[:size]
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_text_frame_counts_bytes_not_characters() -> None:
    text = "学习" * 70  # 140 characters, 420 bytes: the 16-bit length form
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_no_direct_socket_without_uvicorns_protocol() -> None:
    async def plain_send(message: dict) -> None:
        return None

    assert DirectSocket.of({}) is None
    assert DirectSocket.of({RAW_SEND: plain_send}) is None  # another server's send: queue path


class FakeDirect:
    """A socket written directly: ``busy`` plays a transport that still holds unsent bytes."""

    def __init__(self, log: list[int]) -> None:
        self.log, self.busy = log, False

    def idle(self) -> bool:
        return not self.busy

    def write(self, frame: bytes) -> None:
        header = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
        self.log.append(json.loads(frame[header:])["seq"])


class QueueSocket:
    """The ordinary path (``ws.send_text``), recorded in the same log."""

    def __init__(self, log: list[int]) -> None:
        self.log = log
        self.application_state = None

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(0.001)  # a write that takes a moment
        self.log.append(json.loads(text)["seq"])


def test_direct_and_queued_frames_keep_the_publishing_order() -> None:
    """While anything is queued or in flight, frames queue behind it even when the socket is
    idle again; once the queue is empty they go direct again. Nothing is doubled or lost."""

    async def scenario() -> tuple[list[int], int, Hub]:
        log: list[int] = []
        hub = Hub(queue_size=10_000)
        viewer = hub.add(QueueSocket(log))
        direct = viewer.direct = FakeDirect(log)
        viewer.runs.add("r")
        pump = asyncio.create_task(hub.pump(viewer))
        for step in range(300):
            direct.busy = 100 <= step < 130  # the socket backs up for a while
            hub.publish(EventType.METRICS, "r", metrics(step))
            if step % 7 == 0:
                await asyncio.sleep(0)  # let the sender task run now and then
        while viewer.queue or viewer.sending_since is not None:
            await asyncio.sleep(0.005)
        pump.cancel()
        return log, viewer.direct_sent, hub

    log, direct_sent, hub = asyncio.run(scenario())
    assert log == list(range(1, 301))  # seq 1..300: every frame once, in order
    assert 100 <= direct_sent < 300  # both paths were taken
    assert hub.stats()["direct_frames"] == direct_sent


def metrics(step: int) -> MetricsData:
    return MetricsData(step=[step], epoch=[0], loss=[1.0], accuracy=[0.5], lr=[0.1], samples_per_s=1.0)


@pytest.mark.slow
def test_a_real_server_writes_idle_sockets_directly(tmp_path: Path, tiny_dataset: Path) -> None:
    server = Server(tmp_path / "runs", tiny_dataset)
    try:
        with server.http() as http, connect(server.ws_url, max_size=None) as ws:
            wait_for(lambda: http.get("/api/stats").json()["viewers"] == 1, 10, 0.05, "the viewer")
            body = {"spec": TINY_CNN, "epochs": 1000, "batch_size": 10}
            run = http.post("/api/runs", json=body).json()["id"]
            seqs = [json.loads(ws.recv(timeout=10))["seq"] for _ in range(100)]
            http.post(f"/api/runs/{run}/stop")
            stats = http.get("/api/stats").json()
        # The client (websockets) parsed every frame: the framing is right; the order is kept.
        assert all(a < b for a, b in itertools.pairwise(seqs))
        assert stats["direct_frames"] >= 90
    finally:
        server.stop()
