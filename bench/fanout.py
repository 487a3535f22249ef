"""Fan-out under load: 20 reading viewers plus 2 that never read, while ``cnn`` trains (prints,
asserts nothing).

Two phases on the same server and data: one epoch with no viewer, then one epoch watched by 20
viewers (each reads every frame, as a dashboard does) and 2 stalled sockets (handshake, then
never a byte read). Prints the epoch times and their ratio (bar: >= 90 %), how many metrics frames
each reading viewer got and its longest silence, what became of the stalled sockets, frames the
hub dropped, and the server's memory over the watched epoch (bar: flat).

Usage: ``python bench/fanout.py [--train-images 21000] [--viewers 20] [--stalled 2] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from _serving import ServerProcess, make_subset, wait_run
from glassnet.service.runstate import RunStatus


def stalled_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return sock


async def read_frames(url: str, stamps: list[float], counts: dict[str, int], stop: asyncio.Event) -> None:
    """A viewer: read every frame (as bytes, no decoding), note when metrics frames arrive."""
    async with connect(url, max_size=None, max_queue=None) as ws:
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(ws.recv(decode=False), 1.0)
            except TimeoutError:
                continue
            except ConnectionClosed:
                counts["closed"] += 1
                return
            counts["bytes"] += len(frame)
            if frame.startswith(b'{"v":1,"type":"metrics"'):
                stamps.append(time.monotonic())
            elif frame.startswith(b'{"v":1,"type":"activations"'):
                counts["activations"] += 1


def run_viewers(url: str, n: int, ready: threading.Event, stop_flag: threading.Event) -> list:
    stamps: list[list[float]] = [[] for _ in range(n)]
    counts = {"bytes": 0, "closed": 0, "activations": 0}

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(read_frames(url, stamps[i], counts, stop)) for i in range(n)]
        await asyncio.sleep(1.0)
        ready.set()
        while not stop_flag.is_set():
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return [stamps, counts]


def one_epoch(http: httpx.Client, server: ServerProcess, rss: list[float]) -> tuple[float, float, float]:
    """Train cnn for one epoch; samples the server's RSS into ``rss``. (seconds, start, end)."""
    run = http.post("/api/runs", json={"preset": "cnn", "epochs": 1}).json()
    started = time.monotonic()
    done = threading.Event()

    cpu_seen: list[tuple[dict[str, float], None]] = []

    def sample() -> None:
        while not done.is_set():
            rss.append(server.main_rss_mib())
            cpu = server.cpu_seconds()
            if any(k.startswith("child") for k in cpu):  # the trainer's last reading before it exits
                cpu_seen.append((cpu, None))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    status = wait_run(http, run["id"])["status"]
    ended = time.monotonic()
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, cpu1 = (cpu_seen[0][0], cpu_seen[-1][0]) if cpu_seen else ({"main": 0.0}, {})
    # The busiest child is the trainer (spawn also starts a resource tracker process).
    trainer = max(
        (cpu1[k] - cpu0[k] for k in cpu0 if k.startswith("child") and k in cpu1), default=float("nan")
    )
    bench = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
    print(
        f"  CPU seconds over the epoch ({ended - started:.1f} s wall): trainer {trainer:.1f}, server main "
        f"process {cpu1.get('main', float('nan')) - cpu0['main']:.1f}, this benchmark's clients {bench:.1f}"
    )
    done.set()
    sampler.join()
    assert status == RunStatus.FINISHED, status
    seconds = http.get(f"/api/runs/{run['id']}/metrics").json()["epochs"][0]["seconds"]
    return seconds, started, ended


def watched_round(http: httpx.Client, server: ServerProcess, args: argparse.Namespace) -> float:
    """One epoch with the viewers; prints what they saw. Returns the epoch's seconds."""
    stalled = [stalled_socket(server.port) for _ in range(args.stalled)]
    ready, stop = threading.Event(), threading.Event()
    result: list = []
    url = server.url.replace("http", "ws") + "/ws"

    def viewers_thread() -> None:
        result.extend(run_viewers(url, args.viewers, ready, stop))

    viewers = threading.Thread(target=viewers_thread, daemon=True)
    viewers.start()
    ready.wait(30)
    before = http.get("/api/stats").json()
    rss: list[float] = []
    seconds, started, ended = one_epoch(http, server, rss)
    at_end = http.get("/api/stats").json()
    # The stalled sockets: how long until the server gives up on them.
    while time.monotonic() - ended < 40 and http.get("/healthz").json()["viewers"] > args.viewers:
        time.sleep(0.2)
    gone_after = time.monotonic() - started
    final = http.get("/api/stats").json()
    stop.set()
    viewers.join(30)
    for sock in stalled:
        sock.close()
    stamps, counts = result
    inside = [[s for s in st if started <= s <= ended] for st in stamps]
    frames = [len(st) for st in inside]
    gaps = [max((b - a for a, b in itertools.pairwise(st)), default=float("inf")) for st in inside]
    per_viewer = counts["bytes"] / 2**20 / (ended - started) / max(args.viewers, 1)
    print(
        f"  metrics frames per reading viewer during the epoch: min {min(frames)}, median "
        f"{statistics.median(frames):.0f}, max {max(frames)} ({min(frames) / (ended - started):.1f}/s at "
        f"least); longest silence {max(gaps):.2f} s; readers disconnected: {counts['closed']}"
    )
    heavy_rate = counts["activations"] / max(args.viewers, 1) / (ended - started)
    print(
        f"  received {counts['bytes'] / 2**20:.0f} MiB in all ({per_viewer:.2f} MiB/s per viewer); "
        f"activations frames {heavy_rate:.2f}/s per viewer (kernels and gradients alike)"
    )
    slow = final["disconnected_slow"] - before["disconnected_slow"]
    print(
        f"  viewers at the start {before['viewers']}, at the epoch's end {at_end['viewers']}; "
        f"{before['viewers'] - final['viewers']} stalled sockets gone {gone_after:.1f} s after the start "
        f"({slow} by the send timeout, the rest by the ping timeout); frames dropped for slow viewers: "
        f"{final['dropped_frames'] - before['dropped_frames']}"
    )
    print(
        f"  server main process RSS while watched: start {rss[0]:.0f} MiB, peak {max(rss):.0f} MiB, "
        f"end {rss[-1]:.0f} MiB"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=21_000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--stalled", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="alternate unwatched/watched epochs")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glassnet-fanout-"))
    dataset = make_subset(tmp / "data", args.train_images)
    n = args.train_images - args.validation
    print(
        f"cnn, one epoch of {n:,} images per phase; {args.viewers} reading viewers + {args.stalled} stalled"
    )
    server = ServerProcess(tmp / "runs", dataset, {"GLASSNET_VALIDATION": str(args.validation)})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            alone, watched = [], []
            for round_ in range(args.repeats):
                rss_alone: list[float] = []
                alone.append(one_epoch(http, server, rss_alone)[0])
                print(
                    f"round {round_ + 1}: no viewers {alone[-1]:.2f} s/epoch "
                    f"(server RSS {min(rss_alone):.0f}-{max(rss_alone):.0f} MiB)"
                )
                watched.append(watched_round(http, server, args))
                print(f"  watched {watched[-1]:.2f} s/epoch -> {alone[-1] / watched[-1]:.1%} of unwatched")
            # Paired per round (adjacent in time), so slow drifts in the machine's other load cancel.
            paired = statistics.median(a / w for a, w in zip(alone, watched, strict=True))
            best = min(alone) / min(watched)
            print(
                f"throughput watched/unwatched: median of the rounds {paired:.1%}, best-vs-best {best:.1%}"
                "  (bar >= 90%)"
            )
            print(f"server main process RSS after all rounds: {server.main_rss_mib():.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
