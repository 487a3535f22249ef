"""The dashboard's JavaScript: `node --test frontend/test/` (pure modules: protocol decoding,
image decoding and colour scales, chart scaling and decimation, the architecture arithmetic)
runs as part of pytest, so `make test` covers it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def test_node_unit_tests_pass() -> None:
    if NODE is None:  # part of the test command: a missing Node fails, never skips
        pytest.fail("node is not installed: the JavaScript tests need Node 20 (apt-get install -y nodejs)")
    proc = subprocess.run(
        [NODE, "--test", "frontend/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = "\n".join(line for line in proc.stdout.splitlines() if line.startswith(("# ", "not ok")))
    assert proc.returncode == 0, (
        f"node --test failed:\n{summary}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    )
    assert "# fail 0" in proc.stdout, summary
