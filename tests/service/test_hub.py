"""The fan-out hub on its own: bounded queues, what is dropped (oldest heavy frames first, never
status or epoch), latest-wins for heavy frames, and a stalled viewer kicked without slowing the
others."""

from __future__ import annotations

import asyncio
import json

from glassnet.service.hub import Hub
from glassnet.service.protocol import ErrorData, EventType, MetricsData


class FakeSocket:
    """Records frames; ``stall`` makes every send hang (a browser that stopped reading)."""

    def __init__(self, stall: bool = False) -> None:
        self.sent: list[dict] = []
        self.stall = stall
        self.closed_with: int | None = None
        self.application_state = None

    async def send_text(self, text: str) -> None:
        if self.stall:
            await asyncio.sleep(3600)
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


async def until(done, timeout: float = 30.0) -> None:
    """Wait for something to happen (an event), not for a fixed time."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not done():
        assert loop.time() < end, "it did not happen"
        await asyncio.sleep(0.005)


def metrics(step: int) -> MetricsData:
    return MetricsData(step=[step], epoch=[0], loss=[1.0], accuracy=[0.5], lr=[0.1], samples_per_s=1.0)


def heavy(step: int) -> ErrorData:  # any model will do as the payload of a heavy frame here
    return ErrorData(code="x", message=str(step))


def test_full_queue_drops_heavy_first_then_metrics_never_status() -> None:
    hub = Hub(queue_size=7, send_timeout=1.0)
    viewer = hub.add(FakeSocket())  # no pump: nothing is sent, the queue only fills
    viewer.runs.add("r")
    hub.publish(EventType.STATUS, "r", heavy(0), everyone=True)
    for step in range(1, 4):
        hub.publish(EventType.ACTIVATIONS, "r", heavy(step))
        hub.publish(EventType.KERNELS, "r", heavy(step))
        hub.publish(EventType.METRICS, "r", metrics(step))
    hub.publish(EventType.EPOCH, "r", heavy(9))
    types = [f.type for f in viewer.queue]
    # Latest wins: one activations and one kernels frame (the newest), all metrics, status, epoch.
    assert types.count(EventType.ACTIVATIONS) == 1 and types.count(EventType.KERNELS) == 1
    assert EventType.STATUS in types and EventType.EPOCH in types
    assert len(viewer.queue) == 7
    newest = next(f for f in viewer.queue if f.type == EventType.ACTIVATIONS)
    assert '"message":"3"' in newest.text
    hub.publish(EventType.METRICS, "r", metrics(4))  # full: the oldest heavy frame goes first
    types = [f.type for f in viewer.queue]
    assert EventType.ACTIVATIONS not in types and EventType.KERNELS in types
    for step in range(5, 20):  # then the oldest metrics; status and epoch stay
        hub.publish(EventType.METRICS, "r", metrics(step))
    types = [f.type for f in viewer.queue]
    assert EventType.STATUS in types and EventType.EPOCH in types and len(types) == 7
    assert EventType.KERNELS not in types
    kept = [json.loads(f.text)["data"]["step"][0] for f in viewer.queue if f.type == EventType.METRICS]
    assert kept == list(range(15, 20))  # the newest metrics
    assert viewer.dropped > 0


def test_stalled_viewer_is_kicked_and_others_keep_receiving() -> None:
    async def scenario() -> tuple[FakeSocket, FakeSocket, Hub]:
        hub = Hub(queue_size=8, send_timeout=0.3)
        good, stalled = FakeSocket(), FakeSocket(stall=True)
        pumps = []
        for ws in (good, stalled):
            viewer = hub.add(ws)
            viewer.runs.add("r")
            pumps.append(asyncio.create_task(hub.pump(viewer)))
        for step in range(1, 201):  # publishing never waits for a viewer
            hub.publish(EventType.METRICS, "r", metrics(step))
            hub.publish(EventType.ACTIVATIONS, "r", heavy(step))
            await asyncio.sleep(0.005)  # a trainer's pace, so the reading viewer keeps up
        # Until the reading viewer has the last frame and the stalled one is kicked.
        await until(lambda: any(m["type"] == "metrics" and m["data"]["step"] == [200] for m in good.sent))
        await until(lambda: stalled.closed_with is not None)
        for task in pumps:
            task.cancel()
        return good, stalled, hub

    good, stalled, hub = asyncio.run(scenario())
    steps = [m["data"]["step"][0] for m in good.sent if m["type"] == "metrics"]
    assert steps == list(range(1, 201))  # the reading viewer got every metrics frame, in order
    assert stalled.closed_with == 1008
    assert hub.stats()["viewers"] == 1 and hub.stats()["disconnected_slow"] == 1


def test_overflow_of_undroppable_frames_disconnects() -> None:
    async def scenario() -> tuple[FakeSocket, Hub]:
        hub = Hub(queue_size=4, send_timeout=100)
        ws = FakeSocket(stall=True)
        viewer = hub.add(ws)
        viewer.runs.add("r")
        for step in range(20):
            hub.publish(EventType.STATUS, "r", heavy(step), everyone=True)
        await until(lambda: ws.closed_with is not None)
        return ws, hub

    ws, hub = asyncio.run(scenario())
    assert ws.closed_with == 1008 and hub.stats()["viewers"] == 0


def test_seq_increases_and_envelope_shape() -> None:
    hub = Hub()
    viewer = hub.add(FakeSocket())
    viewer.runs.add("r")
    hub.publish(EventType.METRICS, "r", metrics(1))
    hub.publish(EventType.STATUS, None, heavy(1), everyone=True)
    frames = [json.loads(f.text) for f in viewer.queue]
    assert [f["seq"] for f in frames] == [1, 2]
    assert frames[0]["v"] == 1 and frames[0]["type"] == "metrics" and frames[0]["run"] == "r"
    assert frames[1]["run"] is None


def test_panels_hidden_heavy_rate_and_replay_on_show() -> None:
    hub = Hub(queue_size=100, send_timeout=1.0, hidden_interval=3600)
    charts, learned, old = (hub.add(FakeSocket()) for _ in range(3))
    for v in (charts, learned, old):
        v.runs.add("r")
    hub.set_panels(charts, set())
    hub.set_panels(learned, {EventType.KERNELS})
    for step in range(1, 6):
        hub.publish(EventType.KERNELS, "r", heavy(step))
        hub.publish(EventType.METRICS, "r", metrics(step))

    def kernels(v) -> list[str]:
        return [json.loads(f.text)["data"]["message"] for f in v.queue if f.type == EventType.KERNELS]

    # Live panels: every frame (the queue keeps the latest of a kind: latest wins); hidden: one.
    assert [f.type for f in learned.queue].count(EventType.METRICS) == 5
    assert kernels(learned) == ["5"] and kernels(old) == ["5"]
    assert kernels(charts) == ["1"] and [f.type for f in charts.queue].count(EventType.METRICS) == 5
    charts.queue.clear()
    hub.set_panels(charts, {EventType.KERNELS})  # it comes on screen: the latest frame at once
    assert kernels(charts) == ["5"]
    hub.set_panels(charts, {EventType.KERNELS})  # no change: nothing more
    assert kernels(charts) == ["5"]
    assert hub.stats()["live_heavy"] == {"activations": 1, "gradients": 1, "kernels": 3}


def test_a_crowd_gets_fewer_metrics_frames_with_every_point_in_order() -> None:
    """From ``crowd_viewers`` sockets on a run, its metrics frames are merged (at most one per
    interval): every point still arrives, in order, and a status frame is never overtaken by
    points published before it. Below the crowd size every frame goes out as it is."""

    async def scenario(viewers: int) -> tuple[list[FakeSocket], Hub]:
        hub = Hub(queue_size=1000, crowd_viewers=3, crowd_metrics_interval=0.05)
        sockets = [FakeSocket() for _ in range(viewers)]
        pumps = []
        for ws in sockets:
            viewer = hub.add(ws)
            viewer.runs.add("r")
            pumps.append(asyncio.create_task(hub.pump(viewer)))
        for step in range(1, 61):
            hub.publish(EventType.METRICS, "r", metrics(step))
            if step == 30:
                hub.publish(EventType.STATUS, "r", heavy(step))
            if step == 40:  # a heavy frame does not flush: it carries its own step
                hub.publish(EventType.ACTIVATIONS, "r", heavy(step))
        await until(
            lambda: all(any(m["data"].get("step", [0])[-1:] == [60] for m in ws.sent) for ws in sockets)
        )
        for task in pumps:
            task.cancel()
        return sockets, hub

    crowd, hub = asyncio.run(scenario(3))
    for ws in crowd:
        frames = [m for m in ws.sent if m["type"] == "metrics"]
        points = [s for m in frames for s in m["data"]["step"]]
        assert points == list(range(1, 61))
        # Published at once: the first goes out, the rest wait for the interval — except that
        # the status frame first flushes points 2-30.
        assert [(m["data"]["step"][0], m["data"]["step"][-1]) for m in frames] == [(1, 1), (2, 30), (31, 60)]
        # The status frame comes after the 30th point and before the 31st.
        order = [m["type"] if m["type"] != "metrics" else m["data"]["step"][-1] for m in ws.sent]
        status_at = order.index("status")
        assert order[status_at - 1] == 30 and order[status_at + 1 :] == ["activations", 60]
    assert hub.stats()["merged_metrics_frames"] == 57

    few, hub = asyncio.run(scenario(2))
    for ws in few:
        assert [m["data"]["step"] for m in ws.sent if m["type"] == "metrics"] == [[s] for s in range(1, 61)]
    assert hub.stats()["merged_metrics_frames"] == 0
