"""Issue 9, one source of truth: HTTP routes get the app's state through FastAPI dependencies
(routes/deps.py, ``Annotated[..., Depends(...)]``), never by reading ``request.app.state`` in a
handler. deps.py and bodies.py are where the dependencies themselves read it.

And no route's dependency runs in the thread pool: FastAPI runs a plain ``def`` dependency in a
worker thread, one thread hop and GIL hand-over per dependency per request (for
``POST /api/predict`` under 32 clients, ~18% of the event loop's time went to its two hops). The
dependencies are ``async def``: a few attribute reads, run on the loop at once."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from glassnet.service.app import create_app
from glassnet.service.errors import _api_routes
from glassnet.service.settings import Settings

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


def _dependencies(dependant: Any) -> list[Any]:
    """Every dependency's callable of a route, through sub-dependencies."""
    out = []
    for sub in dependant.dependencies:
        out.append(sub.call)
        out.extend(_dependencies(sub))
    return out


def test_every_dependency_of_every_route_runs_on_the_event_loop(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    routes = [r for r in _api_routes(app.router.routes) if hasattr(r, "dependant")]
    assert any(r.path == "/api/predict" for r in routes)
    calls = {(r.path, call) for r in routes for call in _dependencies(r.dependant)}
    assert len({call for _, call in calls}) >= 5, "the routes' dependencies were not found"
    in_threads = sorted(
        f"{path}: {call.__qualname__}" for path, call in calls if not inspect.iscoroutinefunction(call)
    )
    assert not in_threads, "dependencies FastAPI would run in its thread pool:\n" + "\n".join(in_threads)


def test_predict_is_the_first_route_the_router_tries(tmp_path: Path) -> None:
    """The route a class calls most is matched first (app.py's router order), after only
    FastAPI's own /openapi.json."""
    paths = [
        r.path
        for r in _api_routes(create_app(Settings(data_dir=tmp_path)).router.routes)
        if r.path != "/openapi.json"
    ]
    assert paths[0] == "/api/predict", paths[:3]
