"""``/healthz`` (the process answers) and ``/readyz`` (dataset readable, default model loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..schemas import Health, HubStats, Readiness
from .deps import AppState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the server answers")
async def healthz(state: AppState) -> Health:
    return Health(viewers=len(state.hub.viewers), active_runs=len(state.manager.workers))


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the dataset is readable and the default model is loaded",
    responses={503: {"model": Readiness, "description": "not ready (problems listed)"}},
)
async def readyz(state: AppState) -> JSONResponse:
    readiness: Readiness = state.readiness
    problem = state.manager.executor.problem()
    if problem is not None:  # e.g. the Ray cluster is unreachable: runs wait until it is back
        readiness = readiness.model_copy(
            update={"ready": False, "problems": [*readiness.problems, f"executor: {problem}"]}
        )
    return JSONResponse(readiness.model_dump(), status_code=200 if readiness.ready else 503)


@router.get("/api/stats", response_model=HubStats, summary="Viewers, queued and dropped frames")
async def stats(state: AppState) -> HubStats:
    return HubStats(**state.hub.stats())
