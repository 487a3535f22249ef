"""REST request and response bodies (pydantic). Requests are strict: a string where a number
goes, NaN/Infinity, out-of-range values and unknown keys are all 422s naming the field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..nn.model import MAX_LAYERS
from ..training.config import MAX_BATCH, MAX_EPOCHS
from .protocol import RunSummary


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class ModelSpec(_Request):
    """A network: ``{"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", ...}, ...],
    "loss": "cross_entropy"}`` — the format of the presets (``name``, ``description`` and
    ``train`` may ride along and are ignored here)."""

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)
    input_shape: list[int] = Field(default_factory=lambda: [1, 28, 28], min_length=1, max_length=3)
    layers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_LAYERS)
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"


class RunCreate(_Request):
    """Start a run: a ``preset`` (default ``cnn``) or a ``spec``, and any training setting to
    override the preset's (or the defaults'). Bounds match :class:`TrainConfig`."""

    name: str | None = Field(None, min_length=1, max_length=100)
    preset: Literal["cnn", "mlp", "notes"] | None = None
    spec: ModelSpec | None = None
    optimizer: Literal["sgd", "momentum", "adam"] | None = None
    lr: float | None = Field(None, gt=0, le=10, description="learning rate")
    momentum: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0, lt=1)
    schedule: Literal["constant", "step", "cosine"] | None = None
    step_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    gamma: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH)
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    loss: Literal["cross_entropy", "mse"] | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    device: Literal["cpu", "cuda"] | None = Field(
        None, description="cpu or cuda (a GPU through CuPy); default: the service's GLASSNET_DEVICE"
    )


class RunPatch(_Request):
    """Change the learning rate / momentum / weight decay of a run, also while it trains."""

    lr: float | None = Field(None, gt=0, le=10)
    momentum: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0, lt=1)


class RunDetail(RunSummary):
    spec: dict[str, Any]
    config: dict[str, Any] = Field(description="training settings (TrainConfig)")
    validation: int = Field(description="validation images held out")
    checkpoint: str | None = Field(None, description="the resume checkpoint's file name")
    checkpoint_step: int | None = None
    checkpoints: list[str] = Field(description="checkpoint files of this run, oldest first")
    queue_position: int | None = Field(None, description="1 = next to start, when queued")


class BatchHistory(BaseModel):
    step: list[int]
    epoch: list[int]
    loss: list[float | None]
    accuracy: list[float | None]
    lr: list[float | None]


class MetricsHistory(BaseModel):
    """Every mini-batch point (columns) and every epoch's figures, for charts."""

    run: str
    batches: BatchHistory
    epochs: list[dict[str, Any]]


class LayerRow(BaseModel):
    index: int
    type: str
    output_shape: list[int]
    params: int
    formula: str = Field(description="how the parameter count adds up, e.g. '8·(1·5·5) + 8'")


class ArchitectureSummary(BaseModel):
    input_shape: list[int]
    output_shape: list[int]
    layers: list[LayerRow]
    total_params: int
    text: str = Field(description="the printable table of `glassnet train`")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    viewers: int
    active_runs: int


class Readiness(BaseModel):
    ready: bool
    dataset: str | None = Field(description="dataset folder, when readable")
    image_shape: list[int] | None
    default_model: str | None = Field(description="the bundled model served by default, when loaded")
    problems: list[str]


class HubStats(BaseModel):
    viewers: int
    queued_frames: int
    dropped_frames: int
    disconnected_slow: int
    published_frames: int


class ErrorBody(BaseModel):
    """Every error: ``detail`` is one human sentence; ``errors`` lists field problems (422)."""

    detail: str
    errors: list[dict[str, Any]] | None = None
