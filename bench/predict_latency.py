"""Prediction latency: in-process (ModelRegistry.predict) and over HTTP under concurrent clients.

Prints figures, asserts nothing. Everything is bounded in time (``--budget`` seconds per HTTP
phase) and the server subprocess is always stopped.

    .venv/bin/python bench/predict_latency.py [--requests 2000] [--clients 32] [--model cnn]

The HTTP phase runs a real ``glassnet serve`` (as ``make run`` does) in a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from glassnet.data.mnist import read_idx
from glassnet.service.devserver import ServeProcess
from glassnet.service.inference import ModelRegistry

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "mnist"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def digits(n: int) -> list[list[list[float]]]:
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")[:n]
    return [(img / 255.0).round(4).tolist() for img in images]


def bench_registry(model: str, pixels: list, n: int) -> None:
    with tempfile.TemporaryDirectory() as runs:
        registry = ModelRegistry(REPO / "models", Path(runs))
        registry.predict(pixels=pixels[0], model_id=model)  # load and warm up
        for activations in (False, True):
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                registry.predict(pixels=pixels[i % len(pixels)], model_id=model, activations=activations)
                times.append((time.perf_counter() - t0) * 1e3)
            print(
                f"registry.predict {model} activations={activations!s:<5}: "
                f"median {statistics.median(times):.2f} ms, p99 {percentile(times, 99):.2f} ms ({n} calls)"
            )


async def load(base: str, url: str, bodies: list[dict], total: int, clients: int, budget: float) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    deadline = time.monotonic() + budget

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < total and time.monotonic() < deadline:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(url, json=bodies[i % len(bodies)])
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            except httpx.HTTPError as exc:
                statuses[-1] = statuses.get(-1, 0) + 1
                print(f"  request failed: {type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1e3)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    done = len(latencies)
    print(
        f"POST {url} x{done} ({clients} clients): p50 {percentile(latencies, 50):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, {done / elapsed:.0f} requests/s, status {statuses}"
        + ("  (stopped by the time budget)" if next_index < total else "")
    )


async def bench_http(args: argparse.Namespace, pixels: list) -> None:
    with tempfile.TemporaryDirectory(prefix="glassnet-bench-") as data_dir:
        server = ServeProcess(Path(data_dir), cwd=REPO, args=["--log-level", "warning"]).start()
        try:
            print(f"server: glassnet serve on {server.url} (1 process)")
            bodies = [{"pixels": p} for p in pixels]
            url = f"/api/predict?model={args.model}"
            await load(server.url, url, bodies[:4], 64, args.clients, args.budget)  # warm-up
            await load(server.url, url, bodies, args.requests, args.clients, args.budget)
            await load(
                server.url, url + "&activations=true", bodies, args.requests // 4, args.clients, args.budget
            )
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--calls", type=int, default=300, help="in-process predictions per setting")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests (without activations)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds at most per HTTP phase")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    pixels = digits(100)
    bench_registry(args.model, pixels, args.calls)
    asyncio.run(bench_http(args, pixels))


if __name__ == "__main__":
    main()
