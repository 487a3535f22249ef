"""The GPU check, for a machine with an NVIDIA GPU (prints figures; exits 1 if a check fails).

Needs CuPy (``pip install -e '.[gpu]'``) and, for the comparison, PyTorch with CUDA. Four parts,
each bounded in time:

1. **Same numbers**: one fused training step of the ``cnn`` preset on the GPU and on the CPU
   from the same weights and batch: cost and every gradient agree within float32 rounding.
2. **Speed**: seconds per epoch of the ``cnn`` preset (Adam) at batch 64 and at batch 512,
   glassnet on CuPy vs the same network in PyTorch CUDA, epochs alternating; min and median of
   ``--repeats``. Also where a glassnet step's time goes: the host's time to *issue* a step
   (Python and kernel launches, without waiting) vs the step with the GPU waited for — when the
   two are close, Python overhead bounds the speed, not the GPU. Bar: ≤ 2× PyTorch CUDA.
3. **Accuracy**: ``cnn`` trained for 3 epochs on the GPU (the preset's settings, seed 0, 5,000
   validation images held out as ``glassnet train`` does): test accuracy. Bar: ≥ 99 %.
4. **The service streams a GPU run**: ``glassnet serve`` with ``GLASSNET_DEVICE=cuda``, a run
   of one epoch on 10,000 images while a viewer reads ``/ws``: the run's device, its status,
   and how many metrics / activations / kernels / epoch frames arrived.

Usage::

    pip install -e '.[gpu]' torch            # torch with CUDA for the comparison
    python bench/gpu_check.py [--repeats 3] [--skip-service]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.data.mnist import load_splits
from glassnet.nn import Sequential, make_optimizer
from glassnet.nn.backend import device_problem, module_for, to_host
from glassnet.presets import load_preset
from glassnet.service.runstate import RunStatus
from glassnet.training.config import TrainConfig
from glassnet.training.step import TrainStep
from glassnet.training.trainer import Trainer, evaluate

REPO = Path(__file__).resolve().parents[1]
FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        FAILURES.append(what)


def same_numbers(x: np.ndarray, y: np.ndarray) -> None:
    print("1. one fused step, GPU vs CPU (cnn preset, batch 64)")
    spec = load_preset("cnn")
    cpu = Sequential.from_spec(spec, np.random.default_rng(0))
    gpu = Sequential.from_spec(spec, np.random.default_rng(0)).to("cuda")
    a = TrainStep(cpu, threads=1)(x[:64], y[:64])
    b = TrainStep(gpu)(x[:64], y[:64])
    worst = 0.0
    for (_, _, g1), (_, _, g2) in zip(cpu.named_params(), gpu.named_params(), strict=True):
        g2 = to_host(g2)
        worst = max(worst, float(np.abs(g1 - g2).max() / max(np.abs(g1).max(), 1e-6)))
    print(f"  cost cpu {a.loss:.6f}, gpu {b.loss:.6f}; largest relative gradient difference {worst:.2e}")
    check(abs(a.loss - b.loss) < 1e-4 and worst < 1e-4, "GPU step equals the CPU step")


def glassnet_epoch(batch: int, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    cp = module_for("cuda")
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(0)).to("cuda")
    opt = make_optimizer("adam", 0.002)
    step = TrainStep(model)
    gx, gy = cp.asarray(x), cp.asarray(y)  # the data lives on the GPU, as PyTorch's below
    rng = np.random.default_rng(0)

    def run(n: int) -> float:
        order = cp.asarray(rng.permutation(len(x))[:n])
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            total += step(gx[idx], gy[idx]).loss
            opt.step(model.pack())
        cp.cuda.Device().synchronize()
        return total

    run(batch * 10)
    return run, step


def torch_epoch(batch: int, x: np.ndarray, y: np.ndarray) -> Any | None:
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    sys.path.insert(0, str(REPO / "bench"))
    from train_speed import torch_net

    net = torch_net("cnn").cuda()
    opt = torch.optim.Adam(net.parameters(), lr=0.002)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    loss_fn = nn.CrossEntropyLoss()

    def run(n: int) -> float:
        order = torch.randperm(len(x), device="cuda")[:n]
        total = torch.zeros((), device="cuda")
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            loss = loss_fn(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            total += loss.detach()
        torch.cuda.synchronize()
        return float(total)

    run(batch * 10)
    return run


def speed(x: np.ndarray, y: np.ndarray, repeats: int) -> None:
    print("2. seconds per epoch of 60,000 samples, cnn preset, Adam (min / median)")
    cp = module_for("cuda")
    for batch in (64, 512):
        ours, step = glassnet_epoch(batch, x, y)
        theirs = torch_epoch(batch, x, y)
        a, b = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ours(len(x))
            a.append(time.perf_counter() - t0)
            if theirs is not None:
                t0 = time.perf_counter()
                theirs(len(x))
                b.append(time.perf_counter() - t0)
        line = f"  batch {batch:>3}: glassnet {min(a):.2f} / {statistics.median(a):.2f} s"
        if b:
            ratio = min(a) / min(b)
            line += f", PyTorch CUDA {min(b):.2f} / {statistics.median(b):.2f} s, ratio {ratio:.2f}x"
        print(line, flush=True)
        # Where a step's time goes: issuing it (host) vs running it (GPU waited for).
        gx, gy = cp.asarray(x[:batch]), cp.asarray(y[:batch])
        host, synced = [], []
        for _ in range(20):
            cp.cuda.Device().synchronize()
            t0 = time.perf_counter()
            step(gx, gy)
            host.append(time.perf_counter() - t0)
            cp.cuda.Device().synchronize()
            synced.append(time.perf_counter() - t0)
        print(
            f"    one step: {statistics.median(host) * 1e3:.2f} ms to issue (host), "
            f"{statistics.median(synced) * 1e3:.2f} ms with the GPU waited for",
            flush=True,
        )
        if b:
            check(min(a) <= 2 * min(b), f"batch {batch}: at most 2x PyTorch CUDA's epoch time")
        else:
            print("  (PyTorch with CUDA not installed: no comparison)")


def accuracy() -> None:
    print("3. cnn preset, 3 epochs on the GPU, seed 0")
    spec = load_preset("cnn")
    config = TrainConfig.from_dict({**spec["train"], "epochs": 3, "device": "cuda"})
    data = load_splits(validation=5000)
    model = Sequential.from_spec(spec, np.random.default_rng(config.seed)).to("cuda")
    trainer = Trainer(model, config, data)
    started = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - started
    test = evaluate(model, data.test)
    how = trainer.step_fn.describe(config.batch_size)
    print(f"  test accuracy {test.accuracy:.2%} after 3 epochs ({wall:.1f} s, {how})")
    check(test.accuracy >= 0.99, "at least 99% test accuracy after 3 epochs")


def service() -> None:
    print("4. the service trains on the GPU and streams it (GLASSNET_DEVICE=cuda)")
    import httpx
    from websockets.sync.client import connect

    sys.path.insert(0, str(REPO / "bench"))
    from _serving import ServerProcess, make_subset, wait_run

    with tempfile.TemporaryDirectory(prefix="glassnet-gpu-") as tmp:
        dataset = make_subset(Path(tmp) / "data", 10_000, 2_000)
        server = ServerProcess(
            Path(tmp) / "runs", dataset, {"GLASSNET_DEVICE": "cuda", "GLASSNET_VALIDATION": "1000"}
        )
        frames: Counter[str] = Counter()
        done = threading.Event()

        def viewer() -> None:
            with connect(server.url.replace("http", "ws") + "/ws", max_size=None) as ws:
                while not done.is_set():
                    try:
                        text = ws.recv(timeout=1)
                    except TimeoutError:
                        continue
                    except Exception:
                        return
                    frames[json.loads(text).get("type", "?")] += 1

        reader = threading.Thread(target=viewer, daemon=True)
        reader.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                time.sleep(1.0)
                run = http.post("/api/runs", json={"preset": "cnn", "epochs": 1}).json()
                end = wait_run(http, run["id"], timeout=600)
            time.sleep(1.0)
        finally:
            done.set()
            server.stop()
            reader.join(5)
        print(
            f"  run {end['id']}: device {run['config'].get('device')}, status {end['status']}, "
            f"val accuracy {end.get('val_accuracy')}"
        )
        print(f"  frames seen: {dict(frames)}")
        check(run["config"].get("device") == "cuda", "the run trained on cuda")
        check(end["status"] == RunStatus.FINISHED, "the run finished")
        kinds = ("metrics", "activations", "kernels", "epoch")
        check(all(frames[k] > 0 for k in kinds), "every frame type arrived")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-service", action="store_true")
    args = parser.parse_args()
    problem = device_problem("cuda")
    if problem is not None:
        print(f"gpu_check: no usable GPU here: {problem}")
        sys.exit(2)
    cp = module_for("cuda")
    props = cp.cuda.runtime.getDeviceProperties(0)
    print(f"GPU: {props['name'].decode()}, CuPy {cp.__version__}, numpy {np.__version__}")
    data = load_splits(validation=0)
    x, y = data.train.x, data.train.y
    same_numbers(x, y)
    speed(x, y, args.repeats)
    accuracy()
    if not args.skip_service:
        service()
    print("all checks passed" if not FAILURES else f"{len(FAILURES)} check(s) failed: {FAILURES}")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
