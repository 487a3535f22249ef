"""Crash loop: SIGKILL the server and the training process at random 1-6 s intervals while the
cnn preset trains on the full MNIST, restart and resume after each kill; then train the same run
(same seed) without kills and compare. Prints every kill and the figures; asserts nothing.

    .venv/bin/python bench/crash_loop.py [--server-kills 20] [--worker-kills 20] [--epochs 3]

What it reports: runs resumable after every kill, unreadable checkpoints, .tmp files left after
the run, the training each kill cost (steps redone, and seconds at the run's speed), and the
test accuracy of the killed run vs the uninterrupted one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from glassnet.data.mnist import load_splits
from glassnet.nn.checkpoint import MAX_RUN_CHECKPOINT_BYTES, read_checkpoint
from glassnet.service.chaos import call, crash_loop
from glassnet.service.devserver import ServeProcess
from glassnet.service.runstate import RunStatus
from glassnet.training.trainer import evaluate


def test_accuracy(path: Path) -> float:
    model = read_checkpoint(path, max_bytes=MAX_RUN_CHECKPOINT_BYTES).model
    return evaluate(model, load_splits(None, validation=0).test).accuracy


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server-kills", type=int, default=20)
    parser.add_argument("--worker-kills", type=int, default=20)
    parser.add_argument("--min", type=float, default=1.0, help="shortest interval between kills (s)")
    parser.add_argument("--max", type=float, default=6.0, help="longest interval between kills (s)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the kills' random schedule")
    parser.add_argument(
        "--checkpoint-interval", type=float, default=30.0, help="GLASSNET_CHECKPOINT_INTERVAL_S"
    )
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="glassnet-crash-"))
    env = {"GLASSNET_CHECKPOINT_INTERVAL_S": str(args.checkpoint_interval)}
    body = {"preset": "cnn", "epochs": args.epochs, "seed": 0}
    print(
        f"crash loop: cnn preset, {args.epochs} epochs of full MNIST, {args.server_kills} server and "
        f"{args.worker_kills} worker SIGKILLs at {args.min:g}-{args.max:g} s; work folder {root}",
        flush=True,
    )

    killed_dir = root / "killed"

    def make_server() -> ServeProcess:
        return ServeProcess(killed_dir, env=env, log=root / "killed.log").start(timeout=120)

    result = crash_loop(
        make_server,
        killed_dir,
        body,
        args.server_kills,
        args.worker_kills,
        (args.min, args.max),
        args.seed,
        log=lambda line: print(line, flush=True),
    )
    print(f"killed run ended {result.final.get('status')} after {result.seconds:.0f} s", flush=True)

    straight_dir = root / "straight"
    server = ServeProcess(straight_dir, env=env, log=root / "straight.log").start(timeout=120)
    started = time.monotonic()
    try:
        rid = call(server.url + "/api/runs", "POST", body)["id"]
        while call(server.url + f"/api/runs/{rid}")["status"] in (RunStatus.RUNNING, RunStatus.QUEUED):
            time.sleep(1)
        straight = call(server.url + f"/api/runs/{rid}")
    finally:
        server.stop()
    print(
        f"uninterrupted run ended {straight['status']} after {time.monotonic() - started:.0f} s", flush=True
    )

    kills = result.kills
    lost = [k.lost_s for k in kills]
    acc_killed = test_accuracy(killed_dir / result.run_id / "last.npz")
    acc_straight = test_accuracy(straight_dir / rid / "last.npz")
    a = read_checkpoint(killed_dir / result.run_id / "last.npz", max_bytes=MAX_RUN_CHECKPOINT_BYTES)
    b = read_checkpoint(straight_dir / rid / "last.npz", max_bytes=MAX_RUN_CHECKPOINT_BYTES)
    diff = max(float(np.abs(a.model.state_dict()[k] - v).max()) for k, v in b.model.state_dict().items())
    print()
    print(
        f"kills done during the run      {sum(k.kind == 'server' for k in kills)} server, "
        f"{sum(k.kind == 'worker' for k in kills)} worker"
    )
    print(f"resumable after every kill     {'yes' if len(kills) else 'no kills'} ({len(kills)} resumes)")
    print(
        f"unreadable checkpoints         {sum(len(k.unreadable) for k in kills)} after kills, "
        f"{len(result.unreadable_at_end)} at the end"
    )
    print(
        f".tmp left by a kill            {sum(k.tmp_left for k in kills)} (removed at the next start); "
        f"{result.tmp_at_end} at the end"
    )
    if lost:
        print(
            f"training lost per kill         max {max(lost):.1f} s, median {statistics.median(lost):.1f} s "
            f"(max {max(k.lost_steps for k in kills)} steps)"
        )
    print(
        f"final status                   {result.final.get('status')} (uninterrupted: {straight['status']})"
    )
    print(
        f"test accuracy                  killed {acc_killed:.2%}, uninterrupted {acc_straight:.2%}, "
        f"difference {100 * abs(acc_killed - acc_straight):.2f} points"
    )
    print(f"largest weight difference      {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
