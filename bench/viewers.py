"""Many viewers: one run watched by N WebSocket viewers on 127.0.0.1 (default 200) while the cnn
trains; prints figures, asserts nothing.

One real ``glassnet serve`` trains one long cnn run; the measurement alternates short segments
(default 8 s) without viewers and with the N viewers connected, so slow drifts in the machine's
other load cancel out: throughput is the run's mini-batches per second in each segment (from its
step count), compared pairwise (bar: median >= 95 %). Each viewer is a light raw WebSocket client
(one asyncio loop for all, on uvloop when installed; it reads every byte and looks only at each
frame's first bytes) and tells the server which panels it shows, like the page does
(``{"type": "panels", "live": [...]}``):

- ``charts``  (half of them): the Train view — metrics and status only, no heavy panel on screen;
- ``learned`` (a quarter):   the Learned view — kernels, gradients and the probes' activations;
- ``inside``  (a quarter):   the Inside view — activations.

``--all-live`` makes every viewer ask for everything (what a page did before per-viewer panels).
Prints the segments' speeds and their ratio, per viewer the metrics frames/s (bar: >= 5)
and the heavy frames/s of each panel it shows (bar: >= 0.5), the bytes per viewer, and the server's
CPU over the watched epoch (per viewer).

``--split-cores``: ``GLASSNET_TRAIN_CPUS`` = the last core (the training process there), the server
and this script on the others (on a 2-core machine: one each), in both phases — the layout of a
class server that keeps a core for its viewers.

Usage: ``python bench/viewers.py [--viewers 200] [--rounds 6] [--segment 8] [--all-live] [--split-cores]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from _serving import ServerProcess, make_subset

MIXES = {"charts": [], "learned": ["activations", "kernels", "gradients"], "inside": ["activations"]}
HEAVY = ("activations", "kernels", "gradients")


def mix_of(i: int) -> str:
    return "charts" if i % 4 in (0, 2) else "learned" if i % 4 == 1 else "inside"


def client_frame(text: str) -> bytes:
    """A masked text frame (clients must mask)."""
    payload = text.encode()
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    return head + key + masked


class Viewer(asyncio.Protocol):
    """A WebSocket viewer that reads everything and notes each frame's type and time."""

    def __init__(self, live: list[str] | None, done: asyncio.Future) -> None:
        self.live = live
        self.done = done
        self.buf = bytearray()
        self.upgraded = False
        self.need = 0  # payload bytes of the current frame still to skip
        self.bytes = 0
        self.window_bytes = 0
        self.counting = False  # set for the measured window (after the replay on connecting)
        self.metrics: list[float] = []
        self.heavy: dict[str, list[float]] = {k: [] for k in HEAVY}
        self.closed_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.counting:
            self.window_bytes += len(data)
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buf[:end]:
                raise RuntimeError(bytes(self.buf[:end]).decode(errors="replace"))
            del self.buf[: end + 4]
            self.upgraded = True
            if self.live is not None:
                self.transport.write(client_frame(json.dumps({"type": "panels", "live": self.live})))
            if not self.done.done():
                self.done.set_result(True)
        self.parse()

    def parse(self) -> None:
        now = time.monotonic()
        while True:
            if self.need:
                take = min(self.need, len(self.buf))
                del self.buf[:take]
                self.need -= take
                if self.need:
                    return
            if len(self.buf) < 2:
                return
            n, at = self.buf[1] & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + min(n, 40):
                return
            opcode = self.buf[0] & 0x0F
            head = bytes(self.buf[at : at + 40])
            if opcode == 0x9:  # ping: answer, or the server drops us
                if len(self.buf) < at + n:
                    return
                payload = bytes(self.buf[at : at + n])
                key = os.urandom(4)
                self.transport.write(
                    bytes([0x8A, 0x80 | n]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
                )
            elif head.startswith(b'{"v":1,"type":"metrics"'):
                self.metrics.append(now)
            else:
                for kind in HEAVY:
                    if head.startswith(b'{"v":1,"type":"' + kind.encode()):
                        self.heavy[kind].append(now)
            del self.buf[:at]
            self.need = n

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()


def run_viewers(
    port: int, n: int, all_live: bool, ready: threading.Event, stop: threading.Event, viewers: list[Viewer]
) -> None:
    """Connect ``n`` viewers (appended to ``viewers``), set ``ready``, read until ``stop``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for i in range(n):
            done = loop.create_future()
            live = None if all_live else MIXES[mix_of(i)]
            _, viewer = await loop.create_connection(
                lambda live=live, d=done: Viewer(live, d), "127.0.0.1", port
            )
            await asyncio.wait_for(done, 30)
            viewers.append(viewer)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for v in viewers:
            v.transport.close()

    # uvloop (uvicorn[standard] installs it, and the server runs on it): the load script's own
    # CPU is part of what the viewers cost this machine, so it is kept as small as it can be.
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus``."""
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def steps_per_s(http: httpx.Client, run_id: str, seconds: float) -> tuple[float, float, float]:
    """(mini-batches per second, window start, window end) of the run over ``seconds``."""
    first = http.get(f"/api/runs/{run_id}").json()["step"]
    started = time.monotonic()
    time.sleep(seconds)
    last = http.get(f"/api/runs/{run_id}").json()["step"]
    ended = time.monotonic()
    return (last - first) / (ended - started), started, ended


def watched_segment(
    http: httpx.Client, server: ServerProcess, run_id: str, args: argparse.Namespace
) -> float:
    """One segment with the viewers connected; prints what they got. Returns steps/s."""
    ready, stop = threading.Event(), threading.Event()
    viewers: list[Viewer] = []
    args_ = (server.port, args.viewers, args.all_live, ready, stop, viewers)
    thread = threading.Thread(target=run_viewers, args=args_, daemon=True)
    thread.start()
    if not ready.wait(120):
        raise RuntimeError("the viewers did not connect in 120 s")
    time.sleep(1.0)  # settle: the replay of the latest frames to each new viewer is over
    for v in viewers:
        v.counting = True
    cpu0 = server.cpu_seconds()["main"]
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    speed, started, ended = steps_per_s(http, run_id, args.segment)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = server.cpu_seconds()["main"] - cpu0
    for v in viewers:
        v.counting = False
    stop.set()
    thread.join(30)
    wall = ended - started
    rates = [sum(started <= t <= ended for t in v.metrics) / wall for v in viewers]
    closed = sum(v.closed_at is not None and v.closed_at <= ended for v in viewers)
    print(
        f"  metrics frames/s per viewer: min {min(rates):.1f}, median {statistics.median(rates):.1f}; "
        f"viewers closed by the server: {closed}"
    )
    for kind in HEAVY:
        shown = [i for i in range(len(viewers)) if args.all_live or kind in MIXES[mix_of(i)]]
        values = [sum(started <= t <= ended for t in viewers[i].heavy[kind]) / wall for i in shown]
        if values:
            print(
                f"  {kind} frames/s, the {len(values)} viewers showing it: min {min(values):.2f}, "
                f"median {statistics.median(values):.2f}"
            )
    got = sum(v.window_bytes for v in viewers) / wall
    by_mix: dict[str, list[float]] = {}
    for i, v in enumerate(viewers):
        by_mix.setdefault("all" if args.all_live else mix_of(i), []).append(v.window_bytes / wall)
    mixes = ", ".join(f"{k} {statistics.median(b) / 2**10:.0f}" for k, b in by_mix.items())
    print(
        f"  received {got / 2**20:.1f} MiB/s in all, {got / len(viewers) / 2**10:.0f} KiB/s per viewer "
        f"(median KiB/s: {mixes})"
    )
    client_cpu = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
    print(
        f"  server main process CPU {server_cpu / wall:.2f} s/s "
        f"({server_cpu / wall / len(viewers) * 1000:.2f} ms/s per viewer); "
        f"this script (viewers and polling) {client_cpu / wall:.2f} s/s"
    )
    return speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--train-images", type=int, default=21_000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6, help="pairs of segments, unwatched then watched")
    parser.add_argument("--segment", type=float, default=8.0, help="seconds measured per segment")
    parser.add_argument("--all-live", action="store_true", help="every viewer asks for every panel")
    parser.add_argument(
        "--split-cores", action="store_true", help="training on the last core, the rest elsewhere"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glassnet-viewers-"))
    dataset = make_subset(tmp / "data", args.train_images)
    cores = sorted(os.sched_getaffinity(0))
    split = ({*cores[:-1]}, {cores[-1]}) if args.split_cores and len(cores) > 1 else None
    mix = "every panel live" if args.all_live else "half charts, a quarter Learned, a quarter Inside"
    where = f", training on core {cores[-1]}, server and viewers on the rest" if split else ""
    print(
        f"cnn training; {args.viewers} viewers ({mix}); {len(cores)} cores{where}; "
        f"{args.segment:.0f} s segments"
    )
    env = {"GLASSNET_VALIDATION": str(args.validation), "GLASSNET_MAX_ACTIVE_RUNS": "1"}
    if split:  # the service's own setting: training processes on these CPUs only
        env["GLASSNET_TRAIN_CPUS"] = ",".join(map(str, sorted(split[1])))
    server = ServerProcess(tmp / "runs", dataset, env)
    if split:
        pin_tree(server.proc.pid, split[0])
        os.sched_setaffinity(0, split[0])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            run = http.post("/api/runs", json={"preset": "cnn", "epochs": 100}).json()
            while http.get(f"/api/runs/{run['id']}").json()["step"] < 20:  # past the start-up
                time.sleep(0.2)
            alone, watched = [], []
            for round_ in range(args.rounds):
                alone.append(steps_per_s(http, run["id"], args.segment)[0])
                print(f"round {round_ + 1}: unwatched {alone[-1]:.1f} mini-batches/s")
                watched.append(watched_segment(http, server, run["id"], args))
                time.sleep(1.0)  # the sockets are gone before the next unwatched segment
                print(
                    f"  watched {watched[-1]:.1f} mini-batches/s -> "
                    f"{watched[-1] / alone[-1]:.1%} of unwatched"
                )
            paired = statistics.median(w / a for a, w in zip(alone, watched, strict=True))
            print(
                f"throughput watched/unwatched: median of the rounds {paired:.1%}, of the medians "
                f"{statistics.median(watched) / statistics.median(alone):.1%}  (bar >= 95%)"
            )
            http.post(f"/api/runs/{run['id']}/stop")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
