"""The app's state, handed to routes as FastAPI dependencies (``Annotated[..., Depends(...)]``)
instead of every handler reading ``request.app.state``: one place says where each piece lives
and what a route gets while it is missing (503)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from ..explain import Explainer
from ..inference import ModelRegistry
from ..mydigits import DigitStore
from ..owners import digits_owner
from ..pool import HeavyPool
from ..worker import RunManager
from .bodies import pool_of, ready, registry_of


def _manager(request: Request) -> RunManager:
    return ready(request, "manager", "the run manager")


def _explainer(request: Request) -> Explainer:
    return ready(request, "explainer", "the explainer")


def _digits(request: Request) -> DigitStore:
    store = getattr(request.app.state, "digits", None)
    if store is None:
        raise HTTPException(503, "my digits are not ready")
    return store


def _digits_owner(request: Request) -> str:
    return digits_owner(request)


def _state(request: Request) -> Any:
    return request.app.state


Manager = Annotated[RunManager, Depends(_manager)]
ExplainerDep = Annotated[Explainer, Depends(_explainer)]
Pool = Annotated[HeavyPool, Depends(pool_of)]
Registry = Annotated[ModelRegistry, Depends(registry_of)]
Digits = Annotated[DigitStore, Depends(_digits)]
AppState = Annotated[Any, Depends(_state)]
#: whose digits the request means (a student's own; the teacher's are ``''``)
DigitsOwner = Annotated[str, Depends(_digits_owner)]
