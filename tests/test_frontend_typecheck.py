"""The dashboard's `// @ts-check` modules type-check: `tsc -p tsconfig.json` (the npm package
`typescript`, installed by `make test` with `npm ci`) runs as part of pytest and fails, never
skips, when it or Node is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TSC = ROOT / "node_modules" / "typescript" / "bin" / "tsc"


def test_every_ts_check_module_type_checks() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the type check needs Node 20 (apt-get install nodejs)")
    if not TSC.is_file():
        pytest.fail("typescript is not installed: run `npm ci` (make test does)")
    js = sorted((ROOT / "frontend" / "js").rglob("*.js"))
    unchecked = [
        str(p.relative_to(ROOT)) for p in js if not p.read_text(encoding="utf-8").startswith("// @ts-check")
    ]
    assert unchecked == [], "every frontend module starts with // @ts-check"
    proc = subprocess.run(
        [node, str(TSC), "-p", "tsconfig.json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
