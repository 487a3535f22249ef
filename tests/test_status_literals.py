"""One source of truth for the run's states (issue 9, bar 4): no status is spelled out as a string
literal outside the state-machine module (backend/glassnet/service/runstate.py) and its mirror on
the page (frontend/js/protocol.js). Everything else asks the machine."""

from __future__ import annotations

import re
from pathlib import Path

from glassnet.service.runstate import RunAction, RunStatus, allowed, machine_schema, next_status, refusal

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    ROOT / "backend" / "glassnet" / "service" / "runstate.py",
    ROOT / "frontend" / "js" / "protocol.js",
}
STATUSES = "|".join(s.value for s in RunStatus)
LITERAL = re.compile(rf"""(["'])({STATUSES})\1""")


def offenders() -> list[str]:
    found = []
    files = [
        *(ROOT / "backend").rglob("*.py"),
        *(ROOT / "frontend" / "js").rglob("*.js"),
        *(ROOT / "bench").rglob("*.py"),
    ]
    for path in files:
        if path in ALLOWED:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if LITERAL.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_no_status_literal_outside_the_state_machine() -> None:
    assert offenders() == []


def test_the_grep_would_catch_one(tmp_path: Path) -> None:
    assert LITERAL.search('if (run.status === "running") {')
    assert LITERAL.search("status in ('queued', 'paused')")
    assert not LITERAL.search('"the run is running now"')


def test_the_machine() -> None:
    assert next_status(RunStatus.RUNNING, RunAction.PAUSE) is RunStatus.PAUSED
    assert next_status(RunStatus.STOPPED, RunAction.RESUME) is RunStatus.QUEUED  # item 8
    assert allowed(RunStatus.STOPPED, RunAction.RESUME, has_checkpoint=True)
    assert not allowed(RunStatus.STOPPED, RunAction.RESUME, has_checkpoint=False)
    assert not allowed(RunStatus.FINISHED, RunAction.RESUME)
    assert not allowed(RunStatus.RUNNING, RunAction.STEP)
    step = RunAction.STEP
    assert refusal("r", RunStatus.RUNNING, step) == "cannot step run r: it is running; pause it first"
    assert refusal("r", RunStatus.QUEUED, step) == "cannot step run r: it is queued"  # cannot pause: no hint
    assert "start a new run" in str(refusal("r", RunStatus.FINISHED, RunAction.STEP))
    schema = machine_schema()
    assert set(schema["transitions"]) == {s.value for s in RunStatus}
    assert schema["transitions"]["paused"]["step"] == "paused"
