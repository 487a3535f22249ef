"""Issue 9, one source of truth: HTTP routes get the app's state through FastAPI dependencies
(routes/deps.py, ``Annotated[..., Depends(...)]``), never by reading ``request.app.state`` in a
handler. deps.py and bodies.py are where the dependencies themselves read it."""

from __future__ import annotations

from pathlib import Path

ROUTES = Path(__file__).resolve().parents[1] / "backend" / "glassnet" / "service" / "routes"
HOMES = {"deps.py", "bodies.py"}


def test_no_handler_reads_the_app_state_itself() -> None:
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(ROUTES.glob("*.py"))
        if path.name not in HOMES
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "request.app.state" in line
    ]
    assert found == []
    assert (ROUTES / "deps.py").is_file() and "Depends(" in (ROUTES / "deps.py").read_text(encoding="utf-8")
