"""Helper processes in tests: waiting for one to end, and the helpers a killed trainer leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
            if state == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False


def helpers_of_a_killed_trainer(preset: str, make_step: str, batch: int) -> list[int]:
    """Run, in a fresh process, one training step of ``preset`` by ``make_step`` (Python code that
    sets ``step`` from ``model``), print its helpers' ids and kill that process outright: the
    helpers it left, which must end on their own (their pipes close)."""
    script = textwrap.dedent(
        f"""
        import numpy as np
        from glassnet.nn import Sequential
        from glassnet.presets import load_preset
        from glassnet.training.step import TrainStep
        model = Sequential.from_spec(load_preset({preset!r}))
        {make_step}
        step(np.zeros(({batch}, 1, 28, 28), np.float32), np.zeros({batch}, np.int64))
        print(*step.helper_pids(), flush=True)
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return [int(p) for p in proc.stdout.split()]
