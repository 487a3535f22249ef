"""Runs: start, list, inspect, control, and the architecture check the editor uses.

``POST /api/runs`` starts a run, or queues it when the worker slot is taken (one run trains at a
time by default: ``GLASSNET_MAX_ACTIVE_RUNS``); the answer is 201 with status ``running`` or
``queued``. When ``max_queued_runs`` runs already wait, 409. Every control endpoint answers with
the run as it is afterwards, or 409 naming the state that does not allow it; unknown ids are 404.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path as PathType
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from ...nn.backend import device_problem
from ...nn.model import Sequential
from ...presets import fit_classes, load_preset
from ...training.config import MAX_BATCH, TrainConfig
from ..owners import digits_owner, identity_of, not_yours
from ..pool import HeavyPool
from ..protocol import ClassData, EventType, RunStatus, RunSummary
from ..recovery import checkpoint_meta, data_mismatch
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
from ..security import quota_client
from ..teaching import FINE_TUNE, TeachPlan, plan_teach, teach_name
from ..worker import RunConflictError, RunManager, RunNotFoundError
from .deps import AppState, Manager, Pool

router = APIRouter(tags=["runs"])
log = logging.getLogger("glassnet.runs")

N_CLASSES = 10  # a dataset without class names: the ten digits
RunId = Annotated[str, Path(min_length=1, max_length=64, description="the run's id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such run"},
    409: {"model": ErrorBody, "description": "the run's state does not allow this"},
    422: {"model": ErrorBody, "description": "invalid body"},
}


def build_checked(
    spec: dict[str, Any], image_shape: list[int] | None, batch: int | None = None, n_classes: int = 10
) -> Sequential:
    """Check the network from its shapes alone (no weight is allocated): it builds, reads the
    dataset's images into one score per class, stays under the parameter cap and, for ``batch``,
    under the activation-memory cap; else 422 naming the layer. Runs in the heavy pool, off the loop."""
    try:
        model = Sequential.from_spec(spec, allocate=False)
        if batch is not None:
            model.check_batch_memory(batch)
    except ValueError as exc:
        raise HTTPException(422, f"the architecture does not build: {exc}") from None
    if image_shape is not None and list(model.input_shape) != list(image_shape):
        raise HTTPException(
            422,
            f"input_shape {list(model.input_shape)} does not match the dataset's images {list(image_shape)}",
        )
    if model.output_shape != (n_classes,):
        raise HTTPException(
            422,
            f"layer {len(model.layers) - 1} ({model.layers[-1].kind}): the network must end with "
            f"{n_classes} class scores (the dataset's classes), it outputs {list(model.output_shape)}",
        )
    return model


def detail(manager: RunManager, run: dict[str, Any], listed: RunSummary | None = None) -> RunDetail:
    """The run with its spec, settings and files (``listed``: its summary, when already made)."""
    folder = manager.run_dir(run["id"])
    files = sorted(p.name for p in folder.glob("*.npz")) if folder.is_dir() else []
    return RunDetail(
        **(listed or manager.summaries([run])[0]).model_dump(),
        spec=run["spec"],
        config=run["config"],
        validation=run["validation"],
        checkpoint=run["checkpoint"],
        checkpoint_step=run["checkpoint_step"],
        checkpoints=files,
    )


def _found(manager: RunManager, run_id: str) -> dict[str, Any]:
    try:
        return manager.get(run_id)
    except RunNotFoundError as exc:
        damaged = manager.store.problem(run_id)
        if damaged is not None:  # its row is there but unreadable: say so, not "no such run"
            raise HTTPException(409, damaged) from None
        raise HTTPException(404, str(exc)) from None


def _owned(manager: RunManager, request: Request, run_id: str, action: str) -> dict[str, Any]:
    """The run, if the person asking may ``action`` it (its owner, or the teacher); else 403."""
    run = _found(manager, run_id)
    identity = identity_of(request)
    if not identity.may_control(run.get("owner")):
        raise HTTPException(403, not_yours(action, f"run {run_id}", run.get("owner")))
    return run


@contextlib.contextmanager
def _answers() -> Iterator[None]:
    """A manager's refusal as the HTTP answer: 409 for a state that does not allow it, 404 for a
    run that is gone. A command passes the route's existence check and then waits for the run's
    lock; a DELETE that held it may have removed the run meanwhile, so the manager's own
    "no run with id" is a 404 like the route's, never an unhandled 500."""
    try:
        yield
    except RunConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


def _resumable(path: PathType, run_id: str, served: dict[str, Any] | None) -> None:
    """A ValueError when the checkpoint is unreadable; a 409 when it was trained on other data
    than the server serves now (another --dataset, --classes or --transpose): continuing would
    silently train on data prepared differently."""
    mismatch = data_mismatch(checkpoint_meta(path), served)
    if mismatch is not None:
        raise RunConflictError(
            f"cannot resume run {run_id}: {mismatch}; start the server with the run's settings to resume it"
        )


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


async def _control(
    manager: RunManager, pool: HeavyPool, state: Any, request: Request, run_id: str, action: str
) -> RunDetail:
    run = _owned(manager, request, run_id, action)
    extra: dict[str, Any] = {}
    if action == "stop" and identity_of(request).teacher and run.get("owner") in state.classroom.students():
        extra = {"by": "the teacher"}  # a student's run: its owner is told who ended it
    if action == "resume":
        await pool.run(state.disk.require_room, "resume a run")
        served = getattr(state, "served_data", None)
        extra = {"readable": lambda path: pool.run(_resumable, path, run_id, served)}
    with _answers():
        run = await getattr(manager, action)(run_id, **extra)
    return detail(manager, run)


@router.post("/api/runs", status_code=201, response_model=RunDetail, responses=ERRORS, summary="Start a run")
async def create_run(
    body: RunCreate, request: Request, manager: Manager, pool: Pool, state: AppState
) -> RunDetail:
    """Train a preset (default ``cnn``) or a spec; training settings override the preset's. The
    run starts at once, or waits as ``queued`` while another run holds the worker slot."""
    if body.preset is not None and body.spec is not None:
        raise HTTPException(422, "give either 'preset' or 'spec', not both")
    teach: TeachPlan | None = None
    if body.teach is not None and body.teach.from_model is not None:
        if body.preset is not None or body.spec is not None:
            raise HTTPException(422, "teach.from_model gives the network: leave out 'preset' and 'spec'")
        teach = await pool.run(plan_teach, state, body.teach, digits_owner(request))
        full_spec, preset, settings = teach.spec, None, dict(FINE_TUNE)
    elif body.spec is not None:
        full_spec: dict[str, Any] = body.spec.spec()
        preset, settings = None, dict(body.spec.train or {})  # a copied preset's own settings
    else:
        preset = body.preset or "cnn"
        full_spec = load_preset(preset)
        if state.classes:  # one output neuron per class of the dataset
            full_spec, _ = fit_classes(full_spec, len(state.classes))
        settings = dict(full_spec.get("train", {}))
    if body.teach is not None and teach is None:  # my digits mixed into training from scratch
        teach = await pool.run(plan_teach, state, body.teach, digits_owner(request))
    overrides = body.model_dump(
        exclude_none=True, exclude={"name", "preset", "spec", "loss", "augment", "teach", "device"}
    )
    if body.augment is not None:
        augment = body.augment if isinstance(body.augment, bool) else body.augment.model_dump()
        overrides["augment"] = ({} if augment is True else augment) if augment is not False else None
    overrides["device"] = _run_device(body.device, state.settings.device)
    try:
        config = TrainConfig.merged(settings, overrides)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if body.loss is not None:
        full_spec["loss"] = body.loss
    if state.image_shape is None or not state.readiness.ready:
        raise HTTPException(503, "cannot train now: " + "; ".join(state.readiness.problems))
    identity = identity_of(request)
    client = quota_client(request)  # a student by name, others by address
    state.quotas.check(client, "runs")
    await pool.run(state.disk.require_room, "start a run")
    n_classes = len(state.classes) if state.classes else N_CLASSES
    model = await pool.run(build_checked, full_spec, state.image_shape, config.batch_size, n_classes)
    spec = {**{k: v for k, v in full_spec.items() if k != "train"}, **model.spec()}
    try:  # no await from here until it is queued: a refusal stores nothing
        manager.admit(identity.owner)
    except RunConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    run_id = secrets.token_hex(6)  # 12 hex digits: also a model id for predictions (worker.RUN_ID)
    n_train = state.train_size
    if n_train is not None:
        n_train -= state.validation
        if teach is not None:
            n_train = teach.train_size(n_train)
    total = None if n_train is None else -(-n_train // config.batch_size) * config.epochs
    kind = teach_name(teach, preset) or preset or spec.get("name") or "custom"
    created = manager.store.create(
        {
            "id": run_id,
            "name": body.name or f"{kind} #{len(manager.store.list()) + 1}",
            "preset": preset,
            "spec": spec,
            "config": config.as_dict(),
            "validation": state.validation,
            "total_steps": total,
            "owner": identity.owner,
        }
    )
    state.quotas.count(client, "runs")
    manager.observer.created(created)
    if teach is not None:  # everything the run needs, in its folder before it starts
        await pool.run(teach.write, manager.run_dir(run_id))
    with _answers():  # a DELETE of the new id may have come in during the await above
        return detail(manager, manager.enqueue(run_id))


def _cursor(run: dict[str, Any]) -> str:
    """An opaque position in the list: the (created, id) key of the last run on a page."""
    return base64.urlsafe_b64encode(json.dumps([run["created"], run["id"]]).encode()).decode().rstrip("=")


MAX_CREATED = 1e11  # a creation time is a Unix time: anything past the year 5000 was never given out


def _after(cursor: str) -> tuple[float, str]:
    """The (created, id) key a cursor holds; 422 for one this server cannot have made: not
    base64 JSON of [a finite Unix time, an id] (NaN, 1e999, a 30-digit number, ``true`` too)."""
    try:
        created, run_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if type(created) not in (int, float) or not isinstance(run_id, str) or len(run_id) > 64:
            raise ValueError
        if not (math.isfinite(created) and 0 <= created < MAX_CREATED):
            raise ValueError
    except (ValueError, TypeError, OverflowError, binascii.Error, RecursionError):
        raise HTTPException(422, f"cursor {cursor[:40]!r} is not one this server gave out") from None
    return float(created), run_id


@router.get(
    "/api/runs",
    response_model=list[RunDetail],
    responses={
        200: {
            "description": "The runs, oldest first",
            "headers": {
                "X-Next-Cursor": {
                    "description": "Only when more runs follow: pass it as ?cursor= for the next page",
                    "schema": {"type": "string"},
                },
                "Link": {
                    "description": 'Only when more runs follow: </api/runs?...>; rel="next" (the same '
                    "filters, the next cursor)",
                    "schema": {"type": "string"},
                },
            },
        },
        422: {"model": ErrorBody, "description": "bad limit, cursor or status"},
    },
    summary="Runs, oldest first (paginated with limit and cursor, filtered by status)",
)
async def list_runs(
    request: Request,
    manager: Manager,
    response: Response,
    limit: Annotated[
        int | None, Query(ge=1, le=1000, description="at most this many runs (default: all)")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="continue after the page that gave this cursor")
    ] = None,
    status: Annotated[
        list[RunStatus] | None, Query(description="only runs in these states (repeatable)")
    ] = None,
    owner: Annotated[
        str | None,
        Query(max_length=64, description="only this owner's runs; 'me' = the person asking"),
    ] = None,
) -> list[RunDetail]:
    """Without parameters: every run. With ``limit``: one page, and when more runs follow, the
    ``X-Next-Cursor`` header (and a ``Link: <...>; rel="next"`` header) to pass as ``cursor``.
    Queued runs carry their place in the fair queue and an estimated start."""
    after = _after(cursor) if cursor else None
    statuses = [s.value for s in status] if status else None
    if owner == "me":
        owner = identity_of(request).owner
    rows = manager.store.list(statuses, after, None if limit is None else limit + 1, owner=owner)
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        token = _cursor(rows[-1])
        response.headers["X-Next-Cursor"] = token
        pairs = [("limit", limit), ("cursor", token), *(("status", s) for s in statuses or [])]
        query = urlencode(pairs + ([("owner", owner)] if owner else []))
        response.headers["Link"] = f'</api/runs?{query}>; rel="next"'
    listed = manager.summaries(rows)
    return [detail(manager, run, summ) for run, summ in zip(rows, listed, strict=True)]


@router.get("/api/runs/{run_id}", response_model=RunDetail, responses=ERRORS, summary="One run")
async def get_run(run_id: RunId, manager: Manager) -> RunDetail:
    return detail(manager, _found(manager, run_id))


@router.get(
    "/api/runs/{run_id}/metrics", response_model=MetricsHistory, responses=ERRORS, summary="Full history"
)
async def run_metrics(run_id: RunId, manager: Manager) -> MetricsHistory:
    """Every mini-batch's loss, accuracy and learning rate (columns), and every epoch's figures."""
    _found(manager, run_id)
    return MetricsHistory(run=run_id, **manager.store.history(run_id))


# The four controls are one handler, registered once per action (its own path, so that any other
# word after a run id is still a 404/405, not a 422); the state machine decides what applies.
CONTROLS = {
    "pause": "Stop between two mini-batches and write a checkpoint; viewers get the state once.",
    "resume": "Continue a paused run, or one that ended (stopped, interrupted, diverged, failed) from "
    "its last checkpoint (it may queue).",
    "step": "Run exactly one mini-batch of a paused run (answers once it is done).",
    "stop": "End the run (a checkpoint is written first; resume continues it); a queued run just leaves "
    "the queue.",
}


def _control_route(action: str) -> Any:
    async def control(
        run_id: RunId, request: Request, manager: Manager, pool: Pool, state: AppState
    ) -> RunDetail:
        return await _control(manager, pool, state, request, run_id, action)

    control.__name__ = f"{action}_run"
    control.__doc__ = CONTROLS[action]
    return control


for _action in CONTROLS:
    router.add_api_route(
        f"/api/runs/{{run_id}}/{_action}",
        _control_route(_action),
        methods=["POST"],
        response_model=RunDetail,
        responses=ERRORS,
        summary=_action.capitalize(),
    )


@router.delete(
    "/api/runs/{run_id}",
    status_code=204,
    responses=ERRORS,
    summary="Delete a run (not while it trains)",
    response_class=Response,
)
async def delete_run(
    run_id: RunId, request: Request, manager: Manager, pool: Pool, state: AppState
) -> Response:
    """Forget the run, its history and its checkpoints. A run that trains or is paused must be
    stopped first (409); a queued one leaves the queue."""
    _owned(manager, request, run_id, "delete")
    with _answers():
        await manager.delete(run_id, lambda folder: pool.run(shutil.rmtree, folder, True))
    state.disk.forget()
    if state.classroom.pinned == run_id:  # the class run is gone: nothing is pinned any more
        state.classroom.pin(None)
        state.hub.publish(EventType.CLASS, None, ClassData(pinned=None), everyone=True)
    return Response(status_code=204)


@router.patch(
    "/api/runs/{run_id}", response_model=RunDetail, responses=ERRORS, summary="Rename, change rates"
)
async def patch_run(run_id: RunId, body: RunPatch, request: Request, manager: Manager) -> RunDetail:
    """Rename the run (any time), or change the learning rate, weight decay, momentum (SGD with
    momentum) or beta1/beta2 (Adam), also while the run trains; a setting the run's optimizer does
    not have is a 409."""
    values = body.model_dump(exclude_unset=True)
    if not values:
        raise HTTPException(422, "nothing to change: give name, lr, weight_decay, momentum or beta1/beta2")
    run = _owned(manager, request, run_id, "change")
    name = values.pop("name", None)  # already trimmed, visible and not blank (schemas.RunName)
    with _answers():
        try:
            if values:
                run = await manager.patch(run_id, values)
            if name is not None:
                run = await manager.rename(run_id, name)
        except ValueError as exc:  # not a setting of this run's optimizer
            raise RunConflictError(str(exc)) from None
    return detail(manager, run)


@router.post(
    "/api/architecture",
    response_model=ArchitectureSummary,
    responses={422: {"model": ErrorBody, "description": "the spec does not build; names the layer"}},
    summary="Check a spec: shapes, parameter counts and their formulas",
)
async def architecture(body: ModelSpec, pool: Pool, state: AppState) -> ArchitectureSummary:
    n_classes = len(state.classes) if state.classes else N_CLASSES
    model = await pool.run(build_checked, body.spec(), state.image_shape, None, n_classes)
    return ArchitectureSummary(
        input_shape=list(model.input_shape),
        output_shape=list(model.output_shape),
        layers=[LayerRow(**info.as_dict()) for info in model.summary()],
        total_params=model.param_count(),
        bytes_per_sample=model.batch_bytes(1),
        max_batch_size=min(model.max_batch(), MAX_BATCH),
        text=model.describe(),
    )
