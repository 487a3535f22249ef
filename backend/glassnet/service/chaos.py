"""The crash loop: SIGKILL the server and the training process at random moments while a run
trains, restart and resume each time, and measure what survives. Used by ``bench/crash_loop.py``
(full MNIST, the cnn preset) and by a short test. Standard library only, like :mod:`.devserver`.

After every kill it checks that every checkpoint of the run is readable and counts the ``.tmp``
files a killed writer left (the next start-up removes them); each kill's loss is the training
done before it that the resume had to redo (steps, and seconds at the run's speed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..nn.checkpoint import MAX_RUN_CHECKPOINT_BYTES, CheckpointError, read_checkpoint, read_checkpoint_info
from .devserver import ServeProcess
from .runstate import RunStatus as S


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """JSON in, JSON out; HTTP errors come back as ``{"status": code, ...body}``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.loads(exc.read() or b"{}")}


def trainer_pids(server: ServeProcess) -> list[int]:
    """The server's training processes (spawned children running session_main)."""
    found = []
    for pid in server.child_pids():
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                found.append(pid)
    return found


def alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def wait(predicate: Any, timeout: float, interval: float = 0.05) -> Any:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy (returned)
    or ``timeout`` seconds pass (then its last, falsy, value is returned)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return value


@dataclass
class Kill:
    kind: str  # "server" | "worker"
    at: float  # seconds since the run started
    step_before: int  # the run's last reported step before the kill
    resumed_from: int  # the checkpoint step it resumed from
    steps_per_s: float
    tmp_left: int  # .tmp files found right after the kill (removed by the next start-up)
    unreadable: list[str]

    @property
    def lost_steps(self) -> int:
        return max(0, self.step_before - self.resumed_from)

    @property
    def lost_s(self) -> float:
        return self.lost_steps / self.steps_per_s if self.steps_per_s else 0.0


@dataclass
class CrashLoopResult:
    run_id: str
    kills: list[Kill] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    tmp_at_end: int = 0
    unreadable_at_end: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check_checkpoints(folder: Path) -> list[str]:
    """Names of the run's checkpoints that do not read back."""
    bad = []
    for path in sorted(folder.glob("*.npz")):
        try:
            read_checkpoint(path, max_bytes=MAX_RUN_CHECKPOINT_BYTES)
        except (CheckpointError, OSError) as exc:
            bad.append(f"{path.name}: {exc}")
    return bad


def crash_loop(
    make_server: Any,
    data_dir: Path,
    body: dict[str, Any],
    server_kills: int,
    worker_kills: int,
    interval: tuple[float, float] = (1.0, 6.0),
    seed: int = 0,
    log: Any = print,
    finish_timeout: float = 3600,
) -> CrashLoopResult:
    """Start a run with ``body`` on ``make_server()`` (a started :class:`ServeProcess` over
    ``data_dir``), kill as asked at random intervals, resume after each kill, let it finish."""
    rng = random.Random(seed)
    server = make_server()
    started = time.monotonic()
    run = call(server.url + "/api/runs", "POST", body)
    if "id" not in run:
        server.stop(signal.SIGKILL)
        raise RuntimeError(f"could not start the run: {run}")
    rid = run["id"]
    folder = data_dir / rid
    result = CrashLoopResult(rid)
    kinds = ["server"] * server_kills + ["worker"] * worker_kills
    rng.shuffle(kinds)
    last_step, last_time = 0, time.monotonic()
    speed = 0.0
    try:
        for kind in kinds:
            time.sleep(rng.uniform(*interval))
            now = call(server.url + f"/api/runs/{rid}")
            if now["status"] in (S.FINISHED, S.FAILED, S.STOPPED, S.DIVERGED):
                log(f"the run ended ({now['status']}) before the kills were done")
                break
            t = time.monotonic()
            if now["step"] > last_step and t > last_time:
                speed = (now["step"] - last_step) / (t - last_time)
            step_before = now["step"]
            if kind == "server":
                children = trainer_pids(server)
                server.stop(signal.SIGKILL)
                wait(lambda children=children: not any(alive(p) for p in children), 60)
                tmp_left = len(list(folder.glob(".*.tmp")))
                unreadable = check_checkpoints(folder)
                server = make_server()
            else:
                pids = wait(lambda s=server: trainer_pids(s), 30)
                if not pids:
                    log("no training process to kill (the run is between processes)")
                    continue
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                wait(lambda url=server.url: call(url + f"/api/runs/{rid}")["status"] != S.RUNNING, 30)
                tmp_left = len(list(folder.glob(".*.tmp")))
                unreadable = check_checkpoints(folder)
            last = folder / "last.npz"  # what the resume will start from
            resumed_from = 0
            if last.is_file():
                resumed_from = int(read_checkpoint_info(last, max_bytes=MAX_RUN_CHECKPOINT_BYTES)[1]["step"])
            state = call(server.url + f"/api/runs/{rid}")
            resumed = call(server.url + f"/api/runs/{rid}/resume", "POST")
            if resumed.get("status") not in (S.RUNNING, S.QUEUED):
                raise RuntimeError(f"after a {kind} kill the run could not resume: {state} -> {resumed}")
            # Until the new process reports, the run shows the killed one's last step: wait for a
            # fresh one, so the next kill's loss is measured from what that process trained.
            stale = state["step"]
            wait(lambda url=server.url, stale=stale: call(url + f"/api/runs/{rid}")["step"] != stale, 120)
            kill = Kill(kind, t - started, step_before, resumed_from, speed, tmp_left, unreadable)
            result.kills.append(kill)
            log(
                f"{len(result.kills):>2} {kind:<6} kill at {kill.at:6.1f} s: step {step_before}, "
                f"resumed from {resumed_from} (lost {kill.lost_steps} steps = {kill.lost_s:.1f} s), "
                f"{tmp_left} .tmp left, {len(unreadable)} unreadable"
            )
            last_step, last_time = resumed_from, time.monotonic()
        final = wait(
            lambda: (r := call(server.url + f"/api/runs/{rid}"))["status"] not in (S.RUNNING, S.QUEUED) and r,
            finish_timeout,
            0.5,
        )
        result.final = final or call(server.url + f"/api/runs/{rid}")
    finally:
        server.stop()
    result.seconds = time.monotonic() - started
    result.tmp_at_end = len(list(folder.glob(".*.tmp")))
    result.unreadable_at_end = check_checkpoints(folder)
    return result
