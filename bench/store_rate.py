"""How many runs one SQLite file keeps up with: metrics reports written the way the run manager
writes them (``RunStore.add_points`` + ``update`` per report, one event-loop thread, WAL,
synchronous=NORMAL), as fast as it can for a few seconds; prints reports/s and what that means in
concurrent runs at the service's rate of 10 reports per second per run. Asserts nothing.

Usage: ``python bench/store_rate.py [--seconds 5] [--points 4] [--runs 1000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from glassnet.service.store import RunStore

CONFIG = {"optimizer": "sgd", "lr": 0.1, "epochs": 1, "batch_size": 64, "weight_decay": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--points", type=int, default=4, help="mini-batches per report")
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glassnet-store-") as tmp:
        measure(RunStore(Path(tmp) / "runs.sqlite3"), args)


def measure(store: RunStore, args: argparse.Namespace) -> None:
    """Write reports for ``args.seconds`` and print the rate."""
    ids = [f"{i:012x}" for i in range(args.runs)]
    for run_id in ids:
        store.create({"id": run_id, "name": run_id, "spec": {}, "config": CONFIG, "validation": 0})
    step = 0
    reports = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for run_id in ids:
            steps = list(range(step + 1, step + 1 + args.points))
            points = {
                "step": steps,
                "epoch": [0] * args.points,
                "loss": [0.5] * args.points,
                "accuracy": [0.9] * args.points,
                "lr": [0.1] * args.points,
            }
            store.add_points(run_id, points)
            store.update(run_id, step=steps[-1], epoch=0)
            reports += 1
        step += args.points
    elapsed = time.perf_counter() - started
    store.close()
    rate = reports / elapsed
    print(
        f"{args.runs} runs, {args.points} points per report: {rate:,.0f} reports/s "
        f"({elapsed / reports * 1e6:.0f} us each) -> keeps up with {rate / 10:,.0f} runs at 10 reports/s "
        f"(one core of the event loop, nothing else)"
    )


if __name__ == "__main__":
    main()
