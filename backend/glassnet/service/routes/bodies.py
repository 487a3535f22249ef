"""Request bodies read with a size limit, and 4xx answers that are one readable sentence.

Shared by the predict and models routes, which take JSON, multipart or raw bodies on one
endpoint and so read them by hand instead of through FastAPI's body parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from ..errors import JSONConstantError, coded, json_problem, media_type_of, strict_loads
from ..pool import HeavyPool
from ..protocol import ErrorCode

__all__ = [
    "MULTIPART_OVERHEAD",
    "PlainErrorRoute",
    "describe_errors",
    "json_problem",
    "loads_strict",
    "media_type",
    "media_type_of",
    "multipart_files",
    "not_a_file",
    "pool_of",
    "read_body",
    "read_form",
    "registry_of",
]

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an uploaded file


def multipart_files(*fields: str) -> dict[str, Any]:
    """The OpenAPI body of a multipart form holding exactly these file fields (no other field:
    :func:`read_form_file` answers one with a 400)."""
    return {
        "schema": {
            "type": "object",
            "properties": {field: {"type": "string", "format": "binary"} for field in fields},
            "required": list(fields),
            "additionalProperties": False,
        }
    }


def media_type(request: Request) -> str:
    """``"application/json; charset=utf-8"`` -> ``"application/json"`` ('' when absent)."""
    return media_type_of(request.headers.get("content-type", ""))


async def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused before anything is read; a body
    without one (chunked) is cut off once it passes the limit.
    """
    too_big = HTTPException(413, f"{what} is over the limit of {limit} bytes ({limit / 2**20:.1f} MiB)")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_big
        except ValueError:
            raise HTTPException(400, "Content-Length is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def loads_strict(body: bytes | str, hint: str = "", what: str = "the body") -> Any:
    """JSON that refuses NaN and Infinity (Python's json accepts them by default); 422 naming
    the problem (``hint`` says what the numbers must be)."""

    try:
        return strict_loads(body, hint)
    except JSONConstantError as exc:
        raise HTTPException(422, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise coded(HTTPException(422, json_problem(exc, what)), ErrorCode.INVALID_JSON) from None


async def read_form(request: Request, body: bytes, max_files: int = 1) -> FormData:
    """Parse an already-read multipart body (Starlette's parser; malformed -> 400)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=max_files, max_fields=8)


def not_a_file(field: str, form: FormData) -> str:
    """The 422 message when a multipart form lacks the file ``field``."""
    if field in form:  # a text part (e.g. a browser form with no file chosen: filename="")
        return f"multipart: the field '{field}' must be a file upload with a filename, not text"
    fields = ", ".join(repr(k) for k in form) or "none"
    return f"multipart: expected a file in the field '{field}' (fields sent: {fields})"


async def read_form_file(request: Request, field: str, limit: int) -> tuple[bytes, str | None]:
    """The file in multipart ``field`` (at most ``limit + 1`` bytes read, so a caller can tell
    "over the limit") and its filename. Missing or text field -> 422; malformed form or any other
    field -> 400."""
    body = await read_body(request, limit + MULTIPART_OVERHEAD, "upload")
    form = await read_form(request, body)
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, not_a_file(field, form))
        extra = sorted({k for k in form if k != field})
        if extra:  # the routes' schemas say additionalProperties: false; a stray field is a mistake
            names = ", ".join(repr(k[:40]) for k in extra[:5])
            raise HTTPException(400, f"multipart: unexpected field(s) {names}; send only the file '{field}'")
        return await upload.read(limit + 1), upload.filename
    finally:
        await form.close()


def pool_of(request: Request) -> HeavyPool:
    """The app's heavy-work pool (``app.state.pool``; an app without a lifespan gets one)."""
    state = request.app.state
    pool = getattr(state, "pool", None)
    if pool is None:
        pool = state.pool = HeavyPool()
    return pool


def ready(request: Request, name: str, what: str) -> Any:
    """``app.state.<name>``; 503 naming ``what`` while there is none (before the lifespan ran)."""
    value = getattr(request.app.state, name, None)
    if value is None:
        raise HTTPException(503, f"{what} is not ready")
    return value


def registry_of(request: Request) -> Any:
    """The app's ModelRegistry (``app.state.registry``); 503 while there is none."""
    return ready(request, "registry", "the model registry")


def describe_errors(errors: Any) -> str:
    """Pydantic/FastAPI validation errors -> ``"query parameter 'activations': Input should be ..."``."""
    parts = []
    for err in list(errors)[:3]:
        loc = [str(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if loc and loc[0] in ("query", "path", "header", "body") and len(loc) > 1:
            where = f"{loc[0]} parameter '{'.'.join(loc[1:])}'"
        else:
            where = ".".join(loc)
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


class PlainErrorRoute(APIRoute):
    """An APIRoute whose parameter errors are 422 ``{"detail": "<one sentence>"}``, the same shape
    as every other error these routes give, instead of FastAPI's list of error objects."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def plain_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise HTTPException(422, describe_errors(exc.errors())) from None

        return plain_errors
