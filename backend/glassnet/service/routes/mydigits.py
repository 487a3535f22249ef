"""``/api/mydigits``: label drawings, review them, export and import them, see how a network reads them.

* ``POST /api/mydigits`` ``{label, pixels, strokes?, pad?}`` — a drawing labelled "this is a 3";
* ``GET /api/mydigits`` (``?label=``) — the gallery; ``PATCH``/``DELETE /api/mydigits/{id}``;
* ``GET /api/mydigits/idx/images`` and ``/idx/labels`` — the IDX files, as MNIST's;
  ``POST /api/mydigits/idx`` (multipart ``images`` + ``labels``, raw or gzip) — import;
* ``GET /api/mydigits/json`` / ``POST /api/mydigits/json`` — strokes and images as JSON (the import:
  the body, or the multipart file ``file``);
  an import answers ``{added, skipped}``: digits already there (same image and label) are skipped;
* ``POST /api/mydigits/evaluate`` ``{model}`` — accuracy and confusion matrix on my digits.

Bad input is a 4xx naming the problem; a refused import stores nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import UploadFile

from ...data.mnist import IdxFormatError
from ...nn.checkpoint import CheckpointError
from ..errors import is_json_type, not_json_message
from ..inference import IncompatibleModelError, UnknownModelError
from ..mydigits import MAX_DIGITS, evaluate
from ..schemas import ErrorBody
from ..uploads import shown_name
from .bodies import loads_strict, media_type, multipart_files, read_body, read_form, read_form_file
from .deps import Digits, DigitsOwner, Pool, Registry
from .predict import check_pixels

router = APIRouter(prefix="/api/mydigits", tags=["my digits"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such digit or model"},
    413: {"model": ErrorBody, "description": "the upload is too large"},
    422: {"model": ErrorBody, "description": "an invalid label, drawing or file"},
}
MAX_IMPORT_BYTES = 2 * 1024 * 1024  # the server's body limit; gzip the files for more digits
DigitId = Annotated[int, Path(ge=1, le=2**62, description="the digit's id")]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class DigitCreate(_Body):
    label: int = Field(ge=0, le=9, description="What the drawing is: 0 to 9.")
    pixels: list[float] | list[list[float]] = Field(
        description="The drawing as for /api/predict: 784 numbers or H rows of W, each in [0, 1]."
    )
    strokes: list[list[list[float]]] | None = Field(
        None, description="The pen strokes: a list of strokes, each a list of [x, y] in pad pixels."
    )
    pad: int | None = Field(None, ge=1, le=4096, description="The pad's size in pixels (the strokes' frame).")

    @field_validator("pixels", mode="before")
    @classmethod
    def _pixels(cls, v: Any) -> Any:
        check_pixels(v)
        return v


class DigitPatch(_Body):
    label: int = Field(ge=0, le=9)


class EvaluateRequest(_Body):
    model: str | None = Field(
        None, min_length=1, max_length=512, description="Any model id /api/predict takes (left out: cnn)."
    )


class MyDigit(BaseModel):
    id: int
    label: int
    image: str = Field(description="28x28 uint8 (0 background, 255 ink), row by row, base64.")
    strokes: bool = Field(description="Whether the pen strokes are kept.")
    created: float


class MyDigits(BaseModel):
    count: int
    limit: int = Field(description="The most digits one person can keep.")
    digits: list[MyDigit]


class Imported(BaseModel):
    added: int = Field(description="Digits added.")
    skipped: int = Field(
        description="Digits not added because they were already among yours (the same image and label)."
    )


class Evaluation(BaseModel):
    model: str
    count: int
    accuracy: float
    confusion: list[list[int]] = Field(description="10x10: rows my label, columns the network's reading.")
    digits: list[dict[str, Any]]


@router.post("", status_code=201, response_model=MyDigit, responses=ERRORS, summary="Label a drawing")
async def add_digit(body: DigitCreate, store: Digits, pool: Pool, owner: DigitsOwner) -> Any:
    try:
        return await pool.run(store.add, body.label, body.pixels, body.strokes, body.pad, owner)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("", response_model=MyDigits, summary="My digits")
async def list_digits(
    store: Digits,
    pool: Pool,
    owner: DigitsOwner,
    label: Annotated[int | None, Query(ge=0, le=9, description="Only this digit.")] = None,
) -> Any:
    digits = await pool.run(store.list, owner, label)
    return {"count": len(digits), "limit": MAX_DIGITS, "digits": digits}


@router.patch("/{digit_id}", response_model=MyDigit, responses=ERRORS, summary="Relabel a digit")
async def relabel(digit_id: DigitId, body: DigitPatch, store: Digits, pool: Pool, owner: DigitsOwner) -> Any:
    digit = await pool.run(store.relabel, digit_id, body.label, owner)
    if digit is None:
        raise HTTPException(404, f"no digit {digit_id} among my digits")
    return digit


@router.delete("/{digit_id}", status_code=204, responses=ERRORS, summary="Delete a digit")
async def delete(digit_id: DigitId, store: Digits, pool: Pool, owner: DigitsOwner) -> Response:
    if not await pool.run(store.delete, digit_id, owner):
        raise HTTPException(404, f"no digit {digit_id} among my digits")
    return Response(status_code=204)


IDX_FILES = {"images": "my-digits-images-idx3-ubyte", "labels": "my-digits-labels-idx1-ubyte"}


@router.get(
    "/idx/{part}",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "an IDX file"}},
    summary="Export as IDX (MNIST's format)",
)
async def export_idx(
    part: Annotated[str, Path(pattern="^(images|labels)$")], store: Digits, pool: Pool, owner: DigitsOwner
) -> Response:
    images, labels = await pool.run(store.export_idx, owner)
    return Response(
        images if part == "images" else labels,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{IDX_FILES[part]}"'},
    )


@router.post(
    "/idx",
    status_code=201,
    response_model=Imported,
    responses={**ERRORS, 415: {"model": ErrorBody, "description": "not multipart/form-data"}},
    summary="Import IDX files",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": multipart_files("images", "labels")},
        }
    },
)
async def import_idx(request: Request, store: Digits, pool: Pool, owner: DigitsOwner) -> Any:
    """Two files, ``images`` (N×28×28) and ``labels`` (N), raw or gzip, up to 2 MiB together."""
    if media_type(request) != "multipart/form-data":
        raise HTTPException(415, "send multipart/form-data with the files 'images' and 'labels'")
    body = await read_body(request, MAX_IMPORT_BYTES, "upload")
    form = await read_form(request, body, max_files=2)
    try:
        files = {}
        for field in ("images", "labels"):
            part = form.get(field)
            if not isinstance(part, UploadFile):
                raise HTTPException(422, f"multipart: expected a file in the field '{field}'")
            files[field] = await part.read(MAX_IMPORT_BYTES + 1)
    finally:
        await form.close()
    try:
        return await pool.run(store.import_idx, files["images"], files["labels"], owner)
    except (IdxFormatError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/json", summary="Export strokes and images as JSON")
async def export_json(store: Digits, pool: Pool, owner: DigitsOwner) -> Response:
    doc = await pool.run(store.export_json, owner)
    return Response(
        json.dumps(doc, separators=(",", ":")),
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="my-digits.json"'},
    )


@router.post(
    "/json",
    status_code=201,
    response_model=Imported,
    responses={**ERRORS, 415: {"model": ErrorBody, "description": "neither JSON nor multipart/form-data"}},
    summary="Import a JSON export",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "the document GET /api/mydigits/json gives"}
                },
                "multipart/form-data": multipart_files("file"),
            },
        }
    },
)
async def import_json(request: Request, store: Digits, pool: Pool, owner: DigitsOwner) -> Any:
    """The export of ``GET /api/mydigits/json`` back: as the body (application/json), or as the
    file ``file`` of a multipart form (``curl -F file=@my-digits.json``), up to 2 MiB."""
    ctype = media_type(request)
    if is_json_type(ctype):
        body, what = await read_body(request, MAX_IMPORT_BYTES, "JSON body"), "the body"
    elif ctype == "multipart/form-data":
        body, name = await read_form_file(request, "file", MAX_IMPORT_BYTES)
        if len(body) > MAX_IMPORT_BYTES:
            raise HTTPException(413, f"file is over the limit of {MAX_IMPORT_BYTES} bytes (2 MiB)")
        what = "the file " + shown_name(name, "")
    else:
        raise HTTPException(415, not_json_message(ctype, ", or the export as the multipart file 'file'"))
    doc = loads_strict(body, what=what.strip())
    try:
        return await pool.run(store.import_json, doc, owner)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post(
    "/evaluate", response_model=Evaluation, responses=ERRORS, summary="How a network reads my digits"
)
async def evaluate_mine(
    body: EvaluateRequest, store: Digits, registry: Registry, pool: Pool, owner: DigitsOwner
) -> Any:
    def run() -> dict[str, Any]:
        model_id, model, lock = registry.load(body.model)
        ids, images, labels = store.arrays(owner)
        with lock:
            result = evaluate(model, ids, images, labels)
        return {"model": model_id, **result}

    try:
        return await pool.run(run)
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    except (CheckpointError, IncompatibleModelError) as exc:
        raise HTTPException(422, f"model cannot be used: {exc}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
