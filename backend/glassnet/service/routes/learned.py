"""A run's learned insides after the fact, from what it stored:

* ``GET /api/runs/{id}/learned?checkpoint=epoch-002`` — kernels, probe activations and the probe
  batch's gradients of one checkpoint (default: the latest), with the list of checkpoints: the
  "What it has learned" panels and their timeline for a run that is not training;
* ``GET /api/runs/{id}/kernels?step=N&layer=i`` — a conv layer's exact kernels at a live frame's
  step, while the service keeps them (a training run's last 100 frames): the Enlarge dialog;
* ``GET /api/runs/{id}/epochs/{epoch}/digits?label=3&predicted=5&offset=0&limit=48`` — every
  validation digit of a confusion-matrix cell, a page at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from ...data.mnist import IdxFormatError
from ...nn.checkpoint import CheckpointError, MissingCheckpointError
from ..learned import MAX_PAGE, NoCheckpointError, cell_digits, checkpoints, learned_frames
from ..protocol import ActivationsData, GradientsData, KernelsData
from ..schemas import ErrorBody
from ..wire import EncodedArray
from .deps import ExplainerDep, Manager, Pool

router = APIRouter(prefix="/api/runs/{run_id}", tags=["runs"])

RunId = Annotated[str, Path(min_length=1, max_length=64, description="the run's id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such run, checkpoint or epoch"},
    422: {"model": ErrorBody, "description": "invalid parameter"},
    503: {"model": ErrorBody, "description": "the dataset cannot be read"},
}


class CheckpointInfo(BaseModel):
    name: str = Field(description="epoch-NNN or last")
    step: int
    epoch: int


class Learned(BaseModel):
    checkpoint: str | None = Field(description="the checkpoint these frames come from; null: it has none")
    step: int | None
    epoch: int | None
    checkpoints: list[CheckpointInfo] = Field(
        description="the run's checkpoints, oldest first (the timeline)"
    )
    kernels: KernelsData | None
    gradients: GradientsData | None = Field(description="the cost's gradient over the probe digits")
    activations: ActivationsData | None


class CellDigit(BaseModel):
    index: int = Field(description="index in the run's validation split")
    label: int
    predicted: int
    image: EncodedArray = Field(description="(28, 28)")


class CellDigits(BaseModel):
    epoch: int
    label: int | None
    predicted: int | None
    total: int = Field(description="how many validation digits the cell holds")
    offset: int
    items: list[CellDigit]


class ExactLayerKernels(BaseModel):
    step: int
    layer: int
    shape: list[int] = Field(description="(F, C, kh, kw)")
    values: list[float] = Field(description="W, row-major, as float32 held them")


def _run(manager: Any, run_id: str) -> dict[str, Any]:
    run = manager.store.get(run_id)
    if run is None:
        damaged = manager.store.problem(run_id)
        if damaged is not None:
            raise HTTPException(409, damaged)
        raise HTTPException(404, f"no run with id {run_id!r}")
    return run


@router.get("/learned", response_model=Learned, responses=ERRORS, summary="What a run has learned")
async def learned(
    run_id: RunId,
    manager: Manager,
    explainer: ExplainerDep,
    pool: Pool,
    checkpoint: Annotated[str | None, Query(max_length=32, description="epoch-NNN or last")] = None,
) -> Any:
    """Kernels, the probe digits through every layer and the cost's gradient over them, computed
    from one of the run's checkpoints (default: the latest) — for a run that is not training."""
    _run(manager, run_id)
    folder = manager.run_dir(run_id)
    listing = await pool.run(checkpoints, folder)
    if not listing:
        return Learned(
            checkpoint=None,
            step=None,
            epoch=None,
            checkpoints=[],
            kernels=None,
            gradients=None,
            activations=None,
        )
    name = checkpoint or listing[-1]["name"]
    try:
        frames = await pool.run(learned_frames, folder, name, explainer.digits)
    except NoCheckpointError as exc:
        raise HTTPException(404, str(exc)) from None
    except MissingCheckpointError:  # removed since it was listed: the run deleted meanwhile
        _run(manager, run_id)  # 404 for the run when it is gone
        raise HTTPException(404, f"the run has no checkpoint {name!r}") from None
    except IdxFormatError as exc:
        raise HTTPException(503, f"the dataset cannot be read: {exc}") from None
    except CheckpointError as exc:  # damaged on disk: the file's fault, like predict's 422
        raise HTTPException(422, f"run {run_id}: checkpoint {name}.npz cannot be read ({exc})") from None
    return {**frames, "checkpoints": listing}


@router.get(
    "/epochs/{epoch}/digits", response_model=CellDigits, responses=ERRORS, summary="A confusion cell's digits"
)
async def epoch_digits(
    run_id: RunId,
    manager: Manager,
    explainer: ExplainerDep,
    pool: Pool,
    epoch: Annotated[int, Path(ge=1, le=100_000)],
    label: Annotated[int | None, Query(ge=0, le=9, description="the true digit (row)")] = None,
    predicted: Annotated[int | None, Query(ge=0, le=9, description="what it said (column)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 48,
) -> Any:
    """The validation digits whose true digit is ``label`` and that the network read as
    ``predicted`` at the end of ``epoch`` (omit either for any), ``limit`` at a time from ``offset``."""
    run = _run(manager, run_id)
    stored = manager.store.predictions(run_id, epoch)
    if stored is None:
        raise HTTPException(404, f"run {run_id} has no stored answers for epoch {epoch}")
    try:
        page = await pool.run(
            cell_digits, stored, explainer.digits, run["validation"], label, predicted, offset, limit
        )
    except IdxFormatError as exc:
        raise HTTPException(503, f"the dataset cannot be read: {exc}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"epoch": epoch, "label": label, "predicted": predicted, **page}


@router.get(
    "/kernels", response_model=ExactLayerKernels, responses=ERRORS, summary="A live frame's exact kernels"
)
async def exact_kernels(
    run_id: RunId,
    manager: Manager,
    step: Annotated[int, Query(ge=0, le=10**12, description="a live frame's step")],
    layer: Annotated[int, Query(ge=0, le=10_000, description="a conv layer's index")],
) -> Any:
    """The exact W of one conv layer at the step of one of the run's recent live frames (their
    pictures are uint8). 404 once the service no longer keeps that step: the last 100 frames of the
    runs that trained last, for networks of at most 65,536 kernel weights."""
    _run(manager, run_id)
    kept = manager.exact_kernels.at(run_id, step, layer)
    if kept is None:
        raise HTTPException(
            404, f"run {run_id}: the exact kernels of layer {layer} at step {step} are not kept"
        )
    shape, values = kept
    return {"step": step, "layer": layer, "shape": shape, "values": values.astype(float).tolist()}
