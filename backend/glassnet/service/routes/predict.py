"""``POST /api/predict``: a digit in, the network's reading (and, on request, its insides) out.

The body is either JSON ``{"pixels": [...]}`` (784 numbers or a grid of rows, each in [0, 1]),
a multipart form with an ``image`` file (PNG, JPEG, GIF, BMP or WebP up to 2 MiB), or a raw ``image/*`` body.
Every problem with the input is a 4xx ``{"detail": "..."}`` naming it; the network runs in
the heavy pool (service/pool.py) so the event loop keeps serving WebSockets meanwhile.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from glassnet.data.preprocess import MAX_IMAGE_BYTES, SIZE, ImageError
from glassnet.nn.checkpoint import CheckpointError

from ..batching import batcher_for
from ..errors import body_cap, is_json_type
from ..inference import IncompatibleModelError, ModelRegistry, PredictResult, UnknownModelError
from ..uploads import shown_name
from .bodies import (
    MULTIPART_OVERHEAD,
    PlainErrorRoute,
    describe_errors,
    loads_strict,
    media_type,
    pool_of,
    read_body,
    read_form_file,
)
from .deps import AppState, Registry

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_MODEL_ID",
    "PIXELS_HINT",
    "PLAIN_GRID_BYTES",
    "PredictRequest",
    "answer_json",
    "as_grid",
    "check_pixels",
    "check_predict",
    "plain_grid",
    "router",
]

# A pixel grid as JSON: at most 1 MiB, the same as a WebSocket message. A digit needs no more:
# the dashboard sends 56x56 (~12 KiB), 28x28 is ~4 KiB, and even 256x256 with six-digit numbers is
# ~0.6 MiB; bigger pictures travel as images (PNG/JPEG, decoded in C without the GIL). The cap is
# what keeps /healthz and the sockets responsive: ``json.loads`` is one C call that holds the GIL
# for its whole body (~30 ms per MiB here, 0.13 s for the 4 MiB this once allowed, during which
# the event loop could not run), so the body's size bounds the longest stall.
MAX_JSON_BYTES = 1024 * 1024
#: the longest ``?model=`` the route takes (the express lane hands longer ones to it for its 422)
MAX_MODEL_ID = 512
# Each error is an ErrorBody {"detail", "code"} (errors.document_errors adds the schema).
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text}
    for code, text in {
        404: "No model or run has this id (code not_found): \"unknown model 'x'; GET /api/models lists "
        'the available ones"',
        413: "An image over 2 MiB, or JSON over 1 MiB (code too_large)",
        415: "Not application/json, multipart/form-data or image/* (code unsupported_media_type)",
        422: 'Pixels or an image that cannot be read as a digit, named (code invalid): "pixels must be '
        '784 numbers or a grid of rows, got 3 numbers"',
    }.items()
}

router = APIRouter(tags=["predict"], route_class=PlainErrorRoute)


_JSON_KINDS = {
    "NoneType": "null",
    "str": "a string",
    "bool": "a boolean",
    "dict": "an object",
    "list": "an array",
}


def _kind(value: Any) -> str:
    """What a JSON value is, in the request's own terms: "a string", "null", ..."""
    name = type(value).__name__
    return _JSON_KINDS.get(name, name)


def _check_numbers(values: list[Any], where: str) -> None:
    for i, v in enumerate(values):
        # type() rather than isinstance: True is an int in Python, but not a pixel.
        if type(v) is not float and type(v) is not int:
            raise ValueError(f"{where}[{i}]: expected a number in [0, 1], got {_kind(v)}")
        if type(v) is float and not math.isfinite(v):
            raise ValueError(f"{where}[{i}]: NaN and Infinity are not allowed")


class PredictRequest(BaseModel):
    """A digit as a grid of activations (0 = background, 1 = ink, or the other way round)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"pixels": [[0.0] * 28] * 28}]},
    )

    pixels: list[float] | list[list[float]] = Field(
        description="784 numbers (a 28x28 image, row by row) or H rows of W numbers, each in [0, 1]. "
        "Any H x W is centred and scaled like MNIST; either polarity works."
    )

    @model_validator(mode="before")
    @classmethod
    def _strict(cls, data: Any) -> Any:
        """Plain-language errors for what pydantic's union would report as a list of guesses."""
        check_predict(data)
        return data


PIXELS_HINT = "pixels must be finite numbers in [0, 1]"


def check_predict(data: Any, fields: tuple[str, ...] = ("pixels",), what: str = "the body") -> None:
    """Raise ``ValueError`` naming the first problem of a digit to read — not an object, a field
    other than ``fields``, no ``pixels``, pixels that are no digit (:func:`check_pixels`) — in the
    words REST and the WebSocket's ``predict`` share (``what``: "the body", "the message")."""
    shape = "{" + ", ".join(f'"{f}": ...' if f != "pixels" else '"pixels": [...]' for f in fields) + "}"
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object like {shape}, got {_kind(data)}")
    extra = sorted(set(data) - set(fields))
    if extra:
        names = ", ".join(map(repr, extra))
        raise ValueError(f"unexpected field(s) {names}; {what} is {shape}")
    if "pixels" not in data:
        raise ValueError('missing field "pixels": 784 numbers or a 28x28 grid')
    check_pixels(data["pixels"])


def check_pixels(pixels: Any) -> None:
    """Raise ``ValueError`` naming the problem unless ``pixels`` is 784 finite numbers or a grid
    of equal rows of finite numbers (the JSON a digit travels as, before its range is checked)."""
    if not isinstance(pixels, list):
        raise ValueError(f"pixels must be a list of numbers or of rows, got {_kind(pixels)}")
    if not pixels:
        raise ValueError("pixels is empty: send 784 numbers or a 28x28 grid")
    if isinstance(pixels[0], list):
        for i, row in enumerate(pixels):
            if not isinstance(row, list):
                raise ValueError(f"pixels[{i}]: expected a row (a list of numbers), got {_kind(row)}")
            if len(row) != len(pixels[0]):
                raise ValueError(
                    f"pixels: rows must have equal length; row {i} has {len(row)} numbers, "
                    f"row 0 has {len(pixels[0])}"
                )
            _check_numbers(row, f"pixels[{i}]")
    else:
        if len(pixels) != SIZE * SIZE:  # refuse early: a long flat list has no shape to guess
            raise ValueError(
                f"pixels must be {SIZE * SIZE} numbers or a grid of rows, got {len(pixels)} numbers"
            )
        _check_numbers(pixels, "pixels")


def parse_pixels(body: bytes) -> Any:
    """The pixels of a JSON body, parsed in the heavy pool: a plain grid in C (:func:`plain_grid`,
    the common case), anything else checked number by number in Python so the 422 can name the
    bad one. Checking a MiB of numbers in Python holds the GIL for ~0.15 s in small steps; the C
    path is one parse and one conversion (~50 ms for a MiB)."""
    grid = plain_grid(body)
    if grid is not None:
        return grid
    try:
        data = loads_strict(body, PIXELS_HINT)
        return PredictRequest.model_validate(data).pixels
    except ValidationError as exc:
        raise HTTPException(422, describe_errors(exc.errors())) from None


PLAIN_GRID_BYTES = 64 * 1024  # larger bodies are parsed in the heavy pool, off the event loop


def plain_grid(body: bytes) -> np.ndarray | None:
    """The pixel grid of a body that can only be ``{"pixels": <numbers and lists>}``, read in C;
    None when anything else could be in it (the full validation then names the problem).

    The bytes decide: two quote marks (the key's), one brace, no true/false/null — so every value
    is a number or a list, and NumPy's conversion is exact. It is the common case, and pydantic's
    element-by-element validation of 784 numbers cost more than the forward pass.

    The parse is pydantic-core's JSON reader (Rust, strict JSON: no NaN/Infinity, no trailing
    commas; correctly rounded floats, as ``json.loads``): ~70 µs for a 28x28 grid against ~240 µs
    for ``json.loads``, which was a tenth of the event loop's time under 32 clients. Anything it
    refuses takes the full path, whose ``json`` parse names the problem as for every other body.
    """
    if body.count(b'"') != 2 or body.count(b"{") != 1 or any(w in body for w in (b"true", b"false", b"null")):
        return None
    try:
        data = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError:
        return None  # bad JSON: the full path says why
    if type(data) is not dict or list(data) != ["pixels"]:
        return None
    return as_grid(data["pixels"])


def as_grid(pixels: Any) -> np.ndarray | None:
    """``pixels`` as a float64 array when it plainly is a digit: 784 finite numbers or a grid of
    equal rows of finite numbers; None for anything else (the full validation names the problem).

    One NumPy conversion in C. Strings, objects, ragged rows and numbers beyond int64 give no
    numeric array; booleans mixed with numbers would be read as 0/1, so a caller passes only
    values parsed from text without ``true``/``false`` in it.
    """
    if type(pixels) is not list:
        return None
    try:
        grid = np.asarray(pixels)
    except (ValueError, TypeError, OverflowError):
        return None  # ragged rows
    if grid.dtype.kind not in "iuf":
        return None
    grid = grid.astype(np.float64, copy=False)
    if not (grid.ndim == 1 and grid.size == SIZE * SIZE) and not (grid.ndim == 2 and grid.size > 0):
        return None
    if not np.isfinite(grid).all():  # 1e999 reads as Infinity: the full path refuses it by name
        return None
    return grid


async def _inputs(request: Request) -> dict[str, Any]:
    """Keyword arguments for ``ModelRegistry.predict`` from whichever body was sent."""
    ctype = media_type(request)
    if is_json_type(ctype):
        body = await read_body(request, MAX_JSON_BYTES, "JSON body")
        if not body.strip():
            raise HTTPException(422, 'empty body: send {"pixels": [...]} or a multipart "image" file')
        if len(body) <= PLAIN_GRID_BYTES:  # a drawing's grid: read in C, on the spot
            grid = plain_grid(body)
            if grid is not None:
                return {"pixels": grid}
        return {"pixels": await pool_of(request).run(parse_pixels, body)}
    if ctype == "multipart/form-data":
        data, filename = await read_form_file(request, "image", MAX_IMAGE_BYTES)
        if len(data) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"image is over the limit of {MAX_IMAGE_BYTES} bytes (2 MiB)")
        return {"image": data, "image_name": shown_name(filename, "image")}  # printable, ≤ 100
    if ctype.startswith("image/"):
        data = await read_body(request, MAX_IMAGE_BYTES, "image")
        return {"image": data}
    raise HTTPException(
        415,
        f"unsupported content type {ctype or '(none)'!r}: send application/json "
        '{"pixels": [...]}, multipart/form-data with an "image" file, or the image itself as the '
        "body (image/png, image/jpeg, image/gif, image/bmp or image/webp)",
    )


async def answer_json(
    state: Any, registry: ModelRegistry, model: str | None, activations: bool, inputs: dict[str, Any]
) -> bytes:
    """The answer's JSON for a digit's ``inputs`` (``pixels`` or ``image``): the route's work once
    the request is read, shared with its express lane (service/predictlane.py). Raises what
    :meth:`ModelRegistry.predict` raises."""
    # A run that exists but has no weights yet (queued, just started) is answered by the
    # default model, which the answer names; an id that is no run stays a 404.
    manager = getattr(state, "manager", None)
    fallback = bool(model) and manager is not None and manager.is_run(model)
    # Concurrent requests share one forward pass in the batcher's thread (service/batching.py);
    # the answer is serialised here directly (pydantic's JSON), not re-validated by FastAPI.
    batcher = batcher_for(state, registry)
    result = await batcher.predict(model_id=model, activations=activations, fallback=fallback, **inputs)
    return result.model_dump_json().encode()


@router.post(
    "/api/predict",
    response_model=PredictResult,
    response_model_exclude_none=False,
    summary="Read a handwritten digit",
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": PredictRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image": {
                                "type": "string",
                                "format": "binary",
                                "description": "PNG, JPEG, GIF, BMP or WebP of one digit, up to 2 MiB, "
                                "any size; "
                                "dark ink on light paper or light on dark.",
                            }
                        },
                        "required": ["image"],
                        "additionalProperties": False,  # extra form fields are refused (400)
                    }
                },
                "image/*": {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "The image file itself as the body (Content-Type image/png, "
                        "image/jpeg, ...), up to 2 MiB.",
                    }
                },
            },
        }
    },
)
# The route's caps by the kind of body: JSON 1 MiB; anything else (an image, in a form or as the
# body itself) 2 MiB and the form around it. _inputs caps each kind again as it reads it.
@body_cap({"application/json": MAX_JSON_BYTES, "*": MAX_IMAGE_BYTES + MULTIPART_OVERHEAD})
async def predict(
    request: Request,
    registry: Registry,
    state: AppState,
    model: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_MODEL_ID,
            description="A model id from GET /api/models or a run id; left out: cnn. A run that "
            "has no weights yet is answered by the default model: the answer's `model` names the "
            "network that answered (and its `message` says so).",
        ),
    ] = None,
    activations: Annotated[bool, Query(description="Also return every layer's output.")] = False,
) -> PredictResult:
    """The digit, ten probabilities and the 28x28 input the network saw (prepared like MNIST:
    ink bright, fitted into 20x20, centred by mass). With ``?activations=true`` every layer's
    output too, each map as base64 uint8 with its min/max. No ink -> ``empty: true``, no digit."""
    kwargs = await _inputs(request)
    try:
        answer = await answer_json(state, registry, model, activations, kwargs)
        return Response(answer, media_type="application/json")  # type: ignore[return-value]
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from None
    except (CheckpointError, IncompatibleModelError) as exc:
        raise HTTPException(422, f"model cannot be used: {exc}") from None
    except ValueError as exc:  # pixels: shape, range, NaN (prepare_pixels' messages)
        raise HTTPException(422, str(exc)) from None
