"""Prediction latency: in-process (ModelRegistry.predict) and over HTTP under concurrent clients.

Prints figures, asserts nothing. Everything is bounded in time (``--budget`` seconds per HTTP
phase) and the server subprocess is always stopped.

    .venv/bin/python bench/predict_latency.py [--requests 2000] [--clients 32] [--model cnn]

The HTTP phase serves ``glassnet.service.app:create_app`` (factory) with uvicorn when that module
exists, else a minimal app of the predict and models routers (``--serve-minimal``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from glassnet.data.mnist import read_idx
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_minimal(port: int) -> None:
    """Run a bare app with the predict and models routers (used when app.py does not exist)."""
    import uvicorn
    from fastapi import FastAPI

    from glassnet.service.routes import models, predict

    app = FastAPI()
    app.state.registry = ModelRegistry(REPO / "models", Path(tempfile.mkdtemp(prefix="glassnet-bench-")))
    app.include_router(predict.router)
    app.include_router(models.router)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_server(port: int, data_dir: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "GLASSNET_DATA_DIR": data_dir, "GLASSNET_MODELS_DIR": str(REPO / "models")}
    if (REPO / "backend" / "glassnet" / "service" / "app.py").exists():
        cmd = [sys.executable, "-m", "uvicorn", "glassnet.service.app:create_app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        what = "glassnet.service.app:create_app"
    else:
        cmd = [sys.executable, __file__, "--serve-minimal", str(port)]
        what = "minimal app (predict + models routers)"
    return subprocess.Popen(cmd, env=env, cwd=REPO), what


async def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with code {proc.returncode}")
            try:
                if (await client.get("/api/models")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"server not ready after {timeout:.0f} s")


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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="glassnet-bench-") as data_dir:
        proc, what = start_server(port, data_dir)
        try:
            await wait_ready(base, proc)
            print(f"server: uvicorn {what} on {base} (1 process)")
            bodies = [{"pixels": p} for p in pixels]
            url = f"/api/predict?model={args.model}"
            await load(base, url, bodies[:4], 64, args.clients, args.budget)  # warm-up
            await load(base, url, bodies, args.requests, args.clients, args.budget)
            await load(base, url + "&activations=true", bodies, args.requests // 4, args.clients, args.budget)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--calls", type=int, default=300, help="in-process predictions per setting")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests (without activations)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds at most per HTTP phase")
    parser.add_argument("--serve-minimal", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_minimal:
        serve_minimal(args.serve_minimal)
        return
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    pixels = digits(100)
    bench_registry(args.model, pixels, args.calls)
    asyncio.run(bench_http(args, pixels))


if __name__ == "__main__":
    main()
