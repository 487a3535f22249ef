"""Responsiveness while the service trains ``cnn`` at full speed (prints, asserts nothing).

Measured in one go on the same machine and data:

1. headless ``glassnet train --preset cnn --epochs 1`` on a subset of MNIST: seconds per epoch,
   with OpenBLAS pinned to the service worker's thread count (the same settings) and with the
   default thread count;
2. ``glassnet serve`` training the same preset and settings for one epoch while a dashboard-like
   viewer reads every frame over ``/ws`` and asks for a live prediction of a test digit ten times
   a second, and another client polls ``/healthz`` fifty times a second.

The three alternate ``--repeats`` times. Prints the service's epoch time and its ratio to
headless (bar: >= 90 %; the median of the per-round ratios, which cancels slow drifts of other
load), ``/healthz`` latency percentiles (bar: p99 < 50 ms) and live-prediction latency over the
WebSocket, as seen by the client and inside the server (bar: <= 30 ms).

Usage: ``python bench/service_speed.py [--train-images 21000] [--preset cnn] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from _serving import ServerProcess, headless_epoch_seconds, make_subset, percentile, wait_run
from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.service.settings import Settings


def service_run(args: argparse.Namespace, tmp: Path, dataset: Path, images, index: int) -> dict:
    """One epoch in the service with a viewer reading every frame (and asking for ``--predict-hz``
    predictions a second) and a /healthz poller."""
    server = ServerProcess(tmp / f"runs-{index}", dataset, {"GLASSNET_VALIDATION": str(args.validation)})
    out: dict = {"health_ms": [], "rtt_ms": [], "server_ms": [], "frames": 0, "bytes": 0}
    training = threading.Event()
    done = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as http:
            while not done.is_set():
                started = time.perf_counter()
                http.get("/healthz").raise_for_status()
                if training.is_set():
                    out["health_ms"].append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)

    def viewer() -> None:
        sent: dict[int, float] = {}
        with connect(server.url.replace("http", "ws") + "/ws", max_size=None) as ws:

            def ask() -> None:
                i = 0
                while args.predict_hz > 0 and not done.is_set():
                    if training.is_set():
                        sent[i] = time.perf_counter()
                        pixels = images[i % len(images)].ravel().round(3).tolist()
                        with contextlib.suppress(ConnectionClosed):
                            ws.send(json.dumps({"type": "predict", "pixels": pixels, "id": i}))
                        i += 1
                    time.sleep(1 / args.predict_hz)

            threading.Thread(target=ask, daemon=True).start()
            while not done.is_set():
                try:
                    text = ws.recv(timeout=1)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                out["frames"] += 1
                out["bytes"] += len(text)
                if text.startswith('{"v":1,"type":"prediction"'):
                    data = json.loads(text)["data"]
                    out["rtt_ms"].append((time.perf_counter() - sent.pop(data["id"])) * 1000)
                    out["server_ms"].append(data["ms"])

    threads = [
        threading.Thread(target=poll_health, daemon=True),
        threading.Thread(target=viewer, daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            time.sleep(1.0)
            run = http.post("/api/runs", json={"preset": args.preset, "epochs": 1}).json()
            training.set()
            started = time.monotonic()
            out["status"] = wait_run(http, run["id"])["status"]
            out["wall"] = time.monotonic() - started
            training.clear()
            out["seconds"] = http.get(f"/api/runs/{run['id']}/metrics").json()["epochs"][0]["seconds"]
    finally:
        done.set()
        server.stop()
        for t in threads:
            t.join(5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=21_000)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--preset", default="cnn")
    parser.add_argument("--repeats", type=int, default=3, help="alternate headless/service this often")
    parser.add_argument(
        "--predict-hz",
        type=float,
        default=10,
        help="live predictions a second from the viewer (0: none)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="glassnet-bench-"))
    dataset = make_subset(tmp / "data", args.train_images)
    n = args.train_images - args.validation
    print(
        f"{args.preset}, one epoch of {n:,} images (+{args.validation:,} validation), preset settings; "
        f"headless and service alternate {args.repeats}x on the same machine; the viewer asks for "
        f"{args.predict_hz:g} predictions/s"
    )
    images = read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[:50] / 255.0
    threads = Settings().worker_blas_threads
    same, default, service = [], [], []
    health, rtt, inside = [], [], []
    for i in range(args.repeats):
        same.append(headless_epoch_seconds(dataset, args.validation, args.preset, tmp / "h.npz", threads))
        default.append(headless_epoch_seconds(dataset, args.validation, args.preset, tmp / "h.npz"))
        result = service_run(args, tmp, dataset, images, i)
        service.append(result["seconds"])
        health += result["health_ms"]
        rtt += result["rtt_ms"]
        inside += result["server_ms"]
        print(
            f"  round {i + 1}: headless {same[-1]:5.2f} s/epoch ({threads or 'default'} BLAS threads, "
            f"as the service's worker), {default[-1]:5.2f} s/epoch (default threads); "
            f"service {service[-1]:5.2f} s/epoch "
            f"({result['status']}); viewer got {result['frames']} frames, "
            f"{result['bytes'] / 2**20 / max(result['wall'], 1e-9):.2f} MiB/s"
        )
    # Paired per round (adjacent in time), so slow drifts in the machine's other load cancel out.
    paired_same = statistics.median(h / s for h, s in zip(same, service, strict=True))
    paired_default = statistics.median(h / s for h, s in zip(default, service, strict=True))
    s = statistics.median(service)
    print(f"service, 1 viewer: median {s:5.2f} s/epoch ({n / s:,.0f} samples/s)")
    print(
        f"throughput service/headless, median of the rounds: {paired_same:.1%} against headless with "
        f"{threads or 'default'} BLAS threads (the same settings), "
        f"{paired_default:.1%} against the default threads"
        "  (bar >= 90%)"
    )
    print(
        f"/healthz while training: n={len(health)}  p50 {percentile(health, 50):.1f} ms  "
        f"p99 {percentile(health, 99):.1f} ms  max {max(health, default=float('nan')):.1f} ms"
        "  (bar p99 < 50 ms)"
    )
    print(
        f"live WS prediction, round trip at the client: n={len(rtt)}  p50 {percentile(rtt, 50):.1f} ms  "
        f"p95 {percentile(rtt, 95):.1f} ms  p99 {percentile(rtt, 99):.1f} ms  (bar <= 30 ms)"
    )
    print(
        f"  of which inside the server: p50 {percentile(inside, 50):.1f} ms"
        f"  p95 {percentile(inside, 95):.1f} ms"
    )


if __name__ == "__main__":
    main()
