"""The app's state, handed to routes as FastAPI dependencies (``Annotated[..., Depends(...)]``)
instead of every handler reading ``request.app.state``: one place says where each piece lives
and what a route gets while it is missing (503).

Every dependency here is ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop (and a GIL hand-over) per dependency per request.
For ``POST /api/predict`` under 32 clients those two hops took ~18% of the event loop's time.
Each body is a few attribute reads, so it runs on the loop at once."""

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


async def _manager(request: Request) -> RunManager:
    return ready(request, "manager", "the run manager")


async def _explainer(request: Request) -> Explainer:
    return ready(request, "explainer", "the explainer")


async def _digits(request: Request) -> DigitStore:
    store = getattr(request.app.state, "digits", None)
    if store is None:
        raise HTTPException(503, "my digits are not ready")
    return store


async def _digits_owner(request: Request) -> str:
    return digits_owner(request)


async def _state(request: Request) -> Any:
    return request.app.state


async def _pool(request: Request) -> HeavyPool:
    return pool_of(request)


async def _registry(request: Request) -> ModelRegistry:
    return registry_of(request)


Manager = Annotated[RunManager, Depends(_manager)]
ExplainerDep = Annotated[Explainer, Depends(_explainer)]
Pool = Annotated[HeavyPool, Depends(_pool)]
Registry = Annotated[ModelRegistry, Depends(_registry)]
Digits = Annotated[DigitStore, Depends(_digits)]
AppState = Annotated[Any, Depends(_state)]
#: whose digits the request means (a student's own; the teacher's are ``''``)
DigitsOwner = Annotated[str, Depends(_digits_owner)]
