"""``/ws``: the live stream (one socket per browser) and ``/api/protocol`` (its JSON schema).

Before a socket is accepted, :mod:`..security` checks its Host, token and ``Origin`` (a foreign
page cannot open a socket to a local server). On connect the server sends ``hello`` and
subscribes the socket to the run that trains now, if any. Until the client sends its own
``subscribe``/``unsubscribe``, the socket *follows*: each run that starts training replaces what it watches.

Client messages: ``subscribe`` / ``unsubscribe`` a run (its status, latest ``epoch`` and latest
heavy frames come at once), ``predict`` a drawn digit. A malformed message is answered with an
``error`` event and the socket stays open; a message over ``max_ws_message_bytes`` closes it with 1009.
Everything the server sends goes through the viewer's queue in :mod:`..hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ...nn.checkpoint import CheckpointError
from ..errors import JSONConstantError, describe_validation, json_problem, strict_loads
from ..hub import Hub, Viewer, close_quietly
from ..inference import UnknownModelError
from ..owners import identity_of
from ..pool import PoolBusyError
from ..protocol import (
    CLIENT_MESSAGE,
    SURROGATE_PROBLEM,
    ClientMessage,
    EpochData,
    ErrorData,
    EventType,
    HelloData,
    PanelsMessage,
    PredictionData,
    PredictMessage,
    ProtocolSchema,
    StatusData,
    SubscribeMessage,
    UnsubscribeMessage,
    lone_surrogate,
    protocol_schema,
)
from ..worker import RunManager
from .predict import PIXELS_HINT, as_grid, check_predict

log = logging.getLogger("glassnet.ws")
CLIENT_TYPES = ("subscribe", "unsubscribe", "predict", "panels")
router = APIRouter(tags=["live stream"])


@router.get(
    "/api/protocol", response_model=ProtocolSchema, summary="The WebSocket protocol's JSON schema (versioned)"
)
async def protocol() -> dict[str, Any]:
    return protocol_schema()


def _error(hub: Hub, viewer: Viewer, code: str, message: str, id_: Any = None) -> None:
    hub.send_to(viewer, EventType.ERROR, None, ErrorData(code=code, message=message, id=id_))


def _subscribe(hub: Hub, manager: RunManager, viewer: Viewer, run_id: str) -> bool:
    run = manager.store.get(run_id)
    if run is None:
        return False
    viewer.runs.add(run_id)
    hub.send_to(viewer, EventType.STATUS, run_id, StatusData(**manager.summaries([run])[0].model_dump()))
    _replay(hub, manager, viewer, run_id)
    return True


def _replay(hub: Hub, manager: RunManager, viewer: Viewer, run_id: str) -> None:
    """A new subscriber's catch-up: the run's latest epoch summary and heavy frames."""
    if not hub.has_latest(run_id, EventType.EPOCH):
        # No epoch ended since the server started (e.g. a finished run): the last stored one.
        last = manager.store.last_epoch(run_id)
        if last is not None:
            try:
                hub.send_to(viewer, EventType.EPOCH, run_id, EpochData(**last))
            except ValidationError:
                log.warning("run %s: stored epoch %s does not fit the protocol", run_id, last.get("epoch"))
    hub.replay_latest(viewer, run_id)


async def _predict(ws: WebSocket, viewer: Viewer, message: PredictMessage) -> None:
    state = ws.app.state
    hub: Hub = state.hub
    registry = getattr(state, "registry", None)
    if registry is None:
        _error(hub, viewer, "unavailable", "predictions are not available yet", message.id)
        return
    # Default: the run this socket watches (its latest weights; the one training now first),
    # else — or while that run has no weights yet — the bundled default model.
    model_id = message.model
    if model_id is None:
        manager: RunManager = state.manager
        for run_id in sorted(viewer.runs, key=lambda r: r != manager.current()):
            if manager.checkpoint_for(run_id) is not None:
                model_id = run_id
                break
    started = time.perf_counter()
    try:
        result = await state.pool.run(
            registry.predict,
            pixels=message.pixels,
            model_id=model_id,
            activations=True,
            # A run without weights yet (queued, just started): the default model answers.
            fallback=model_id is not None and state.manager.is_run(model_id),
        )
    except UnknownModelError as exc:
        _error(hub, viewer, "not_found", str(exc), message.id)
        return
    except (ValueError, CheckpointError) as exc:
        _error(hub, viewer, "bad_message", str(exc), message.id)
        return
    except PoolBusyError as exc:
        _error(hub, viewer, "busy", str(exc), message.id)
        return
    data = PredictionData(**result.model_dump(), id=message.id, ms=(time.perf_counter() - started) * 1000)
    hub.send_to(viewer, EventType.PREDICTION, None, data)


class BadMessageError(Exception):
    """A client message that cannot be taken: answered with an ``error`` event, socket open."""

    def __init__(self, code: str, message: str, id_: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.id = code, message, id_


def _fast_predict(raw: Any, text: str) -> ClientMessage | None:
    """A ``predict`` whose pixels are plainly a digit, its grid converted by NumPy in one C call
    (:func:`.predict.as_grid`) instead of pydantic's check of each number (~50 ms for a 1 MiB
    message, holding the GIL); the other fields are validated as usual. None: the full path."""
    if type(raw) is not dict or raw.get("type") != "predict" or type(raw.get("pixels")) is not list:
        return None
    if "true" in text or "false" in text:  # a boolean among the numbers would read as 0/1
        return None
    grid = as_grid(raw["pixels"])
    if grid is None:
        return None
    try:
        rest = CLIENT_MESSAGE.validate_python({**raw, "pixels": []})
    except ValidationError:
        return None  # the full path names the problem
    return rest.model_copy(update={"pixels": grid})


PREDICT_FIELDS = tuple(PredictMessage.model_fields)  # type, pixels, model, id


def _predict_problem(raw: dict[str, Any]) -> str | None:
    """A ``predict`` message's problem with its fields or pixels in REST's words
    (:func:`.predict.check_predict`), None when those are fine (the model or id is not)."""
    if raw.get("type") != "predict":
        return None
    try:
        check_predict(raw, PREDICT_FIELDS, "the message")
    except ValueError as exc:
        return str(exc)
    return None


def _id_of(raw: Any) -> str | int | None:
    """The ``id`` a message carries, to echo on its error (None if it has none usable)."""
    return raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str | int) else None


def parse_message(text: str) -> ClientMessage:
    """A client message from its text; :class:`BadMessageError` naming the problem otherwise. Any
    ``ValueError`` of ``json.loads`` counts (a 5000-digit number is a plain ``ValueError``, not a
    ``JSONDecodeError``), worded for the client (:func:`.bodies.json_problem`); a ``predict``'s
    pixels are named in REST's words (NaN included: :func:`.errors.strict_loads`)."""
    try:
        raw = strict_loads(text, PIXELS_HINT)
    except JSONConstantError as exc:  # NaN, Infinity: as REST words them, the id echoed
        raise BadMessageError("bad_message", str(exc), _id_of(json.loads(text))) from None
    except (ValueError, RecursionError) as exc:
        raise BadMessageError("bad_json", json_problem(exc, "the message")) from None
    if "\\u" in text and (where := lone_surrogate(raw)) is not None:  # only an escape makes one
        raise BadMessageError("bad_message", f"{where}: {SURROGATE_PROBLEM}")
    fast = _fast_predict(raw, text)
    if fast is not None:
        return fast
    try:
        message = CLIENT_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        if not isinstance(raw, dict) or raw.get("type") not in CLIENT_TYPES:
            found = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            text_ = f"unknown message type {found!r}; send subscribe, unsubscribe, predict or panels"
        else:
            text_ = _predict_problem(raw) or describe_validation(list(exc.errors(include_input=False)))[0]
        raise BadMessageError("bad_message", text_, _id_of(raw)) from None
    # pydantic takes ragged rows and an empty list; REST names them (check_pixels)
    problem = _predict_problem(raw) if isinstance(message, PredictMessage) else None
    if problem is not None:
        raise BadMessageError("bad_message", problem, _id_of(raw))
    return message


# Messages up to this size are parsed on the event loop (a drawing: 56x56 is ~12 KiB, well under a
# millisecond); bigger ones, up to max_ws_message_bytes (1 MiB), in the heavy pool: there the
# loop gets the GIL back between the parse's C calls (~30 ms each at most) instead of waiting
# for the whole message (~80 ms per MiB on the loop, which stalled /healthz and every socket).
PLAIN_MESSAGE_CHARS = 64 * 1024


async def _handle(ws: WebSocket, viewer: Viewer, text: str) -> None:
    state = ws.app.state
    hub: Hub = state.hub
    try:
        if len(text) <= PLAIN_MESSAGE_CHARS:
            message = parse_message(text)
        else:
            message = await state.pool.run(parse_message, text)
    except BadMessageError as exc:
        _error(hub, viewer, exc.code, exc.message, exc.id)
        return
    except PoolBusyError as exc:
        _error(hub, viewer, "busy", str(exc))
        return
    if isinstance(message, SubscribeMessage | UnsubscribeMessage):
        viewer.follow = False  # the client chooses from now on
    if isinstance(message, PanelsMessage):
        hub.set_panels(viewer, {EventType(t) for t in message.live})
    elif isinstance(message, SubscribeMessage):
        if not _subscribe(hub, state.manager, viewer, message.run):
            _error(hub, viewer, "not_found", f"no run with id {message.run!r}")
    elif isinstance(message, UnsubscribeMessage):
        viewer.runs.discard(message.run)
    elif ws.scope.get("state", {}).get("read_only"):
        _error(
            hub,
            viewer,
            "unauthorized",
            "predict needs the server's token (this socket only views)",
            message.id,
        )
    else:
        await _predict(ws, viewer, message)


@router.websocket("/ws")
async def live(ws: WebSocket) -> None:
    state = ws.app.state
    settings = state.settings
    # Host, token and Origin were checked before this (service/security.py: Guard).
    if state.closing:
        await ws.close(code=1001)
        return
    await ws.accept()
    hub: Hub = state.hub
    manager: RunManager = state.manager
    viewer = hub.add(ws)
    pump = asyncio.create_task(hub.pump(viewer))
    pinned = state.classroom.pinned
    if pinned is not None and manager.store.get(pinned) is None:
        pinned = None
    current = pinned or manager.current()  # the class run the teacher pinned comes first
    if current is not None:
        viewer.runs.add(current)
    hello = HelloData(
        runs=manager.summaries(manager.store.list()),
        current=current,
        subscribed=sorted(viewer.runs),
        max_message_bytes=settings.max_ws_message_bytes,
        pinned=pinned,
        you=identity_of(ws).as_dict(),
    )
    hub.send_to(viewer, EventType.HELLO, current, hello)
    if current is not None:
        _replay(hub, manager, viewer, current)
    try:
        while not viewer.closed:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                if len(data) > settings.max_ws_message_bytes:
                    await close_quietly(ws, 1009, "message too big")
                    break
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    _error(hub, viewer, "bad_json", "binary messages must be UTF-8 JSON")
                    continue
            if len(text) > settings.max_ws_message_bytes:
                await close_quietly(ws, 1009, "message too big")
                break
            try:
                await _handle(ws, viewer, text)
            except WebSocketDisconnect:
                raise
            except Exception:  # a bug on one message must not end the socket (or print a bare traceback)
                state.internal_errors = getattr(state, "internal_errors", 0) + 1
                log.exception("ws: a client message failed")
                _error(hub, viewer, "internal", "the server failed on this message; see its log")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.remove(viewer)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
