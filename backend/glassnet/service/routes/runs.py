"""Runs: start, list, inspect, control, and the architecture check the editor uses.

``POST /api/runs`` starts a run, or queues it when the worker slot is taken (one run trains at a
time by default: ``GLASSNET_MAX_ACTIVE_RUNS``); the answer is 201 with status ``running`` or
``queued``. When ``max_queued_runs`` runs already wait, 409. Every control endpoint answers with
the run as it is afterwards, or 409 naming the state that does not allow it; unknown ids are 404.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Request

from ...nn.backend import device_problem
from ...nn.model import Sequential
from ...presets import load_preset
from ...training.config import TrainConfig
from ..schemas import (
    ArchitectureSummary,
    ErrorBody,
    LayerRow,
    MetricsHistory,
    ModelSpec,
    RunCreate,
    RunDetail,
    RunPatch,
)
from ..worker import RunConflictError, RunManager, RunNotFoundError, summary

router = APIRouter(tags=["runs"])
log = logging.getLogger("glassnet.runs")

RunId = Annotated[str, Path(min_length=1, max_length=64, description="the run's id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such run"},
    409: {"model": ErrorBody, "description": "the run's state does not allow this"},
    422: {"model": ErrorBody, "description": "invalid body"},
}
N_CLASSES = 10


def _manager(request: Request) -> RunManager:
    return request.app.state.manager


def build_checked(spec: dict[str, Any], image_shape: list[int] | None, seed: int = 0) -> Sequential:
    """Build the network, or 422 naming the layer that does not fit."""
    try:
        model = Sequential.from_spec(spec, np.random.default_rng(seed))
    except ValueError as exc:
        raise HTTPException(422, f"the architecture does not build: {exc}") from None
    if image_shape is not None and list(model.input_shape) != list(image_shape):
        raise HTTPException(
            422,
            f"input_shape {list(model.input_shape)} does not match the dataset's images {list(image_shape)}",
        )
    if model.output_shape != (N_CLASSES,):
        raise HTTPException(
            422,
            f"layer {len(model.layers) - 1} ({model.layers[-1].kind}): the network must end with "
            f"{N_CLASSES} class scores, it outputs {list(model.output_shape)}",
        )
    return model


def detail(manager: RunManager, run: dict[str, Any]) -> RunDetail:
    folder = manager.run_dir(run["id"])
    files = sorted(p.name for p in folder.glob("*.npz")) if folder.is_dir() else []
    return RunDetail(
        **summary(run).model_dump(),
        spec=run["spec"],
        config=run["config"],
        validation=run["validation"],
        checkpoint=run["checkpoint"],
        checkpoint_step=run["checkpoint_step"],
        checkpoints=files,
        queue_position=manager.queue_position(run["id"]),
    )


def _found(manager: RunManager, run_id: str) -> dict[str, Any]:
    try:
        return manager.get(run_id)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


def _run_device(requested: str | None, default: str) -> str:
    """The device a new run trains on: the one it asks for (422 when that cannot be used here),
    else GLASSNET_DEVICE when it can be used, else the CPU (logged)."""
    device = requested or default
    problem = device_problem(device)
    if problem is None:
        return device
    if requested is not None:
        raise HTTPException(422, f"device {device!r} is not available here: {problem}")
    log.warning("GLASSNET_DEVICE=%s is not available (%s); the run trains on the CPU", device, problem)
    return "cpu"


async def _control(request: Request, run_id: str, action: str) -> RunDetail:
    manager = _manager(request)
    _found(manager, run_id)
    try:
        run = await getattr(manager, action)(run_id)
    except RunConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    return detail(manager, run)


@router.post("/api/runs", status_code=201, response_model=RunDetail, responses=ERRORS, summary="Start a run")
async def create_run(body: RunCreate, request: Request) -> RunDetail:
    """Train a preset (default ``cnn``) or a spec; training settings override the preset's. The
    run starts at once, or waits as ``queued`` while another run holds the worker slot."""
    if body.preset is not None and body.spec is not None:
        raise HTTPException(422, "give either 'preset' or 'spec', not both")
    if body.spec is not None:
        full_spec: dict[str, Any] = body.spec.model_dump()
        preset, settings = None, {}
    else:
        preset = body.preset or "cnn"
        full_spec = load_preset(preset)
        settings = dict(full_spec.get("train", {}))
    overrides = body.model_dump(exclude_none=True, exclude={"name", "preset", "spec", "loss"})
    overrides["device"] = _run_device(body.device, request.app.state.settings.device)
    try:
        config = TrainConfig.from_dict({**settings, **overrides})
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if body.loss is not None:
        full_spec["loss"] = body.loss
    state = request.app.state
    if state.image_shape is None or not state.readiness.ready:
        raise HTTPException(503, "cannot train now: " + "; ".join(state.readiness.problems))
    model = build_checked(full_spec, state.image_shape, config.seed)
    spec = {**{k: v for k, v in full_spec.items() if k != "train"}, **model.spec()}
    manager = _manager(request)
    run_id = secrets.token_hex(6)  # 12 hex digits: also a model id for predictions (worker.RUN_ID)
    n_train = state.train_size
    total = (
        None
        if n_train is None
        else -(-(n_train - state.settings.validation) // config.batch_size) * config.epochs
    )
    manager.store.create(
        {
            "id": run_id,
            "name": body.name or f"{preset or spec.get('name') or 'custom'} #{len(manager.store.list()) + 1}",
            "preset": preset,
            "spec": spec,
            "config": config.as_dict(),
            "validation": state.settings.validation,
            "total_steps": total,
        }
    )
    try:
        run = manager.enqueue(run_id)
    except RunConflictError as exc:
        manager.store.update(run_id, status="stopped", message=str(exc))
        raise HTTPException(409, str(exc)) from None
    return detail(manager, run)


@router.get("/api/runs", response_model=list[RunDetail], summary="Every run, oldest first")
async def list_runs(request: Request) -> list[RunDetail]:
    manager = _manager(request)
    return [detail(manager, run) for run in manager.store.list()]


@router.get("/api/runs/{run_id}", response_model=RunDetail, responses=ERRORS, summary="One run")
async def get_run(run_id: RunId, request: Request) -> RunDetail:
    manager = _manager(request)
    return detail(manager, _found(manager, run_id))


@router.get(
    "/api/runs/{run_id}/metrics", response_model=MetricsHistory, responses=ERRORS, summary="Full history"
)
async def run_metrics(run_id: RunId, request: Request) -> MetricsHistory:
    """Every mini-batch's loss, accuracy and learning rate (columns), and every epoch's figures."""
    manager = _manager(request)
    _found(manager, run_id)
    return MetricsHistory(run=run_id, **manager.store.history(run_id))


@router.post("/api/runs/{run_id}/pause", response_model=RunDetail, responses=ERRORS, summary="Pause")
async def pause_run(run_id: RunId, request: Request) -> RunDetail:
    """Stop between two mini-batches and write a checkpoint; viewers get the state once."""
    return await _control(request, run_id, "pause")


@router.post("/api/runs/{run_id}/resume", response_model=RunDetail, responses=ERRORS, summary="Resume")
async def resume_run(run_id: RunId, request: Request) -> RunDetail:
    """Continue a paused run, or an ``interrupted`` one from its last checkpoint (it may queue)."""
    return await _control(request, run_id, "resume")


@router.post("/api/runs/{run_id}/step", response_model=RunDetail, responses=ERRORS, summary="One step")
async def step_run(run_id: RunId, request: Request) -> RunDetail:
    """Run exactly one mini-batch of a paused run (answers once it is done)."""
    return await _control(request, run_id, "step")


@router.post("/api/runs/{run_id}/stop", response_model=RunDetail, responses=ERRORS, summary="Stop")
async def stop_run(run_id: RunId, request: Request) -> RunDetail:
    """End the run for good (a checkpoint is written first); a queued run just leaves the queue."""
    return await _control(request, run_id, "stop")


@router.patch("/api/runs/{run_id}", response_model=RunDetail, responses=ERRORS, summary="Change rates")
async def patch_run(run_id: RunId, body: RunPatch, request: Request) -> RunDetail:
    """Change the learning rate, momentum or weight decay, also while the run trains."""
    values = body.model_dump(exclude_none=True)
    if not values:
        raise HTTPException(422, "nothing to change: give lr, momentum or weight_decay")
    manager = _manager(request)
    _found(manager, run_id)
    try:
        run = await manager.patch(run_id, values)
    except RunConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return detail(manager, run)


@router.post(
    "/api/architecture",
    response_model=ArchitectureSummary,
    responses={422: {"model": ErrorBody, "description": "the spec does not build; names the layer"}},
    summary="Check a spec: shapes, parameter counts and their formulas",
)
async def architecture(body: ModelSpec, request: Request) -> ArchitectureSummary:
    model = build_checked(body.model_dump(), request.app.state.image_shape)
    return ArchitectureSummary(
        input_shape=list(model.input_shape),
        output_shape=list(model.output_shape),
        layers=[LayerRow(**info.as_dict()) for info in model.summary()],
        total_params=model.param_count(),
        text=model.describe(),
    )
