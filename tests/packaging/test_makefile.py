"""What the README's two commands install (QA3 inst #4): ``make run`` glassnet alone (its
dependencies, no dev tools or extras: ~300 MB rather than ~900 MB), ``make test`` the dev set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def _installs(target: str) -> list[str]:
    """The pip install lines ``make TARGET`` would run on a fresh clone (-n: nothing is run)."""
    result = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    return [
        line for line in result.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line
    ]


def test_make_run_installs_glassnet_alone() -> None:
    installs = _installs("run")
    assert installs and all(line.endswith("install --quiet -e .") for line in installs), installs


def test_make_test_installs_the_dev_set() -> None:
    assert any("-e '.[dev]'" in line for line in _installs("test-fast")), _installs("test-fast")


def test_build_outputs_are_ignored() -> None:
    """QA3 inst #5: after the README's python -m build, git status showed ?? dist/."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    outputs = ["dist/glassnet-0.1.0-py3-none-any.whl", "dist/glassnet-0.1.0.tar.gz", "build/lib/x.py"]
    outputs.append("backend/glassnet.egg-info/PKG-INFO")
    result = subprocess.run(["git", "check-ignore", *outputs], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.split() == outputs
