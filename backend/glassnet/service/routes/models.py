"""``/api/models``: list the networks, download one as ``.npz``, upload a checkpoint.

An upload is validated exactly as the library loads a checkpoint (``allow_pickle=False``, the
spec rebuilt, every array's name, dtype and shape checked), must read 28x28 digits into ten
classes, and is stored under a fresh id: it never replaces a bundled or earlier model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from glassnet.export.onnx import checkpoint_onnx as onnx_model_of
from glassnet.nn.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    MissingCheckpointError,
    read_checkpoint,
)

from ..errors import body_cap
from ..inference import IncompatibleModelError, ModelSummary, UnknownModelError, UploadTooLargeError
from ..owners import identity_of, not_yours
from ..schemas import ErrorBody
from ..security import quota_client
from .bodies import (
    MULTIPART_OVERHEAD,
    PlainErrorRoute,
    media_type,
    multipart_files,
    read_body,
    read_form_file,
)
from .deps import AppState, Pool, Registry

__all__ = ["ModelList", "router"]

router = APIRouter(tags=["models"], route_class=PlainErrorRoute)

ModelId = Annotated[str, Path(max_length=512, description="A model id from GET /api/models.")]


class ModelList(BaseModel):
    default: str = Field(description="The model /api/predict uses when none is named.")
    models: list[ModelSummary] = Field(description="Bundled models first, then run checkpoints and uploads.")


@router.get("/api/models", response_model=ModelList, summary="List the available networks")
async def list_models(registry: Registry, pool: Pool, state: AppState) -> ModelList:
    """Every bundled and run checkpoint with its layers, parameter count and test accuracy; a
    run's checkpoints named by the run's name."""
    models = await pool.run(registry.list_models)
    store = getattr(state, "store", None)
    if store is not None:  # read on the event loop: the store's one connection lives there
        models = named_by_run(models, store.get)
    return ModelList(default=registry.default_id, models=models)


def named_by_run(models: list[ModelSummary], run_of: Any) -> list[ModelSummary]:
    """``models`` with each run checkpoint (``<run id>:<checkpoint>``) named by its run's name
    (``run_of(run_id)``: the run's row or None); the registry's cached summaries are not changed."""
    names: dict[str, str | None] = {}
    out = []
    for model in models:
        if model.kind == "run":
            run_id = model.id.split(":", 1)[0]
            if run_id not in names:
                run = run_of(run_id)
                names[run_id] = run.get("name") if run else None
            if names[run_id]:
                model = model.model_copy(update={"name": names[run_id]})
        out.append(model)
    return out


@router.get(
    "/api/models/{model_id}",
    summary="Download a network as .npz",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The checkpoint file."},
        404: {"description": "No model has this id."},
    },
)
async def download_model(model_id: ModelId, registry: Registry, pool: Pool) -> Response:
    """The checkpoint (spec, weights and metadata; ``np.load(f, allow_pickle=False)`` reads it)."""
    try:
        handle, size = await pool.run(_open_model, registry, model_id)
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    filename = model_id.replace(":", "-") + ".npz"
    return StreamingResponse(
        _chunks(handle),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "content-disposition": f'attachment; filename="{filename}"'},
    )


def _open_model(registry: Any, model_id: str) -> tuple[BinaryIO, int]:
    """The model's file, open, and its size. Opened before the answer starts: a run deleted
    meanwhile is a 404 now, and once open the whole file is sent even if it is removed."""
    path = registry.path_of(model_id)
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise UnknownModelError(model_id) from None
    return handle, os.fstat(handle.fileno()).st_size


def _chunks(handle: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


@router.delete(
    "/api/models/{model_id}",
    status_code=204,
    summary="Delete an uploaded model",
    response_class=Response,
    responses={
        403: {
            "model": ErrorBody,
            "description": "A bundled model or a run's checkpoint (not deletable here), or another "
            "person's upload (only its owner or the teacher may delete it).",
        },
        404: {"model": ErrorBody, "description": "No model has this id."},
    },
)
async def delete_model(
    model_id: ModelId, request: Request, registry: Registry, pool: Pool, state: AppState
) -> Response:
    """Delete a model uploaded with ``POST /api/models`` (ids ``uploads:…``). Bundled models stay;
    a run's checkpoints go with the run (``DELETE /api/runs/{id}``). Like a run, an upload has an
    owner: a student may delete only their own; the teacher (on a loopback server without a
    token: everyone) any. An upload stored before owners were recorded has none: teacher only."""
    identity = identity_of(request)
    store = getattr(state, "store", None)
    # Read on the event loop (the store's one connection lives there); checked in the pool once
    # the id is known to be an upload, so an unknown id is a 404 and a bundled one says why.
    uploader = store.upload_owner(model_id) if store is not None else None

    def allowed() -> None:
        if not identity.may_control(uploader):
            raise PermissionError(not_yours("delete", f"model {model_id}", uploader))

    try:
        await pool.run(registry.delete_uploaded, model_id, allowed)
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    if store is not None:
        store.delete_upload(model_id)
    if getattr(state, "disk", None) is not None:
        state.disk.forget()
    return Response(status_code=204)


@router.get(
    "/api/models/{model_id}/onnx",
    summary="Download a network as ONNX",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The ONNX model."},
        404: {"model": ErrorBody, "description": "No model has this id."},
        422: {"model": ErrorBody, "description": "The checkpoint cannot be read."},
        501: {"model": ErrorBody, "description": "The server lacks the onnx package (glassnet[onnx])."},
    },
)
async def download_onnx(model_id: ModelId, registry: Registry, pool: Pool) -> Response:
    """The network as ONNX (input ``pixels`` (N, 1, 28, 28), output ``probabilities``), made on the fly
    from its checkpoint; ``glassnet export MODEL --onnx FILE`` writes the same file."""
    try:
        path = await pool.run(registry.path_of, model_id)
        proto = await pool.run(lambda: onnx_model_of(read_checkpoint(path, name=model_id)))
    except UnknownModelError as exc:
        raise HTTPException(404, str(exc)) from None
    except MissingCheckpointError:  # removed since it was found (its run deleted)
        raise HTTPException(404, str(UnknownModelError(model_id))) from None
    except CheckpointError as exc:
        raise HTTPException(422, str(exc)) from None
    except ValueError as exc:  # no onnx package, or a layer without an ONNX mapping
        raise HTTPException(501, str(exc)) from None
    filename = model_id.replace(":", "-") + ".onnx"
    return Response(
        proto.SerializeToString(),
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def upload_cap(state: Any) -> int:
    """A model upload's body: the registry's upload limit (64 MiB) and the form around the file."""
    registry = getattr(state, "registry", None)
    limit = registry.max_upload_bytes if registry is not None else MAX_CHECKPOINT_BYTES
    return limit + MULTIPART_OVERHEAD


@router.post(
    "/api/models",
    status_code=201,
    response_model=ModelSummary,
    summary="Upload a checkpoint",
    responses={
        413: {"description": "Larger than the upload limit (64 MiB, and the form around the file)."},
        415: {"description": "Not multipart/form-data or application/octet-stream."},
        422: {"description": "Not a valid glassnet checkpoint, or not a 28x28 -> 10 digit reader."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": multipart_files("file"),  # extra form fields are refused (400)
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
@body_cap(upload_cap)
async def upload_model(
    request: Request,
    registry: Registry,
    pool: Pool,
    state: AppState,
    filename: Annotated[str | None, Query(max_length=200, description="Name for a raw upload.")] = None,
) -> ModelSummary:
    """Store a ``.npz`` made by ``glassnet train`` (or the library) under a new id."""
    limit = registry.max_upload_bytes
    ctype = media_type(request)
    if ctype == "multipart/form-data":
        data, filename = await read_form_file(request, "file", limit)
    elif ctype == "application/octet-stream":
        data = await read_body(request, limit, "upload")
    else:
        raise HTTPException(
            415,
            f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data with a 'file' "
            "field, or application/octet-stream",
        )
    client = quota_client(request)  # a student by name, others by address (as for runs)
    quotas, store = getattr(state, "quotas", None), getattr(state, "store", None)
    if quotas is not None and store is not None:
        quotas.check(client, "uploads")
        quotas.check_upload_bytes(client, store.upload_bytes(client), len(data))
    if getattr(state, "disk", None) is not None:
        await pool.run(state.disk.require_room, "store an upload")
    try:
        summary = await pool.run(registry.add_uploaded, data, filename)
        if store is not None:  # the owner is recorded whether or not quotas are on
            store.add_upload(summary.id, client, summary.size, identity_of(request).owner)
        if quotas is not None:
            quotas.count(client, "uploads")
        return summary
    except UploadTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except (CheckpointError, IncompatibleModelError) as exc:
        raise HTTPException(422, str(exc)) from None
