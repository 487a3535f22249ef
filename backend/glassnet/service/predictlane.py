"""The express lane of ``POST /api/predict``: a plain digit answered without FastAPI's routing.

A class full of pads sends hundreds of small predictions a second, and on a 2-core machine the
event loop was their bottleneck: for each, FastAPI matched the route, solved its dependencies
(reflection over the endpoint's signature, ~18% of the loop's time under 32 clients), read the
query into pydantic and wrapped the answer, and Starlette ran its exception and routing layers —
about 0.5 ms of Python per request for what is, in the common case, "read a grid, run the
network, send its JSON".

:class:`PredictLane` is an ASGI middleware just inside the security middlewares (Guard, the
body-size limit and the metrics all see every request as before). It answers a request only
when it is plainly the common case:

* ``POST /api/predict`` with ``Content-Type: application/json`` (any parameters such as
  ``charset``), the query holding at most ``model`` (≤ 512 characters) and ``activations``
  (``true``/``false``/``1``/``0``), each once;
* a body of at most :data:`~.routes.predict.PLAIN_GRID_BYTES` that :func:`~.routes.predict.
  plain_grid` reads as ``{"pixels": <784 numbers or a grid of rows>}``;
* and the network's answer comes back without an exception.

It then sends exactly what the route would (:func:`~.routes.predict.answer_json`, the code the
route runs too, and the same headers). Everything else — another content type, an image, an odd
query, a malformed or large body, an unknown model, pixels out of range, no registry yet — goes
on to the route unchanged, its body replayed, and the route answers or names the problem as
always. (A failed attempt is repeated there: errors are rare, and their one home stays the route.)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .inference import UnknownModelError
from .routes.bodies import media_type_of
from .routes.predict import MAX_MODEL_ID, PLAIN_GRID_BYTES, answer_json, plain_grid

PATH = "/api/predict"
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


class PredictLane:
    """ASGI middleware: answers plain ``POST /api/predict`` JSON digits (see the module docstring);
    ``answered`` and ``passed`` count the requests it answered and handed on to the route
    (``/metrics``: ``glassnet_predict_lane_total``)."""

    def __init__(self, app: ASGIApp, fastapi: Any) -> None:
        self.app = app
        self.fastapi = fastapi
        self.answered = 0
        self.passed = 0
        fastapi.state.predict_lane = self

    def counts(self) -> dict[str, int]:
        """Requests answered by the second process, answered here, handed on to the route."""
        child = getattr(self.fastapi.state, "predict_process", None)
        by_child = child.answered if child is not None else 0
        return {"process": by_child, "here": self.answered - by_child, "route": self.passed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        query = _plain_query(scope.get("query_string", b""))
        if query is None or not _is_json(scope):
            self.passed += 1
            await self.app(scope, receive, send)
            return
        # The body was read whole by BodySizeLimit (within the route's cap): one or a few chunks.
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nobody to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        answer = await _answer(self.fastapi.state, body, *query)
        if answer is None:
            self.passed += 1
            await self.app(scope, _replay(body, receive), send)
            return
        self.answered += 1
        # The headers Starlette's Response(answer, media_type="application/json") sends.
        headers = [(b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def _answer(state: Any, body: bytes, model: str | None, activations: bool) -> bytes | None:
    """The route's answer to a plain grid, or None when the route must handle the request."""
    registry = getattr(state, "registry", None)
    if registry is None or len(body) > PLAIN_GRID_BYTES:
        return None
    child = getattr(state, "predict_process", None)
    if child is not None:  # the second process reads it, if it runs (service/predictprocess.py)
        try:  # the file behind the id: the child has no run list (a queued run's id: the route)
            path = registry.path_of(model)
        except UnknownModelError:
            return None
        answer = await child.answer(model or registry.default_id, path, activations, body)
        if answer is not None or child.ready:
            return answer  # None: passed back, the route names the problem
    grid = plain_grid(body)
    if grid is None:
        return None
    try:
        return await answer_json(state, registry, model, activations, {"pixels": grid})
    except Exception:  # whatever it was, the route repeats the request and names the problem
        return None


def _plain_query(raw: bytes) -> tuple[str | None, bool] | None:
    """(model, activations) of a query holding only those two, each once and plainly valid, as
    FastAPI would read them (Starlette's decoding); None for anything else."""
    if not raw:
        return None, False
    model: str | None = None
    activations: bool | None = None
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if key == "model" and model is None and 0 < len(value) <= MAX_MODEL_ID:
            model = value
        elif key == "activations" and activations is None and value in _BOOLS:
            activations = _BOOLS[value]
        else:
            return None
    return model, bool(activations)


def _is_json(scope: Scope) -> bool:
    """Whether the request's (first) Content-Type is application/json, as the route reads it."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return media_type_of(value.decode("latin-1")) == "application/json"
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
