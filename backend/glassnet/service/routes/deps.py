"""The app's state, handed to routes as FastAPI dependencies (``Annotated[..., Depends(...)]``)
instead of every handler reading ``request.app.state``: one place says where each piece lives
and what a route gets while it is missing (503)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from ..explain import Explainer
from ..pool import HeavyPool
from ..worker import RunManager
from .bodies import pool_of, ready


def _manager(request: Request) -> RunManager:
    return ready(request, "manager", "the run manager")


def _explainer(request: Request) -> Explainer:
    return ready(request, "explainer", "the explainer")


def _state(request: Request) -> Any:
    return request.app.state


Manager = Annotated[RunManager, Depends(_manager)]
ExplainerDep = Annotated[Explainer, Depends(_explainer)]
Pool = Annotated[HeavyPool, Depends(pool_of)]
AppState = Annotated[Any, Depends(_state)]
