"""Fan-out: every published frame goes to every interested viewer, each through its own bounded
queue, so one slow browser never slows training or the other viewers.

A frame is serialised to JSON once and the same text is queued for every viewer. Each viewer
has one sender task draining its queue. When a queue is full the oldest *heavy* frame
(activations, kernels, gradients) is dropped — and a new heavy frame replaces a queued one of
the same type and run outright (latest wins); then the oldest ``metrics`` frame; status, epoch,
prediction and error frames are never dropped. A viewer whose queue still overflows (four times
the bound), or whose socket does not take a frame within ``send_timeout`` seconds, is
disconnected (1008) — it has stopped reading.

Per-viewer panels: a page says which heavy frames it shows now (``panels``: the panels on screen).
Those come live; the other heavy types come at most once per ``hidden_interval`` seconds per run
(0: never), so a panel scrolled into view is drawn at once from the latest frame, which the hub
sends when the page asks for it. Metrics, status and epoch frames always come. A page that never
says gets every frame (older clients, scripts). With 200 viewers most of them look at the charts,
not at every layer's maps: this is what keeps the bytes per viewer down (bench/viewers.py).

A crowd (``crowd_viewers`` or more sockets on one run): what a viewer costs the machine is mostly
per *frame* (a socket write and the kernel's TCP work on both ends), not per byte, and the
``metrics`` frames are the many small ones (10/s). For a crowd the hub therefore merges a run's
metrics frames — their columns of points concatenated, nothing lost — into at most one per
``crowd_metrics_interval`` seconds (default 0.16 s, ~6 frames/s); a status or epoch frame of the
run first flushes what is held, so those are never overtaken by earlier points. Measured with 200
viewers on 2 cores: training kept 93% of its unwatched speed at 10 metrics frames/s, 96% at 5.

A frame is also *framed* once: a viewer whose socket is idle gets the same WebSocket bytes
written straight to its socket as the frame is published, without its sender task
(:mod:`.fastsend`); the queue and the sender task take over whenever that viewer is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketState

from .fastsend import DirectSocket, text_frame
from .protocol import HEAVY_EVENTS, PROTOCOL_VERSION, EventType, MetricsData

log = logging.getLogger("glassnet.hub")

LATEST_RUNS = 16  # runs whose latest heavy and epoch frames are kept for new subscribers
HEAVY, METRICS, KEEP = 0, 1, 2  # drop priority: heavy first, then metrics, never the rest


@dataclass(slots=True)
class Frame:
    text: str
    type: EventType
    run: str | None
    priority: int
    wire: bytes | None = None  # the text framed as a WebSocket message (made once, on first use)

    def framed(self) -> bytes:
        if self.wire is None:
            self.wire = text_frame(self.text)
        return self.wire


def envelope_json(type_: EventType, run: str | None, seq: int, data: BaseModel) -> str:
    """``{"v", "type", "run", "seq", "data"}`` as text; ``data`` serialised by its model (so
    non-finite floats come out as null)."""
    run_json = "null" if run is None else f'"{run}"'
    return (
        f'{{"v":{PROTOCOL_VERSION},"type":"{type_.value}","run":{run_json},"seq":{seq},'
        f'"data":{data.model_dump_json()}}}'
    )


def merge_metrics(a: MetricsData, b: MetricsData) -> MetricsData:
    """Two consecutive metrics frames of a run as one: their points in order; the speed and
    step count of the later one."""
    return MetricsData(
        step=a.step + b.step,
        epoch=a.epoch + b.epoch,
        loss=a.loss + b.loss,
        accuracy=a.accuracy + b.accuracy,
        lr=a.lr + b.lr,
        samples_per_s=b.samples_per_s if b.samples_per_s is not None else a.samples_per_s,
        total_steps=b.total_steps if b.total_steps is not None else a.total_steps,
    )


@dataclass(eq=False)
class Viewer:
    """One browser socket: what it is subscribed to and its queue of frames to send."""

    ws: WebSocket
    maxlen: int
    runs: set[str] = field(default_factory=set)
    queue: deque[Frame] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    follow: bool = True  # until the client subscribes or unsubscribes itself
    live: frozenset[EventType] | None = None  # heavy types on screen; None: all of them
    hidden_sent: dict[tuple[EventType, str | None], float] = field(default_factory=dict)
    dropped: int = 0
    overflow: bool = False
    closed: bool = False
    sending_since: float | None = None  # loop time the write in progress began (the watchdog's)
    task: asyncio.Task | None = None  # the sender task (:meth:`Hub.pump`)
    stalled: bool = False
    direct: DirectSocket | None = None  # the socket, for writes that skip the queue (fastsend)
    direct_sent: int = 0

    def push(self, frame: Frame) -> None:
        if self.closed:
            return
        if self.direct is not None and not self.queue and self.sending_since is None:
            # Nothing ahead of this frame and the socket idle: write it now (see fastsend).
            try:
                if self.direct.idle():
                    self.direct.write(frame.framed())
                    self.direct_sent += 1
                    return
            except Exception:  # the socket went away: the ordinary path notices and cleans up
                self.direct = None
        if frame.priority == HEAVY:
            # Latest wins: an older frame of the same kind still waiting is now useless.
            for i, queued in enumerate(self.queue):
                if queued.priority == HEAVY and queued.type == frame.type and queued.run == frame.run:
                    del self.queue[i]
                    self.dropped += 1
                    break
        self.queue.append(frame)
        while len(self.queue) > self.maxlen and self._drop_one():
            pass
        if len(self.queue) > 4 * self.maxlen:
            self.overflow = True  # nothing left to drop: this viewer is not reading
        self.wake.set()

    def _drop_one(self) -> bool:
        for priority in (HEAVY, METRICS):
            for i, queued in enumerate(self.queue):
                if queued.priority == priority:
                    del self.queue[i]
                    self.dropped += 1
                    return True
        return False


class Hub:
    """All connected viewers, the frame counter and each run's latest heavy frames and latest
    ``epoch`` frame (sent to a viewer as soon as it subscribes, so a paused run is visible at
    once and a late viewer sees the last confusion matrix and misclassified digits)."""

    def __init__(
        self,
        queue_size: int = 64,
        send_timeout: float = 10.0,
        hidden_interval: float = 10.0,
        crowd_viewers: int = 100,
        crowd_metrics_interval: float = 0.16,
    ) -> None:
        self.queue_size = queue_size
        self.send_timeout = send_timeout
        self.hidden_interval = hidden_interval
        self.crowd_viewers = crowd_viewers
        self.crowd_metrics_interval = crowd_metrics_interval
        # A crowd's metrics: per run, the points held back (merged) and when the last went out.
        self.held: dict[str, MetricsData] = {}
        self.metrics_sent: dict[str, float] = {}
        self.merged_total = 0
        self.viewers: set[Viewer] = set()
        self.seq = 0
        # Latest heavy and epoch frames of the most recently active runs (bounded: ~0.4 MB per
        # cnn run).
        self.latest: OrderedDict[str, dict[EventType, Frame]] = OrderedDict()
        self.dropped_total = 0
        self.direct_total = 0  # frames written straight to an idle socket (fastsend)
        self.disconnected_slow = 0
        self._watchdog: asyncio.Task | None = None

    # -- publishing -----------------------------------------------------------------------------
    def frame(self, type_: EventType, run: str | None, data: BaseModel) -> Frame:
        self.seq += 1
        if type_ in HEAVY_EVENTS:
            priority = HEAVY
        elif type_ == EventType.METRICS:
            priority = METRICS
        else:
            priority = KEEP
        return Frame(envelope_json(type_, run, self.seq, data), type_, run, priority)

    def publish(self, type_: EventType, run: str | None, data: BaseModel, everyone: bool = False) -> None:
        """Queue a frame for the run's subscribers (``everyone``: for every viewer). Never
        blocks: the sender tasks do the writing. A crowd's metrics may be held a moment and
        merged (see the module doc)."""
        if run is not None:
            if type_ == EventType.METRICS and isinstance(data, MetricsData):
                if self._hold_metrics(run, data):
                    return
            elif type_ not in HEAVY_EVENTS:
                # The held points first: status and epoch frames are never overtaken. (Heavy
                # frames carry their own step, and a page draws them whenever they come.)
                self.flush_metrics(run)
        self._publish(type_, run, data, everyone)

    def _hold_metrics(self, run: str, data: MetricsData) -> bool:
        """Whether a crowd's metrics frame was held back (merged into the run's pending one)."""
        held = self.held.get(run)
        if held is not None:
            self.held[run] = merge_metrics(held, data)
            self.merged_total += 1
            return True
        if self.audience(run) < self.crowd_viewers:
            return False
        wait = self.metrics_sent.get(run, -1e18) + self.crowd_metrics_interval - time.monotonic()
        if wait <= 0:
            self.metrics_sent[run] = time.monotonic()
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop (a test, a script): nothing to flush it later
            return False
        self.held[run] = data
        loop.call_later(wait, self.flush_metrics, run)
        return True

    def flush_metrics(self, run: str) -> None:
        """Publish a run's held metrics points now (if any)."""
        held = self.held.pop(run, None)
        if held is not None:
            self.metrics_sent[run] = time.monotonic()
            self._publish(EventType.METRICS, run, held, False)

    def audience(self, run: str) -> int:
        """How many sockets watch a run."""
        return sum(run in v.runs for v in self.viewers)

    def _publish(self, type_: EventType, run: str | None, data: BaseModel, everyone: bool) -> None:
        frame = self.frame(type_, run, data)
        if run is not None and (frame.priority == HEAVY or type_ == EventType.EPOCH):
            self.latest.setdefault(run, {})[type_] = frame
            self.latest.move_to_end(run)
            while len(self.latest) > LATEST_RUNS:
                self.latest.popitem(last=False)
        now = time.monotonic()
        for viewer in list(self.viewers):
            if everyone or (run is not None and run in viewer.runs):
                if frame.priority == HEAVY and not self._wants(viewer, frame, now):
                    continue
                viewer.push(frame)
                if viewer.overflow:
                    self._kick(viewer)

    def _wants(self, viewer: Viewer, frame: Frame, now: float) -> bool:
        """A heavy frame: live for a panel on screen, else at most one per ``hidden_interval``."""
        if viewer.live is None or frame.type in viewer.live:
            return True
        if self.hidden_interval <= 0:
            return False
        key = (frame.type, frame.run)
        if now - viewer.hidden_sent.get(key, -1e18) < self.hidden_interval:
            return False
        viewer.hidden_sent[key] = now
        return True

    def set_panels(self, viewer: Viewer, live: set[EventType]) -> None:
        """The heavy types the viewer's page shows now; newly shown ones get the latest frame at once."""
        before = viewer.live
        viewer.live = frozenset(live)
        for run in viewer.runs:
            for type_, frame in self.latest.get(run, {}).items():
                if type_ in live and (before is not None and type_ not in before):
                    viewer.push(frame)

    def follow(self, run: str) -> None:
        """A run starts training: sockets in follow mode now watch it (instead of the last one)."""
        for viewer in self.viewers:
            if viewer.follow:
                viewer.runs = {run}

    def send_to(self, viewer: Viewer, type_: EventType, run: str | None, data: BaseModel) -> None:
        viewer.push(self.frame(type_, run, data))

    def replay_latest(self, viewer: Viewer, run: str) -> None:
        """The run's latest epoch summary, then its latest heavy frames."""
        frames = self.latest.get(run, {})
        epoch = frames.get(EventType.EPOCH)
        if epoch is not None:
            viewer.push(epoch)
        for frame in frames.values():
            if frame is not epoch:
                viewer.push(frame)

    def has_latest(self, run: str, type_: EventType) -> bool:
        return type_ in self.latest.get(run, {})

    def forget(self, run: str) -> None:
        """Drop a run's kept frames (and, for a deleted run, every viewer's subscription)."""
        self.latest.pop(run, None)
        self.held.pop(run, None)
        self.metrics_sent.pop(run, None)
        for viewer in self.viewers:
            viewer.runs.discard(run)

    # -- viewers --------------------------------------------------------------------------------
    def add(self, ws: WebSocket) -> Viewer:
        viewer = Viewer(ws, self.queue_size, direct=DirectSocket.of(getattr(ws, "scope", {})))
        self.viewers.add(viewer)
        return viewer

    def remove(self, viewer: Viewer) -> None:
        viewer.closed = True
        viewer.wake.set()
        self.dropped_total += viewer.dropped
        self.direct_total += viewer.direct_sent
        viewer.dropped = viewer.direct_sent = 0
        self.viewers.discard(viewer)

    def _kick(self, viewer: Viewer) -> None:
        log.warning("disconnecting a viewer that stopped reading (%d frames queued)", len(viewer.queue))
        self.disconnected_slow += 1
        viewer.queue.clear()
        self.remove(viewer)
        asyncio.get_running_loop().create_task(close_quietly(viewer.ws, 1008, "too slow"))

    async def pump(self, viewer: Viewer) -> None:
        """The viewer's sender task: write queued frames in order until it closes. A write that
        takes longer than ``send_timeout`` is ended by the watchdog (:meth:`_watch_sends`) —
        one timer for all viewers instead of one per frame: a timer per write (``wait_for``, or
        even ``asyncio.timeout``) was 7–12% of the server's CPU with 200 viewers
        (bench/viewers.py)."""
        viewer.task = asyncio.current_task()
        self._ensure_watchdog()
        loop = asyncio.get_running_loop()
        while not viewer.closed:
            await viewer.wake.wait()
            viewer.wake.clear()
            while viewer.queue and not viewer.closed:
                frame = viewer.queue.popleft()
                viewer.sending_since = loop.time()
                try:
                    await viewer.ws.send_text(frame.text)
                except asyncio.CancelledError:
                    if viewer.stalled:  # the watchdog gave up on this write: the viewer is gone
                        return
                    raise
                except Exception:  # the socket went away; the receive loop notices too
                    self.remove(viewer)
                    return
                finally:
                    viewer.sending_since = None

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_sends())

    async def _watch_sends(self) -> None:
        """Kick every viewer whose current write has taken longer than ``send_timeout`` (it
        stopped reading); checks a few times per timeout, and stops when nobody is connected."""
        loop = asyncio.get_running_loop()
        period = min(1.0, self.send_timeout / 4)
        while self.viewers:
            await asyncio.sleep(period)
            now = loop.time()
            for viewer in list(self.viewers):
                began = viewer.sending_since
                if began is not None and now - began > self.send_timeout and not viewer.closed:
                    viewer.stalled = True
                    self._kick(viewer)
                    if viewer.task is not None:
                        viewer.task.cancel()

    async def close_all(self, code: int = 1001, reason: str = "server shutting down") -> None:
        viewers = list(self.viewers)
        for viewer in viewers:
            self.remove(viewer)
        await asyncio.gather(*(close_quietly(v.ws, code, reason) for v in viewers))

    def stats(self) -> dict[str, Any]:
        return {
            "viewers": len(self.viewers),
            "queued_frames": sum(len(v.queue) for v in self.viewers),
            "dropped_frames": self.dropped_total + sum(v.dropped for v in self.viewers),
            "disconnected_slow": self.disconnected_slow,
            "published_frames": self.seq,
            "merged_metrics_frames": self.merged_total,
            "direct_frames": self.direct_total + sum(v.direct_sent for v in self.viewers),
            # How many viewers receive each heavy type live (the panels on their screens).
            "live_heavy": {
                t.value: sum(v.live is None or t in v.live for v in self.viewers)
                for t in sorted(HEAVY_EVENTS)
            },
        }


async def close_quietly(ws: WebSocket, code: int, reason: str = "") -> None:
    """Close without waiting long for a peer that may not answer."""
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason), 2.0)
