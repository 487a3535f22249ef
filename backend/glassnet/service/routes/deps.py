"""The app's state, handed to routes as FastAPI dependencies (``Annotated[..., Depends(...)]``)
instead of every handler reading ``request.app.state``: one place says where each piece lives
and what a route gets while it is missing (503)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from ..explain import Explainer
from ..pool import HeavyPool
from ..worker import RunManager
from .bodies import pool_of


def _manager(request: Request) -> RunManager:
    manager = getattr(request.app.state, "manager", None)
    if manager is None:
        raise HTTPException(503, "the run manager is not ready")
    return manager


def _explainer(request: Request) -> Explainer:
    explainer = getattr(request.app.state, "explainer", None)
    if explainer is None:
        raise HTTPException(503, "the explainer is not ready")
    return explainer


def _state(request: Request) -> Any:
    return request.app.state


Manager = Annotated[RunManager, Depends(_manager)]
ExplainerDep = Annotated[Explainer, Depends(_explainer)]
Pool = Annotated[HeavyPool, Depends(pool_of)]
AppState = Annotated[Any, Depends(_state)]
