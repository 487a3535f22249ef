"""The live stream's protocol: one envelope, an event-type enum and one pydantic model per event.

Every server message is ``{"v": 1, "type": <EventType>, "run": <run id or null>, "seq": n,
"data": {...}}``. ``seq`` counts every frame the server publishes (one counter for the whole
server), so a viewer that sees a gap knows frames were dropped for it (only heavy frames —
``activations``, ``kernels``, ``gradients`` — and, as a last resort, ``metrics`` ever are).

Client messages are ``subscribe``, ``unsubscribe`` and ``predict`` (see :data:`ClientMessage`).
A socket that has sent neither ``subscribe`` nor ``unsubscribe`` follows the run that trains
now (each new run replaces the previous one); ``status`` frames go to every socket.

Arrays travel as :class:`EncodedArray`: uint8 per-map min-max, base64, with shape and the
min/max needed to undo the scaling. NaN and Infinity never appear: non-finite floats are
sent as ``null``. :func:`protocol_schema` is the exported JSON schema (``GET /api/protocol``),
which ``frontend/js/protocol.js`` mirrors.

Bump :data:`PROTOCOL_VERSION` on any incompatible change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .runstate import (
    ACTIVE_STATUSES,
    RESUMABLE_STATUSES,
    RunStatus,
    machine_schema,
)
from .wire import EncodedArray, LayerActivation, PredictResult

__all__ = ["ACTIVE_STATUSES", "RESUMABLE_STATUSES", "RunStatus"]

PROTOCOL_VERSION = 1


class EventType(StrEnum):
    """Server -> client event types."""

    HELLO = "hello"  # once, on connect
    STATUS = "status"  # a run changed state (to every viewer), or ended an epoch (its subscribers)
    METRICS = "metrics"  # mini-batch points, coalesced (subscribers of the run)
    EPOCH = "epoch"  # an epoch ended: train/validation figures, confusion, misclassified digits
    ACTIVATIONS = "activations"  # every layer's output for the ten probe digits (heavy)
    KERNELS = "kernels"  # conv kernels and the first dense layer's weights (heavy)
    GRADIENTS = "gradients"  # per-layer gradient norms and conv kernel gradients (heavy)
    PREDICTION = "prediction"  # answer to a client's predict message
    ERROR = "error"  # a malformed client message, or a run that diverged / failed
    CLASS = "class"  # the teacher pinned (or unpinned) the class run (every viewer)
    DELETED = "deleted"  # a run was deleted, with its history and checkpoints (every viewer)


HEAVY_EVENTS = frozenset({EventType.ACTIVATIONS, EventType.KERNELS, EventType.GRADIENTS})


# The run statuses and what each allows live in :mod:`.runstate` (the state machine).


class _Model(BaseModel):
    # Outbound: non-finite floats become null (never NaN/Infinity in JSON).
    model_config = ConfigDict(ser_json_inf_nan="null")


# -- shared pieces ----------------------------------------------------------------------------
# EncodedArray (uint8 base64 per map, with shape and per-map min/max) and LayerActivation (one
# layer's output for one digit) are defined with the encoder in :mod:`.encoding`.


class RunSummary(_Model):
    """A run as lists show it."""

    id: str
    name: str
    status: RunStatus
    preset: str | None = Field(None, description="preset name, or null for a custom spec")
    created: float = Field(description="Unix time")
    updated: float
    epoch: int = Field(description="completed epochs")
    epochs: int
    step: int = Field(description="completed mini-batches")
    total_steps: int | None = None
    optimizer: Literal["sgd", "momentum", "adam"]
    lr: float
    momentum: float | None = Field(None, description="SGD with momentum only")
    beta1: float | None = Field(None, description="Adam only: decay of the running gradient mean")
    beta2: float | None = Field(None, description="Adam only: decay of the running mean square")
    weight_decay: float
    val_accuracy: float | None = None
    message: str | None = Field(None, description="why it ended (diverged, failed, ...)")
    resumable: bool = Field(False, description="it has a checkpoint and POST resume continues it")
    owner: str | None = Field(None, description="who started it: a student's name, 'teacher' or 'local'")
    queue_position: int | None = Field(None, description="1 = next to start, when queued")
    starts_in_s: float | None = Field(
        None, description="estimated seconds until a queued run starts (null: not known yet)"
    )


# -- events -----------------------------------------------------------------------------------
class HelloData(_Model):
    version: int = PROTOCOL_VERSION
    runs: list[RunSummary]
    current: str | None = Field(description="the run that trains now, if any")
    subscribed: list[str] = Field(description="runs this socket receives frames for")
    max_message_bytes: int
    heavy_events: list[EventType] = sorted(HEAVY_EVENTS)
    pinned: str | None = Field(None, description="the class run the teacher pinned (watched first)")
    you: dict[str, str] = Field(
        default_factory=dict,
        description="who this socket is: owner (a name), role (teacher|student|viewer)",
    )


class ClassData(_Model):
    """The class's shared state: the run the teacher pinned for everyone to watch first."""

    pinned: str | None = None


class DeletedData(_Model):
    """A run that no longer exists: pages drop it from their lists and stop showing it."""

    id: str
    name: str = Field(description="the name it had, for the page's notice")


class StatusData(RunSummary):
    """The run's summary after a change."""


class MetricsData(_Model):
    """Mini-batch points since the previous frame (columns of equal length) — every step's loss,
    so the chart is dense."""

    step: list[int]
    epoch: list[int]
    loss: list[float | None]
    accuracy: list[float | None]
    lr: list[float | None]
    samples_per_s: float | None = Field(
        description="training speed in samples/s over the last several seconds of training "
        "(null until a second has been measured, and again after a resume)"
    )
    total_steps: int | None = None


class Misclassified(_Model):
    index: int = Field(description="index in the validation split")
    label: int
    predicted: int
    probabilities: list[float | None]
    image: EncodedArray = Field(description="(28, 28)")


class EpochData(_Model):
    epoch: int
    step: int
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    confusion: list[list[int]] | None = Field(description="10x10, rows: true digit, cols: predicted")
    seconds: float
    misclassified: list[Misclassified]
    extra: dict[str, float | None] = Field(
        default_factory=dict,
        description="accuracy on a teach run's extra sets: 'mine' (my held-out digits), 'test' (MNIST "
        "test); its epoch 0 is the starting network, before training",
    )


class ProbeActivations(_Model):
    label: int = Field(description="the probe digit's true label")
    probabilities: list[float | None] = Field(description="ten, digit 0 first")
    layers: list[LayerActivation] = Field(description="every layer's output for this digit")


class ActivationsData(_Model):
    """Every layer's output for the fixed probe set (ten test digits, one of each, the same every run)."""

    step: int
    inputs: EncodedArray = Field(description="(P, 28, 28) the probe digits (P = 10, one of each digit)")
    probes: list[ProbeActivations]


class ConvKernels(_Model):
    index: int
    kernels: EncodedArray = Field(description="(F, C, kh, kw), each kh x kw scaled on its own")
    bias: list[float | None]


class DenseImages(_Model):
    index: int
    weights: EncodedArray = Field(description="(units, 28, 28): each unit's incoming weights")


class KernelsData(_Model):
    step: int
    conv: list[ConvKernels]
    dense: DenseImages | None = Field(description="first dense layer, when it reads the image")


class GradientNorm(_Model):
    index: int
    type: str
    param: str
    norm: float | None


class KernelGradient(_Model):
    index: int
    grad: EncodedArray = Field(description="(F, C, kh, kw) dCost/dW of the last mini-batch")


class GradientsData(_Model):
    step: int
    norms: list[GradientNorm]
    conv: list[KernelGradient]


class PredictionData(PredictResult):
    """The answer to a ``predict`` message (the same fields as ``POST /api/predict``)."""

    model_config = ConfigDict(ser_json_inf_nan="null")
    id: str | int | None = Field(None, description="echo of the request's id")
    ms: float | None = Field(None, description="server time for the answer, milliseconds")


class ErrorCode(StrEnum):
    """Stable, machine-readable error codes: the ``code`` of every HTTP error body (beside its
    English ``detail``) and of every ``error`` event (beside its ``message``). The sentences may be
    reworded; the codes do not change, so a client can say them in its own language (the page's
    catalogues have ``error.code.<code>`` for each)."""

    BAD_REQUEST = "bad_request"  # 400: a malformed request (headers, Content-Length)
    UNAUTHORIZED = "unauthorized"  # 401: the server's token is needed
    FORBIDDEN = "forbidden"  # 403: origin or host not allowed
    NOT_FOUND = "not_found"  # 404: no such run, model, digit, checkpoint
    SCRATCH_GONE = "scratch_gone"  # 404: a stepped scratch copy is gone (start from the original)
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    CONFLICT = "conflict"  # 409: the run's state does not allow it (state machine)
    WEIGHTS_MOVED = "weights_moved"  # 409: a run's weights at the step asked for are no longer kept
    TOO_LARGE = "too_large"  # 413: over the body cap, or a WebSocket message too big
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415
    INVALID = "invalid"  # 422: a value out of bounds or a request that does not make sense
    INVALID_JSON = "invalid_json"  # 422: the body is not JSON
    EMPTY_BODY = "empty_body"  # 422: no body where one is needed
    QUOTA = "quota"  # 429: over a per-client quota
    WRONG_JOIN_CODE = "wrong_join_code"  # 403: POST /api/join with a code that is not the class's
    NAME_TAKEN = "name_taken"  # 409: POST /api/join with a name the class already has
    CLASS_FULL = "class_full"  # 409: POST /api/join when the class has its most students
    NAMES_QUOTA = "names_quota"  # 429: POST /api/join: this address joined its most names this hour
    UNAVAILABLE = "unavailable"  # 503: not ready (dataset, models) or predictions not yet possible
    BUSY = "busy"  # 503: the heavy pool is full; retry shortly
    DISK_FULL = "disk_full"  # 507
    INTERNAL = "internal"  # 500: a bug; see the server log
    BAD_JSON = "bad_json"  # WebSocket: a message that is not JSON
    BAD_MESSAGE = "bad_message"  # WebSocket: JSON that is not a valid client message
    DIVERGED = RunStatus.DIVERGED.value  # a run's loss became NaN/Inf (the run's status)
    FAILED = RunStatus.FAILED.value  # a run's process failed (the run's status)


#: The code of an HTTP error that states none, by status.
HTTP_ERROR_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.INVALID,
    429: ErrorCode.QUOTA,
    503: ErrorCode.UNAVAILABLE,
    507: ErrorCode.DISK_FULL,
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an HTTP error by its status (4xx without its own: bad_request; 5xx: internal)."""
    if status in HTTP_ERROR_CODES:
        return HTTP_ERROR_CODES[status]
    return ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL


SURROGATE_PROBLEM = "not valid text (a lone UTF-16 surrogate)"


def lone_surrogate(value: Any) -> str | None:
    """Where in parsed JSON a string is not text that can be stored or sent (a lone UTF-16
    surrogate: JSON's ``"\\ud800"`` escape makes one), as ``run`` / ``live[2]`` / ``a key``; or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where or "the message"
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.append((f"{where} key" if where else "a key", key))
                stack.append((f"{where}.{key}" if where else str(key), inner))
        elif isinstance(item, list):
            stack.extend(
                (f"{where}[{i}]", inner)
                for i, inner in enumerate(item)
                if isinstance(inner, str | list | dict)
            )
    return None


def valid_text(value: str) -> str:
    """A pydantic after-validator: ``value`` unless it holds a lone surrogate (a ValueError)."""
    if lone_surrogate(value) is not None:
        raise ValueError(SURROGATE_PROBLEM)
    return value


class ErrorData(_Model):
    code: str = Field(description="a stable machine-readable code: one of ErrorCode (error_codes)")
    message: str
    id: str | int | None = None


EVENT_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.HELLO: HelloData,
    EventType.STATUS: StatusData,
    EventType.METRICS: MetricsData,
    EventType.EPOCH: EpochData,
    EventType.ACTIVATIONS: ActivationsData,
    EventType.KERNELS: KernelsData,
    EventType.GRADIENTS: GradientsData,
    EventType.PREDICTION: PredictionData,
    EventType.ERROR: ErrorData,
    EventType.CLASS: ClassData,
    EventType.DELETED: DeletedData,
}


class Envelope(_Model):
    v: int = PROTOCOL_VERSION
    type: EventType
    run: str | None = None
    seq: int
    data: dict[str, Any]


# -- client messages --------------------------------------------------------------------------
class _ClientModel(BaseModel):
    # Strict: "0.5" is not a number, NaN/Infinity are refused, unknown keys are mistakes.
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class SubscribeMessage(_ClientModel):
    """Receive a run's frames (the run's current state is sent at once)."""

    type: Literal["subscribe"]
    run: str = Field(min_length=1, max_length=64)


class UnsubscribeMessage(_ClientModel):
    type: Literal["unsubscribe"]
    run: str = Field(min_length=1, max_length=64)


class PredictMessage(_ClientModel):
    """Read a drawn digit. ``pixels``: 784 numbers or an H x W grid in [0, 1]. ``model``: a
    model id as ``GET /api/models`` lists them — a bundled model name, ``<run id>:<checkpoint>``
    (e.g. ``:epoch-001``, ``:last``), ``uploads:<name>`` — or a run id (its latest weights);
    default: the run this socket watches, else the bundled default model."""

    type: Literal["predict"]
    pixels: list[float] | list[list[float]]
    model: str | None = Field(None, min_length=1, max_length=128)
    id: str | int | None = None


class PanelsMessage(_ClientModel):
    """Which heavy frames the page shows now (the panels on screen): those come live; the others
    at most one per ``hidden_heavy_interval_s`` (10 s by default), so a panel scrolled into view
    is filled at once from the latest frame. A socket that never says gets them all live."""

    type: Literal["panels"]
    live: list[Literal["activations", "kernels", "gradients"]] = Field(max_length=3)


ClientMessage = Annotated[
    SubscribeMessage | UnsubscribeMessage | PredictMessage | PanelsMessage, Field(discriminator="type")
]
CLIENT_MESSAGE = TypeAdapter(ClientMessage)


class ProtocolSchema(BaseModel):
    """What ``GET /api/protocol`` serves: the version, the enums and one JSON schema per model."""

    version: int
    event_types: list[str]
    heavy_events: list[str]
    run_statuses: list[str]
    run_machine: dict[str, Any] = Field(description="statuses x actions -> next status (service/runstate.py)")
    error_codes: list[str] = Field(description="the codes of error events and HTTP error bodies (ErrorCode)")
    envelope: dict[str, Any] = Field(description="JSON schema of the envelope")
    events: dict[str, dict[str, Any]] = Field(description="event type -> JSON schema of its data")
    client_types: list[str]
    client: dict[str, dict[str, Any]] = Field(description="client message type -> JSON schema")


def protocol_schema() -> dict[str, Any]:
    """The stable, documented JSON schema of the protocol (served at ``/api/protocol``)."""
    return {
        "version": PROTOCOL_VERSION,
        "event_types": [e.value for e in EventType],
        "heavy_events": sorted(e.value for e in HEAVY_EVENTS),
        "run_statuses": [s.value for s in RunStatus],
        "run_machine": machine_schema(),
        "error_codes": [c.value for c in ErrorCode],
        "envelope": Envelope.model_json_schema(),
        "events": {e.value: m.model_json_schema() for e, m in EVENT_MODELS.items()},
        "client_types": ["subscribe", "unsubscribe", "predict", "panels"],
        "client": {
            "subscribe": SubscribeMessage.model_json_schema(),
            "unsubscribe": UnsubscribeMessage.model_json_schema(),
            "predict": PredictMessage.model_json_schema(),
            "panels": PanelsMessage.model_json_schema(),
        },
    }
