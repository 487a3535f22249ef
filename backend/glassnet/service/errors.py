"""Errors in one JSON shape, ``{"detail": "<one human sentence>", "code": "<stable code>", ...}``,
and the body-size cap. ``code`` (protocol.ErrorCode) is what a client words in its own language;
an error that states none gets its status's (404 not_found, 409 conflict, ...), see
:func:`coded` for the ones that state their own.

* validation errors (422): ``detail`` names the first problem ("body.lr: Input should be greater
  than 0"), ``errors`` lists them all (location and message only, never the input echoed back);
* ``HTTPException``: ``{"detail": ...}`` as FastAPI does;
* anything unexpected: logged with its traceback, answered ``{"detail": "internal error"}`` (500)
  — a safety net; the tests check that no request reaches it;
* :class:`BodySizeLimit`: the one body-size mechanism. A request body over its route's cap is
  refused with 413 before any route reads it (declared Content-Length or counted while
  streaming). A route states its own cap with :func:`body_cap` (a model upload: 64 MiB and the
  form around it; a prediction: 1 MiB of JSON); every other route has ``max_body_bytes`` (2 MiB).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .disk import DiskFullError, disk_full
from .pool import PoolBusyError
from .protocol import ErrorCode, code_for_status
from .quotas import QuotaError

log = logging.getLogger("glassnet.errors")


_TYPE_TAGS = frozenset({"bool", "int", "float", "str", "bytes", "list", "dict", "none", "tuple"})


def _union_tag(part: Any) -> bool:
    """Whether a location part is pydantic's name for a union member (``bool``, ``list[float]``,
    ``function-after[_ordered(), AugmentSettings]``, a model's class name), not a field: fields
    here are snake_case, so these never clash with one."""
    if not isinstance(part, str):
        return False
    return part in _TYPE_TAGS or "[" in part or "(" in part or part[:1].isupper()


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if not _union_tag(p)]
    if parts and parts[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    # ("layers", 1, "dense", "units") -> "layer 1 (dense) units": the editor's words for a layer.
    for i in range(len(parts) - 1):
        if parts[i] == "layers" and parts[i + 1].isdigit():
            kind = f" ({parts[i + 2]})" if len(parts) > i + 3 else ""
            rest = parts[i + 3 :] if kind else parts[i + 2 :]
            head = ".".join(parts[:i])
            named = f"layer {parts[i + 1]}{kind}" + (f" {'.'.join(rest)}" if rest else "")
            return f"{head}.{named}" if head else named
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A sentence for the first error and a compact list of all (no input values echoed).

    A value that fits no member of a union gets one error per member; the member the client
    meant is the one it got furthest into (an object sent for ``augment: bool | AugmentSettings``
    fails the settings' ``rotation``, not "should be a boolean"), so the deepest error comes
    first, and the members' names are left out of the location (``augment.rotation``)."""
    depth = {id(err): sum(not _union_tag(p) for p in err.get("loc", ())) for err in errors}
    errors = sorted(errors, key=lambda err: -depth[id(err)])  # stable: same depth keeps its order
    compact = []
    for err in errors:
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind == "json_invalid":
            msg = f"the request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        elif kind == "missing" and tuple(err.get("loc", ())) == ("body",):
            msg = "the request body is empty; send a JSON object"
        compact.append({"loc": _where(err.get("loc", ())), "msg": msg, "type": kind})
    if not compact:
        return "invalid request", []
    first = compact[0]
    if first["type"] in ("json_invalid",) or first["msg"].startswith("the request body"):
        return first["msg"], compact
    extra = f" (and {len(compact) - 1} more)" if len(compact) > 1 else ""
    return f"{first['loc']}: {first['msg']}{extra}", compact


class JSONConstantError(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in JSON (Python reads them; JSON has no such numbers)."""


def strict_loads(text: bytes | str, hint: str = "") -> Any:
    """``json.loads`` refusing ``NaN``/``Infinity`` with :class:`JSONConstantError` ("NaN is not a
    number in JSON; <hint>"): the one parse REST bodies and WebSocket messages share."""

    def no_constants(name: str) -> Any:
        raise JSONConstantError(f"{name} is not a number in JSON" + (f"; {hint}" if hint else ""))

    return json.loads(text, parse_constant=no_constants)


def json_problem(exc: ValueError | RecursionError, what: str = "the body") -> str:
    """Why ``json.loads`` refused a text, in the client's terms, never Python's: too deep, a
    number with more digits than Python converts (``int`` stops at 4300: a plain
    ``ValueError`` that names ``sys.set_int_max_str_digits``), not UTF-8, not JSON, or a
    NaN/Infinity constant (:class:`JSONConstantError`, whose text is already the client's)."""
    if isinstance(exc, RecursionError):
        return f"{what} is nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return f"{what} is not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"{what} is not valid JSON: {exc}"
    if isinstance(exc, JSONConstantError):
        return str(exc)
    if "integer string conversion" in str(exc):
        return f"a number in {what} has too many digits (at most {sys.get_int_max_str_digits() or 4300})"
    return f"{what} is not valid JSON"


def coded(exc: StarletteHTTPException, code: ErrorCode) -> StarletteHTTPException:
    """An HTTPException that states its own code (``raise coded(HTTPException(...), ErrorCode.BUSY)``)."""
    exc.glassnet_code = code  # type: ignore[attr-defined]
    return exc


def validation_code(errors: list[dict[str, Any]]) -> ErrorCode:
    """The code of a 422 from its first problem: not JSON, no body, or an invalid value."""
    if errors and errors[0]["type"] == "json_invalid":
        return ErrorCode.INVALID_JSON
    if errors and errors[0]["msg"].startswith("the request body is empty"):
        return ErrorCode.EMPTY_BODY
    return ErrorCode.INVALID


NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def media_type_of(content_type: str) -> str:
    """A Content-Type header's media type, parameters dropped, lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_type(media_type: str) -> bool:
    """Whether a media type (:func:`media_type_of`) is JSON: ``application/json`` or ``…+json``."""
    return media_type == "application/json" or media_type.endswith("+json")


def _media_type(request: Request) -> str:
    return media_type_of(request.headers.get("content-type", ""))


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """The 415 message when a JSON route got a body that was not sent as JSON (``text/plain``,
    a form): FastAPI then hands the raw bytes to the model, whose complaint ("Input should be a
    valid dictionary ...") hides the real problem. The same 415 the hand-read routes give."""
    ctype = _media_type(request)
    if is_json_type(ctype) or not getattr(exc, "body", None):
        return None
    if not isinstance(exc.body, bytes | str):
        return None
    if not any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in NOT_AN_OBJECT for e in exc.errors()):
        return None
    return not_json_message(ctype)


def not_json_message(ctype: str, also: str = "") -> str:
    """The 415's words for a body that should have been JSON (``also``: another way a route
    takes it, e.g. "or the export as the multipart file 'file'")."""
    return f"unsupported content type {ctype or '(none)'!r}: send the body as application/json{also}"


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    wrong_type = _not_json(request, exc)
    if wrong_type is not None:
        return JSONResponse(
            {"detail": wrong_type, "code": ErrorCode.UNSUPPORTED_MEDIA_TYPE.value}, status_code=415
        )
    detail, errors = describe_validation(list(exc.errors()))
    code = validation_code(errors)
    return JSONResponse({"detail": detail, "code": code.value, "errors": errors}, status_code=422)


FASTAPI_PARSE_ERROR = "There was an error parsing the body"


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if (
        exc.status_code == 400
        and exc.detail == FASTAPI_PARSE_ERROR
        and isinstance(cause, ValueError | RecursionError)
    ):
        # FastAPI's own JSON parse for a pydantic body: a number over Python's 4300 digits or
        # nesting past the recursion limit is no JSONDecodeError, so it says only "error parsing
        # the body" (400). Named like every hand-read route names it (json_problem).
        return JSONResponse(
            {"detail": json_problem(cause), "code": ErrorCode.INVALID_JSON.value}, status_code=422
        )
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    code = getattr(exc, "glassnet_code", None) or code_for_status(exc.status_code)
    return JSONResponse(
        {"detail": detail, "code": code.value}, status_code=exc.status_code, headers=exc.headers
    )


async def _internal_handler(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.internal_errors = getattr(request.app.state, "internal_errors", 0) + 1
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error; see the server log", "code": ErrorCode.INTERNAL.value}, status_code=500
    )


async def _busy_handler(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc), "code": ErrorCode.BUSY.value}, status_code=503, headers={"Retry-After": "1"}
    )


async def _disk_handler(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "code": ErrorCode.DISK_FULL.value}, status_code=507)


async def _quota_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuotaError)
    return JSONResponse(
        {"detail": str(exc), "code": ErrorCode.QUOTA.value},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _storage_handler(request: Request, exc: Exception) -> JSONResponse:
    """OSError / sqlite3 errors: a full disk is a 507 naming it; anything else is unexpected."""
    if disk_full(exc):
        log.warning("%s %s: the disk is full: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {
                "detail": "the disk holding the data dir is full; free some space (or delete runs and "
                "uploaded models) and retry",
                "code": ErrorCode.DISK_FULL.value,
            },
            status_code=507,
        )
    return await _internal_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(PoolBusyError, _busy_handler)
    app.add_exception_handler(DiskFullError, _disk_handler)
    app.add_exception_handler(QuotaError, _quota_handler)
    app.add_exception_handler(OSError, _storage_handler)
    app.add_exception_handler(sqlite3.Error, _storage_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _internal_handler)


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None, prefix: str = ""
) -> None:
    """An ``ErrorBody`` answer straight from ASGI middleware (before any route runs); with
    ``prefix="websocket."`` as the HTTP answer that refuses a WebSocket handshake (the ASGI
    ``websocket.http.response`` extension)."""
    body = json.dumps({"detail": detail, "code": code_for_status(status).value}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": f"{prefix}http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": f"{prefix}http.response.body", "body": body})


BODY_CAP_ATTR = "glassnet_body_cap"


def body_cap(cap: Any) -> Any:
    """Decorator: this route's body may be up to ``cap`` bytes — an int, or a function of the app's
    state (``lambda state: state.registry.max_upload_bytes + …``) — instead of the server-wide
    ``max_body_bytes``. ``cap`` may also be a dict of those by media type, ``"*"`` for the others
    (``{"application/json": 1 MiB, "*": 2 MiB}``), for a route that takes bodies of several kinds:
    the 413 then names the cap of the kind sent, whatever the size. Its OpenAPI description
    should say the same numbers."""

    def mark(endpoint: Any) -> Any:
        setattr(endpoint, BODY_CAP_ATTR, cap)
        return endpoint

    return mark


def _api_routes(routes: Any) -> list[Any]:
    """Every route with an endpoint and a path pattern, through included routers of any FastAPI
    version (older ones copy routes into the app, newer ones keep the included router)."""
    out = []
    for route in routes:
        if hasattr(route, "path_regex") and hasattr(route, "endpoint") and hasattr(route, "methods"):
            out.append(route)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out.extend(_api_routes(inner.routes))
    return out


class BodySizeLimit:
    """ASGI middleware: 413 for HTTP bodies over their route's cap (see :func:`body_cap`), or over
    ``limit`` for a route that states none."""

    def __init__(self, app: ASGIApp, limit: int, fastapi: FastAPI | None = None) -> None:
        self.app = app
        self.default = limit
        self.fastapi = fastapi
        self._caps: list[tuple[set[str], re.Pattern[str], Any]] | None = None

    def caps(self) -> list[tuple[set[str], re.Pattern[str], Any]]:
        """(methods, path pattern, cap) of every route that states its own cap, found once."""
        if self._caps is None:
            self._caps = []
            for route in _api_routes(self.fastapi.router.routes if self.fastapi is not None else []):
                cap = getattr(route.endpoint, BODY_CAP_ATTR, None)
                if cap is not None:
                    self._caps.append((set(route.methods or ()), route.path_regex, cap))
        return self._caps

    def cap_for(self, scope: Scope) -> int:
        """The cap of the route this request goes to."""
        for methods, pattern, cap in self.caps():
            if scope["method"] in methods and pattern.match(scope["path"]):
                if isinstance(cap, dict):
                    ctype = media_type_of(
                        dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
                    )
                    cap = cap.get("application/json" if is_json_type(ctype) else ctype, cap["*"])
                return int(cap(self.fastapi.state) if callable(cap) else cap)
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.cap_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        # Read the body up front (it is at most `limit` bytes), then replay it to the app.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when the client goes away

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        await send_error(
            send, 413, f"request body is over the limit of {limit} bytes ({limit / 2**20:.1f} MiB)"
        )


# -- the schema tells the truth -------------------------------------------------------------------
COMMON_ERRORS = {
    "400": "Malformed request: a Host this server does not serve, a bad Content-Length, a broken form",
    "401": "This server needs its token (when bound beyond loopback)",
    "403": "Cross-site request refused (foreign Origin or Referer)",
    "405": "Method not allowed on this path (the Allow header lists those that are)",
    "413": "Request body over the size limit",
    "422": "Invalid request: the message names the field or the layer",
    "429": "Over a per-client quota (Retry-After)",
    "503": "Busy or not ready: retry shortly (Retry-After)",
}
WRITE_ERRORS = {"507": "No room: the disk is full or the data dir is over its cap"}
BODY_ERRORS = {
    "415": "The body was sent with a content type this route does not take (JSON: application/json)"
}
# The token, three ways (security.py: Guard.authorised); needed when the server has one (bound
# beyond loopback, or a join code), so the empty requirement ({}) is listed too: none on loopback.
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The token glassnet serve printed (or a student's): Authorization: Bearer <token>",
    },
    "tokenHeader": {"type": "apiKey", "in": "header", "name": "X-Glassnet-Token"},
    "tokenCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "glassnet_token",
        "description": "Set by opening GET /?token=<token> in a browser (HttpOnly, SameSite=Strict)",
    },
}
SECURITY = [{"bearer": []}, {"tokenHeader": []}, {"tokenCookie": []}, {}]


def component_schema(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pydantic model's JSON schema for ``components.schemas``, and the models it refers to:
    its references point into ``#/components/schemas/`` (a pasted ``model_json_schema()`` keeps
    ``#/$defs/...``, which an OpenAPI document resolves from its root, where there is none)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return schema, schema.pop("$defs", {})


def document_errors(app: FastAPI, open_paths: frozenset[str] = frozenset()) -> None:
    """Every operation's error answers in the schema, all as :class:`ErrorBody` (one shape): the
    422 FastAPI would describe as a list of objects, the 400s, 401s, ... the middleware gives, and
    a 415 wherever a body is taken; and the token's ways in (``securitySchemes``), none needed on
    ``open_paths``."""
    from .schemas import ErrorBody

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default_openapi()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        body, defs = component_schema(ErrorBody)
        schemas["ErrorBody"] = body
        for name, sub in defs.items():
            schemas.setdefault(name, sub)
        components["securitySchemes"] = SECURITY_SCHEMES
        schema["security"] = SECURITY
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, methods in schema.get("paths", {}).items():
            for method, operation in methods.items():
                if path in open_paths:
                    operation["security"] = [{}]
                responses = operation.setdefault("responses", {})
                extra = {
                    **COMMON_ERRORS,
                    **(WRITE_ERRORS if method in ("post", "patch", "put", "delete") else {}),
                    **(BODY_ERRORS if "requestBody" in operation else {}),
                }
                for code, text in extra.items():
                    if code not in responses or code == "422":
                        responses[code] = {"description": responses.get(code, {}).get("description", text)}
                for code, response in responses.items():
                    if int(code) >= 400:  # every error, the route's own included, is an ErrorBody
                        response["content"] = ref
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def documented_paths(openapi: dict[str, Any]) -> list[tuple[re.Pattern[str], set[str]]]:
    """(regex, methods) for every path of an OpenAPI document; an integer path parameter only
    matches digits, any other one a whole segment."""
    out = []
    for path, operations in openapi.get("paths", {}).items():
        integers = {
            p["name"]
            for op in operations.values()
            if isinstance(op, dict)
            for p in op.get("parameters", [])
            if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
        }
        pattern = re.sub(
            r"\\{(\w+)\\}",
            lambda m, ints=integers: "-?[0-9]+" if m.group(1) in ints else "[^/]+",
            re.escape(path),
        )
        out.append((re.compile(f"^{pattern}$"), {m.upper() for m in operations}))
    return out


class AllowedMethods:
    """ASGI middleware: a documented path asked with a method it does not have gets 405 with an
    ``Allow`` header listing exactly its documented methods (not the static files' GET, HEAD);
    a path under ``/api/`` that no documented path fits is a 404 whatever the method. ``HEAD``
    on a GET route is answered as its GET without the body (status and headers, Content-Length
    included; RFC 9110 9.3.2): FastAPI's routes have no HEAD of their own, so it would fall
    through to the static files and be a 404."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.paths: list[tuple[Any, set[str]]] | None = None

    def get_route(self, scope: Scope) -> bool:
        """Whether a route of the app (documented or not: /docs, /openapi.json) answers this GET."""
        return any(
            "GET" in (route.methods or ()) and route.matches(scope)[0] == Match.FULL
            for route in _api_routes(self.fastapi.router.routes)
        )

    async def head_as_get(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer a HEAD with its GET route's status and headers and no body; False if no GET
        route fits (the static files answer HEAD themselves)."""
        get = {**scope, "method": "GET"}  # a copy: the server still sees the HEAD it was sent
        if not self.get_route(get):
            return False

        async def bodiless(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(get, receive, bodiless)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.paths is None:  # the documented paths and their methods, once
                self.paths = documented_paths(self.fastapi.openapi())
            # every documented path the request's path fits, its parameters typed as the router
            # types them ("/x/7" fits "/x/{id}" with an integer id; "/x/idx" does not)
            allowed = set().union(*(m for regex, m in self.paths if regex.match(scope["path"])))
            if not allowed and (scope["path"] + "/").startswith("/api/"):
                # No API path fits: 404 for every method. (The static files mounted at "/" would
                # answer anything but GET with a 405, as if only the verb were wrong.)
                shown = scope["path"][:100]
                await send_error(send, 404, f"no API path {shown!r}; GET /openapi.json lists them")
                return
            if (
                allowed
                and scope["method"] not in allowed
                and not (scope["method"] == "HEAD" and "GET" in allowed)
            ):
                allow = [(b"allow", ", ".join(sorted(allowed)).encode())]
                await send_error(send, 405, f"method {scope['method']} is not allowed here", allow)
                return
            if scope["method"] == "HEAD" and await self.head_as_get(scope, receive, send):
                return
        await self.app(scope, receive, send)
