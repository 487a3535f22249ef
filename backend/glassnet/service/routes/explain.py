"""``/api/explain…``: backpropagation for one digit, in exact numbers (the dashboard's Learn view).

* ``POST /api/explain`` — every layer's output (z or a), its error ∂C/∂output (the "wishes"),
  activation slopes, ∂C/∂W and ∂C/∂b, the cost and its per-output terms;
* ``POST /api/explain/conv`` — one kernel on one input channel of a conv layer, the notes'
  backward convolution map by map (or one channel of a pooling layer), by ``nn/reference.py``
  and checked against the fast path;
* ``POST /api/explain/step`` — one gradient-descent step on a scratch copy for one digit or a
  mini-batch of up to 32, with the cost along the step.

The maths runs in the app's bounded heavy-work pool, so the event loop keeps serving.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...data.mnist import IdxFormatError
from ..errors import coded
from ..explain import MAX_BATCH, NoWeightsYetError, UnknownScratchError, WeightsMovedError
from ..inference import IncompatibleModelError, UnknownModelError
from ..owners import identity_of
from ..pool import HeavyPool
from ..protocol import ErrorCode
from ..schemas import ErrorBody
from ..security import client_of
from .deps import ExplainerDep, Pool
from .predict import check_pixels

router = APIRouter(prefix="/api/explain", tags=["explain"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorBody,
        "description": "unknown model or run; a scratch network that is gone has the code scratch_gone "
        "and says why (expired, replaced by the same person's later steps, memory full, restart)",
    },
    409: {
        "model": ErrorBody,
        "description": "the run has no weights yet; or the weights of the step asked for are no longer "
        "kept and the run has moved on (code weights_moved: ask again without a step)",
    },
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "invalid digit, target, layer, kernel or learning rate"},
}
ModelId = Annotated[
    str | None,
    Field(
        None,
        min_length=1,
        max_length=512,
        description="Any id /api/predict takes (bundled, a run's latest weights, a run checkpoint), "
        "or a scratch network from /api/explain/step; default: the bundled cnn.",
    ),
]

StepPin = Annotated[
    int | None,
    Field(
        None,
        ge=0,
        le=10**12,
        description="The training step whose weights to use: the step an earlier answer named, so every "
        "answer about one screen reads the same weights of a run that trains on (409 weights_moved when "
        "they are no longer kept). Default: the weights the model id names now.",
    ),
]


class Source(BaseModel):
    """One digit: exactly one of pixels, test_index, validation_index, probe; and a target."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    pixels: list[float] | list[list[float]] | None = Field(
        None, description="A drawing: 784 numbers or H rows of W numbers in [0, 1], prepared like MNIST."
    )
    test_index: int | None = Field(None, ge=0, le=10_000_000, description="A digit of the test set.")
    validation_index: int | None = Field(
        None, ge=0, le=10_000_000, description="A digit of the validation split (an epoch's misclassified)."
    )
    probe: int | None = Field(None, ge=0, le=63, description="One of the dashboard's probe digits.")
    target: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="The digit the cost wants (y = one-hot). Default: the true label when known, "
        "else the network's top prediction.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_digit(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [
                k for k in ("pixels", "test_index", "validation_index", "probe") if data.get(k) is not None
            ]
            if len(given) != 1:
                got = f" (got {', '.join(given)})" if given else ""
                raise ValueError(f"give exactly one of pixels, test_index, validation_index or probe{got}")
            if data.get("pixels") is not None:
                check_pixels(data["pixels"])
        return data


class ExplainRequest(Source):
    model: ModelId
    step: StepPin
    layers: list[Annotated[int, Field(ge=0, le=63)]] | None = Field(
        None, max_length=64, description="Layers whose values to include (default: all)."
    )
    params: bool = Field(True, description="Include the weights and biases themselves (gradients always).")


class ActivationsRequest(Source):
    model: ModelId
    step: StepPin


class LayerValues(BaseModel):
    index: int
    type: str
    shape: list[int]
    values: list[float] = Field(description="Row-major, exactly the float32 the network computed.")


class ActivationsResult(BaseModel):
    model: str
    source: DigitSourceInfo
    readout: str = Field(description="softmax (cross-entropy) or normalised (squared error: no softmax)")
    input: Tensor = Field(description="The 28x28 digit the network read (prepared like MNIST).")
    probabilities: list[float]
    layers: list[LayerValues]
    biases: dict[str, list[float]] = Field(description="Dense layer index -> its biases b.")


class MapRequest(Source):
    model: ModelId
    step: StepPin
    layer: int = Field(ge=0, le=63, description="Index of a conv2d, maxpool2d or avgpool2d layer.")
    kernel: int = Field(0, ge=0, le=100_000, description="Conv: which kernel (output channel) f.")
    channel: int = Field(0, ge=0, le=100_000, description="Which input channel c (pooling: which map).")


class StepRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    model: ModelId
    step: StepPin
    examples: list[Source] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} digits; the step follows the average of their gradients.",
    )
    lr: float = Field(gt=0, le=100, description="Learning rate η of the step θ ← θ − η·∇C.")
    points: int = Field(31, ge=3, le=101, description="Points of the cost curve C(θ − η·∇C), η in [0, 3·lr].")
    keep: bool = Field(
        False, description="Keep the stepped network as scratch:<id> to explain or step again."
    )


class Tensor(BaseModel):
    shape: list[int]
    values: list[float] = Field(description="Row-major, float32 precision.")


class ParamGrad(BaseModel):
    shape: list[int]
    values: list[float] | None = Field(description="The parameter (null with params: false).")
    grad: list[float] = Field(description="∂C/∂parameter.")


class LayerExplanation(BaseModel):
    index: int
    type: str
    role: str = Field(description="weighted_sum (z), activation (a), pooling, reshape or dropout")
    shape: list[int]
    output: Tensor | None
    grad_output: Tensor | None = Field(description="∂C/∂output: the wishes (for z: the error δ).")
    slope: Tensor | None = Field(description="The activation's derivative at this point, e.g. σ′(z).")
    params: dict[str, ParamGrad]


class DigitSourceInfo(BaseModel):
    kind: str
    index: int | None
    label: int | None


class ExplainResult(BaseModel):
    model: str
    loss: str
    source: DigitSourceInfo
    target: int
    target_was_given: bool
    prediction: int
    probabilities: list[float]
    cost: float
    terms: list[float] = Field(description="Per-output terms of the cost, summing to it.")
    wishes: list[float] = Field(
        description="−∂C/∂output of the last layer: which way each output should move."
    )
    step_lr: float = Field(description="A learning rate to start the step from.")
    digits: dict[str, int] = Field(description="How many test and validation digits can be chosen.")
    step: int | None = Field(
        None,
        description="The training step the weights are from (a run's weights now, or one of its "
        "checkpoints); null for a bundled or uploaded network, or a scratch copy.",
    )
    input: Tensor
    input_grad: Tensor
    layers: list[LayerExplanation]


class MapResult(BaseModel):
    model: str
    step: int | None = Field(
        None, description="The training step the weights are from (as in ExplainResult)."
    )
    source: DigitSourceInfo
    target: int
    prediction: int
    cost: float
    layer: int
    type: str
    maps: dict[str, Tensor] = Field(
        description="conv: input, padded_input, kernel, partial, output, error, dilated_error, padded_error, "
        "rotated, input_grad_part, input_grad, kernel_grad; pooling: input, output, error, input_grad"
    )
    checks: dict[str, float] = Field(description="Largest |reference − fast path| per quantity.")
    model_config = ConfigDict(extra="allow")


class StepExample(BaseModel):
    source: DigitSourceInfo
    target: int
    cost_before: float
    cost_after: float
    probabilities_before: list[float]
    probabilities_after: list[float]
    prediction_before: int
    prediction_after: int
    weight_grad: Tensor = Field(description="This example's gradient of the last weight layer.")
    input: Tensor


class Curve(BaseModel):
    lr: list[float]
    cost: list[float]


class StepResult(BaseModel):
    model: str
    origin: str = Field(description="The network the first step started from.")
    step: int | None = Field(
        None,
        description="The training step of the weights stepped from (null: scratch copy, bundled network).",
    )
    scratch: str | None = Field(description="scratch:<id> of the stepped network when keep was true.")
    lr: float
    cost_before: float
    cost_after: float
    curve: Curve
    layer: int = Field(description="Index of the last layer with weights (weight_grad's layer).")
    examples: list[StepExample]
    mean_weight_grad: Tensor
    batch_weight_grad: Tensor
    average_matches_batch: float = Field(description="max |mean of the examples' gradients − batch gradient|")


def _answer(fn: Any, args: dict[str, Any]) -> JSONResponse:
    """``fn``'s answer, already rendered as the response: in the pool's thread, since an answer
    of up to ``MAX_NUMBERS`` numbers is ~20-30 MB of JSON, up to a second of ``json.dumps`` that
    on the event loop would hold up every socket and ``/healthz``. Built as plain JSON, not
    re-validated: too many numbers."""
    return JSONResponse(fn(args))


async def _run(pool: HeavyPool, fn: Any, body: BaseModel) -> JSONResponse:
    try:
        return await pool.run(_answer, fn, body.model_dump())
    except UnknownScratchError as exc:
        raise coded(HTTPException(404, str(exc)), ErrorCode.SCRATCH_GONE) from None
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    except NoWeightsYetError as exc:
        raise HTTPException(409, str(exc)) from None
    except WeightsMovedError as exc:
        raise coded(HTTPException(409, str(exc)), ErrorCode.WEIGHTS_MOVED) from None
    except IncompatibleModelError as exc:
        raise HTTPException(422, f"model cannot be used: {exc}") from None
    except IdxFormatError as exc:
        raise HTTPException(503, f"the dataset cannot be read: {exc}") from None
    except ValueError as exc:  # shapes, ranges, targets, kernels, non-finite numbers
        raise HTTPException(422, str(exc)) from None


@router.post("", response_model=ExplainResult, responses=ERRORS, summary="Backpropagation for one digit")
async def explain(body: ExplainRequest, explainer: ExplainerDep, pool: Pool) -> Any:
    """One digit's forward and backward pass through a network, exact: every layer's output and
    its error (the wishes), activation slopes, every parameter's gradient, the cost and its terms."""
    return await _run(pool, explainer.explain, body)


@router.post(
    "/activations", response_model=ActivationsResult, responses=ERRORS, summary="Exact values of every layer"
)
async def explain_activations(body: ActivationsRequest, explainer: ExplainerDep, pool: Pool) -> Any:
    """Every layer's output for one digit as exact numbers, and every dense layer's biases — what
    the dashboard shows when a neuron or a feature map is hovered (its pictures are uint8)."""
    return await _run(pool, explainer.activations, body)


@router.post(
    "/conv", response_model=MapResult, responses=ERRORS, summary="A conv kernel or pooling map, explained"
)
async def explain_conv(body: MapRequest, explainer: ExplainerDep, pool: Pool) -> Any:
    """One kernel and input channel of a conv layer — input, kernel, error, padded error, kernel
    rotated 180°, input gradient (full convolution), kernel gradient — or one channel of a pooling
    layer (where each window's error goes), by the notes' loop code, checked against the fast path."""
    return await _run(pool, explainer.explain_map, body)


@router.post("/step", response_model=StepResult, responses=ERRORS, summary="One gradient-descent step")
async def explain_step(body: StepRequest, request: Request, explainer: ExplainerDep, pool: Pool) -> Any:
    """One step θ ← θ − η·∇C on a scratch copy for a digit or a mini-batch: costs and predictions
    before and after, the cost along the step, each example's last-layer gradient and their
    average. Never touches a run, its checkpoints or the bundled models. A kept copy counts
    against its person at their address (their last few copies are kept, not the server's)."""
    owner = f"{identity_of(request).owner}@{client_of(request)}"
    return await _run(pool, partial(explainer.step, owner=owner), body)
