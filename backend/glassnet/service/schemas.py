"""REST request and response bodies (pydantic). Requests are strict: a string where a number
goes, NaN/Infinity, out-of-range values and unknown keys are all 422s naming the field."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ..nn.model import MAX_LAYERS, MAX_PARAMS
from ..nn.optim import LR_MAX, LR_MIN
from ..training.config import MAX_BATCH, MAX_EPOCHS, TrainConfig, check_spec_keys
from .protocol import ErrorCode, RunSummary


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Layer(_Request):
    def spec(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


Init = Literal["he", "xavier"]
Side = Annotated[int, Field(ge=1, le=4096)]


class DenseLayer(_Layer):
    """A fully connected layer: ``y = x @ W + b`` (needs a flat input: flatten first)."""

    type: Literal["dense"]
    units: int = Field(ge=1, le=MAX_PARAMS)
    init: Init = "he"


class Conv2DLayer(_Layer):
    """``filters`` kernels of ``kernel``×``kernel`` over (C, H, W) maps."""

    type: Literal["conv2d"]
    filters: int = Field(ge=1, le=4096)
    kernel: Side
    stride: Side = 1
    padding: Literal["valid", "same"] = "valid"
    init: Init = "he"


class PoolLayer(_Layer):
    """Max or mean pooling over ``size``×``size`` windows (``stride`` defaults to ``size``)."""

    type: Literal["maxpool2d", "avgpool2d"]
    size: Side = 2
    stride: Side | None = None


class PlainLayer(_Layer):
    """A layer without options: flatten, or an activation."""

    type: Literal["flatten", "relu", "sigmoid", "tanh", "softmax"]


class LeakyReLULayer(_Layer):
    type: Literal["leaky_relu"]
    alpha: float = Field(0.01, ge=0, lt=1)


class DropoutLayer(_Layer):
    type: Literal["dropout"]
    rate: float = Field(0.5, ge=0, lt=1)


LayerSpec = Annotated[
    DenseLayer | Conv2DLayer | PoolLayer | PlainLayer | LeakyReLULayer | DropoutLayer,
    Field(discriminator="type"),
]


#: Invisible characters a name may hold: the zero-width (non-)joiners that some scripts and emoji
#: need. Every other control or format character is refused (see :func:`_visible_name`).
_NAME_JOINERS = {"\u200c", "\u200d"}


def _visible_name(name: str) -> str:
    """A run's name, trimmed: it holds no control characters (NUL, newline, tab) and no invisible
    format characters (text-direction overrides, zero-width spaces), which would show in every
    list that names the run as something other than what they are, or reorder the text around
    them; and something visible (not only spaces or joiners: a blank name, as a rename refuses)."""
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in _NAME_JOINERS:
            raise ValueError(f"a run's name cannot hold control or invisible characters, got U+{ord(ch):04X}")
    if all(ch.isspace() or ch in _NAME_JOINERS for ch in name):
        raise ValueError("a run's name cannot be blank")
    return name.strip()


#: A run's name: 1–100 characters as sent (create and rename alike), then checked and trimmed.
RunName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_visible_name)]


class ModelSpec(_Request):
    """A network: ``{"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", ...}, ...],
    "loss": "cross_entropy"}`` — the format of the presets, so a preset copied from
    ``GET /api/presets`` and edited is a spec: its ``train`` settings are the run's (a request's
    own settings override them), ``name`` names the run, and a key nothing would read ("lr"
    beside "layers", "learning_rate" in "train") is a 422 naming it, as ``glassnet train --spec``
    says it. A spec the schema allows can still not fit (a kernel larger than its input, too many
    parameters): 422 naming the layer."""

    name: RunName | None = None
    description: str | None = Field(None, max_length=2000)
    input_shape: list[Side] = Field(default_factory=lambda: [1, 28, 28], min_length=1, max_length=3)
    layers: list[LayerSpec] = Field(min_length=1, max_length=MAX_LAYERS)
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    train: dict[str, Any] | None = Field(
        None, description="training settings, as in a preset (optimizer, lr, epochs, ...)"
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):  # the CLI's words for the same mistakes
            check_spec_keys(data)
        return data

    @model_validator(mode="after")
    def _trainable(self) -> ModelSpec:
        if self.train:  # each setting checked as a run's would be (a ValueError naming it)
            TrainConfig.merged(self.train, {})
        return self

    def spec(self) -> dict[str, Any]:
        """The network's spec as a run stores it (its name and description kept; not ``train``)."""
        named = {k: v for k, v in (("name", self.name), ("description", self.description)) if v is not None}
        return {
            **named,
            "input_shape": self.input_shape,
            "layers": [layer.spec() for layer in self.layers],
            "loss": self.loss,
        }


class AugmentSettings(_Request):
    """Data augmentation (see ``glassnet.data.augment``): each transform on or off, and its strength."""

    affine: bool = True
    elastic: bool = True
    stroke: bool = True
    rotation: float = Field(10.0, ge=0, le=45, description="degrees, ±")
    scale: list[Annotated[float, Field(ge=0.5, le=1.5)]] = Field(
        default_factory=lambda: [0.9, 1.1], min_length=2, max_length=2, description="[lo, hi], lo <= hi"
    )
    shear: float = Field(0.1, ge=0, le=0.5)
    shift: float = Field(2.0, ge=0, le=6, description="pixels, ±")
    alpha: float = Field(30.0, ge=0, le=60, description="elastic displacement scale")
    sigma: float = Field(5.0, ge=0.5, le=10, description="elastic smoothing, pixels")
    stroke_rate: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> AugmentSettings:
        if self.scale[0] > self.scale[1]:
            raise ValueError(f"scale must be [lo, hi] with lo <= hi, got {self.scale}")
        return self


class TeachRequest(_Request):
    """Teach a network your handwriting: train on MNIST mixed with *my digits* (each repeated
    ``repeat`` times), some of mine held out to measure it; start from ``from_model``'s weights
    (fine-tuning) or, when it is null, from scratch with the run's ``preset`` or ``spec``."""

    from_model: str | None = Field(
        None, min_length=1, max_length=512, description="a model id, as for /api/predict"
    )
    holdout: float = Field(0.25, ge=0, le=0.8, description="share of my digits kept aside to measure")
    repeat: int = Field(20, ge=1, le=500, description="times each of my digits comes round per epoch")
    train_subset: int | None = Field(
        12000, ge=0, le=1_000_000, description="MNIST training digits mixed in (the first N); null: all"
    )


class RunCreate(_Request):
    """Start a run: a ``preset`` (default ``cnn``) or a ``spec``, and any training setting to
    override the preset's (or the defaults'). Bounds match :class:`TrainConfig`."""

    name: RunName | None = None
    preset: Literal["cnn", "mlp", "notes"] | None = None
    spec: ModelSpec | None = None
    optimizer: Literal["sgd", "momentum", "adam"] | None = None
    lr: float | None = Field(None, ge=LR_MIN, le=LR_MAX, description="learning rate")
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD with momentum only")
    beta1: float | None = Field(None, ge=0, lt=1, description="Adam only (default 0.9)")
    beta2: float | None = Field(None, ge=0, lt=1, description="Adam only (default 0.999)")
    weight_decay: float | None = Field(None, ge=0, lt=1)
    schedule: Literal["constant", "step", "cosine"] | None = None
    step_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    gamma: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH)
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    loss: Literal["cross_entropy", "mse"] | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    augment: bool | AugmentSettings | None = Field(
        None, description="augment the training digits: true for the defaults, or the settings"
    )
    teach: TeachRequest | None = Field(None, description="a run that learns your handwriting (my digits)")
    device: Literal["cpu", "cuda"] | None = Field(
        None, description="cpu or cuda (a GPU through CuPy); default: the service's GLASSNET_DEVICE"
    )


class RunPatch(_Request):
    """Change a run's name (any time) or its hyperparameters, also while it trains: ``lr`` and
    ``weight_decay`` for every optimizer, ``momentum`` for SGD with momentum, ``beta1``/``beta2``
    for Adam (a setting the run's optimizer does not have is a 409: it conflicts with the run).
    At least one."""

    model_config = ConfigDict(
        strict=True, extra="forbid", allow_inf_nan=False, json_schema_extra={"minProperties": 1}
    )
    name: RunName = Field(None, validate_default=False)  # type: ignore[assignment]
    lr: float = Field(None, ge=LR_MIN, le=LR_MAX, validate_default=False)  # type: ignore[assignment]
    momentum: float = Field(None, ge=0, lt=1, description="SGD with momentum only", validate_default=False)  # type: ignore[assignment]
    beta1: float = Field(None, ge=0, lt=1, description="Adam only", validate_default=False)  # type: ignore[assignment]
    beta2: float = Field(None, ge=0, lt=1, description="Adam only", validate_default=False)  # type: ignore[assignment]
    weight_decay: float = Field(None, ge=0, lt=1, validate_default=False)  # type: ignore[assignment]


class RunDetail(RunSummary):
    spec: dict[str, Any]
    config: dict[str, Any] = Field(description="training settings (TrainConfig)")
    validation: int = Field(description="validation images held out")
    checkpoint: str | None = Field(None, description="the resume checkpoint's file name")
    checkpoint_step: int | None = None
    checkpoints: list[str] = Field(description="checkpoint files of this run, oldest first")


class BatchHistory(BaseModel):
    step: list[int]
    epoch: list[int]
    loss: list[float | None]
    accuracy: list[float | None]
    lr: list[float | None]


class Mark(BaseModel):
    step: int = Field(description="the mini-batch step it happened at")
    kind: Literal["pause", "resume", "lr"]
    value: float | None = Field(None, description="lr: the new learning rate")


class MetricsHistory(BaseModel):
    """Every mini-batch point (columns), every epoch's figures, and the marks of the loss chart."""

    run: str
    batches: BatchHistory
    epochs: list[dict[str, Any]]
    marks: list[Mark] = Field(description="pauses, resumes and learning-rate changes, by step")


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
    bytes_per_sample: int = Field(description="activation memory one sample keeps during a training step")
    max_batch_size: int = Field(description="the largest batch size whose activations fit the memory cap")
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
    merged_metrics_frames: int = Field(
        0, description="metrics frames merged into a later one for a crowd (their points kept)"
    )
    direct_frames: int = Field(
        0, description="frames written straight to an idle viewer's socket, framed once for all"
    )
    live_heavy: dict[str, int] = Field(
        default_factory=dict, description="heavy type -> viewers receiving it live (panels on screen)"
    )


class ErrorBody(BaseModel):
    """Every error: ``detail`` is one human sentence (English); ``code`` a stable machine-readable
    code (:class:`~glassnet.service.protocol.ErrorCode`) a client can word in its own language;
    ``errors`` lists field problems (422)."""

    detail: str
    code: ErrorCode
    errors: list[dict[str, Any]] | None = None
