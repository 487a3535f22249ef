"""A class on one glassnet: students join, the teacher sees and controls every run and pins the
one everyone watches (``/api/join``, ``/api/me``, ``/api/class…``), and ``/api/executor`` (where
runs train). Who is asking comes from :mod:`..security` (see :mod:`..owners`)."""

from __future__ import annotations

import logging
import math
import secrets
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..errors import coded
from ..owners import NAME_MAX, NAME_RULE, TEACHER, Identity, check_name, identity_of, student_token
from ..protocol import ClassData, ErrorCode, EventType, RunSummary, valid_text
from ..quotas import QuotaError
from ..schemas import ErrorBody
from ..security import TOKEN_COOKIE, client_of, served_links
from .deps import AppState, Manager

router = APIRouter(tags=["class"])
log = logging.getLogger("glassnet.classroom")


class JoinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128, description="the class's join code")
    name: str = Field(
        min_length=1,
        max_length=4 * NAME_MAX,  # spaces around it are trimmed; check_name then holds it to NAME_MAX
        description=f"the student's name, as the class sees it: {NAME_RULE}",
    )


class StudentsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[str] = Field(min_length=1, max_length=1000)


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: Annotated[str, AfterValidator(valid_text)] | None = Field(
        description="the run everyone watches first; null to unpin"
    )


class Me(BaseModel):
    owner: str = Field(description="the name this person's runs are recorded under")
    role: str = Field(description="teacher, student or viewer")


class StudentToken(BaseModel):
    name: str
    token: str
    link: str = Field(description="the address that logs the student in (a path with ?token=)")


class Student(BaseModel):
    name: str
    joined: float = Field(description="when the name joined the class (Unix seconds)")
    runs: int = Field(description="how many runs the student has")


class ClassView(BaseModel):
    you: Me
    pinned: str | None
    students: list[str]
    roster: list[Student] | None = Field(
        None, description="the teacher's view: every student, when they joined and their runs"
    )
    runs: list[RunSummary] = Field(description="every run, oldest first, with its owner")
    executor: dict[str, Any]
    joinable: bool = Field(False, description="whether this server takes a join code (POST /api/join)")
    addresses: list[str] | None = Field(
        None,
        description="the teacher's view: this server's addresses for other machines "
        "(http://192.0.2.2:8000/), "
        "from which a student's link is made when the teacher's page is open on loopback",
    )


def _teacher(request: Request, what: str) -> Identity:
    identity = identity_of(request)
    if not identity.teacher:
        raise HTTPException(403, f"only the teacher may {what}")
    return identity


def join_code_key(code: str) -> bytes:
    """A join code as it is compared: without the spaces around it and without case. The teacher
    writes ``maths-7b`` on the board; a phone's keyboard types ``Maths-7b`` (it capitalises a
    field's first letter) or ``maths-7b `` (a space after a word it completed), and a student
    cannot see why "not this class's code". Wrong codes are still counted (quotas), so the few
    codes case merges make guessing no easier in practice."""
    return code.strip().casefold().encode()


def _secret(state: Any) -> str:
    token = state.settings.token
    if not token:
        raise HTTPException(
            409, "students need token mode: start the server with GLASSNET_TOKEN or GLASSNET_JOIN_CODE"
        )
    return token


@router.post(
    "/api/join",
    response_model=StudentToken,
    responses={
        403: {"model": ErrorBody, "description": "wrong join code (code wrong_join_code)"},
        404: {"model": ErrorBody, "description": "this server takes no join code"},
        409: {
            "model": ErrorBody,
            "description": "the name is taken (name_taken), or the class is full (class_full)",
        },
        422: {"model": ErrorBody, "description": "a name that cannot be used"},
        429: {
            "model": ErrorBody,
            "description": "too many wrong codes (quota), or names (names_quota), from this client",
        },
    },
    summary="Join the class with its code: a token of your own (also set as the browser's cookie)",
)
async def join(body: JoinBody, request: Request, response: Response, state: AppState) -> StudentToken:
    code = state.settings.join_code
    if not code:
        raise HTTPException(404, "this server takes no join code (GLASSNET_JOIN_CODE is not set)")
    client = client_of(request)
    if not secrets.compare_digest(join_code_key(body.code), join_code_key(code)):
        state.quotas.check(client, "joins")  # wrong codes are counted: no guessing at speed
        state.quotas.count(client, "joins")
        raise coded(HTTPException(403, "that is not this class's join code"), ErrorCode.WRONG_JOIN_CODE)
    try:
        name = check_name(body.name)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    taken = coded(
        HTTPException(
            409,
            f"the name {name!r} is taken in this class: if it is yours, ask the teacher for your link "
            "(the Class section makes it); else choose another name",
        ),
        ErrorCode.NAME_TAKEN,
    )
    # A taken name first: it never uses up the quota, and waiting would not change the answer. It
    # does not hand out that name's token either: anyone may type a name (the teacher makes links).
    if state.classroom.holder(name) is not None:
        raise taken
    # Each name is a student with caps of its own: one client may take only a few an hour.
    try:
        state.quotas.check(client, "names")
    except QuotaError as exc:
        wait = max(1, math.ceil(exc.retry_after))
        log.warning("join refused: %s (a class behind one address needs it raised)", exc)  # the setting
        raise coded(
            HTTPException(
                429,
                f"this network has already joined {state.settings.quota_names_per_hour} names this hour; "
                f"ask the teacher to add you, or retry in {wait} s",
                headers={"Retry-After": str(wait)},
            ),
            ErrorCode.NAMES_QUOTA,
        ) from None
    joined = state.classroom.join(name, state.settings.max_students)
    if joined is None:
        log.warning("join refused: the class is full (GLASSNET_MAX_STUDENTS=%d)", state.settings.max_students)
        raise coded(
            HTTPException(
                409, f"the class is full ({state.settings.max_students} students); ask the teacher"
            ),
            ErrorCode.CLASS_FULL,
        )
    if not joined:
        raise taken
    state.quotas.count(client, "names")
    token = student_token(_secret(state), name)
    response.headers["set-cookie"] = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    return StudentToken(name=name, token=token, link=f"/?token={token}")


@router.get("/api/me", response_model=Me, summary="Who this request is: owner name and role")
async def me(request: Request) -> Me:
    return Me(**identity_of(request).as_dict())


@router.post(
    "/api/class/students",
    response_model=list[StudentToken],
    responses={
        403: {"model": ErrorBody, "description": "not the teacher"},
        409: {"model": ErrorBody, "description": "the server has no token (students need token mode)"},
        422: {"model": ErrorBody, "description": "a name that cannot be used"},
    },
    summary="Tokens to hand out to students (teacher only)",
)
async def students(body: StudentsBody, request: Request, state: AppState) -> list[StudentToken]:
    _teacher(request, "hand out student tokens")
    secret = _secret(state)
    try:
        names = [check_name(raw) for raw in body.names]  # every name, before any is enrolled
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    tokens = []
    for name in names:
        name = state.classroom.enrol(name)  # the roster's spelling: "ann" for "ANN"
        token = student_token(secret, name)
        tokens.append(StudentToken(name=name, token=token, link=f"/?token={token}"))
    return tokens


@lru_cache(maxsize=4)
def _addresses(host: str, port: int) -> tuple[str, ...]:
    """This server's addresses for other machines (the ones ``serve`` prints); asked once: the
    teacher's page reads the class every 5 s."""
    return tuple(served_links(host, port)[1])


@router.get("/api/class", response_model=ClassView, summary="The class: every run with its owner")
async def class_view(request: Request, state: AppState, manager: Manager) -> ClassView:
    identity = identity_of(request)
    runs = manager.store.list()
    roster: list[Student] | None = None
    addresses: list[str] | None = None
    if identity.teacher and state.settings.token:  # the teacher of a class: who joined, their runs
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.get("owner") or ""] = counts.get(run.get("owner") or "", 0) + 1
        roster = [Student(name=n, joined=j, runs=counts.get(n, 0)) for n, j in state.classroom.roster()]
        # A student's link made on the teacher's page at http://127.0.0.1/ opened nowhere but on the
        # teacher's machine (QA5 class #5): the page makes it with one of these instead.
        addresses = list(_addresses(state.settings.host, state.settings.port))
    return ClassView(
        you=Me(**identity.as_dict()),
        pinned=state.classroom.pinned,
        students=state.classroom.students(),
        roster=roster,
        runs=manager.summaries(runs),
        executor=manager.executor.describe(),
        joinable=bool(state.settings.join_code),
        addresses=addresses,
    )


@router.put(
    "/api/class/pinned",
    response_model=ClassData,
    responses={
        403: {"model": ErrorBody, "description": "not the teacher"},
        404: {"model": ErrorBody, "description": "no such run"},
    },
    summary="Pin the class run everyone watches first (teacher only)",
)
async def pin(body: PinBody, request: Request, state: AppState) -> ClassData:
    _teacher(request, "pin the class run")
    if body.run is not None and state.manager.store.get(body.run) is None:
        raise HTTPException(404, f"no run with id {body.run!r}")
    state.classroom.pin(body.run)
    data = ClassData(pinned=body.run)
    if body.run is not None:
        state.hub.follow(body.run)  # sockets that follow now watch the class run
    state.hub.publish(EventType.CLASS, body.run, data, everyone=True)
    return data


@router.get("/api/executor", summary="Where runs train: local processes or a Ray cluster")
async def executor(manager: Manager) -> dict[str, Any]:
    return manager.executor.describe()


__all__ = ["TEACHER", "router"]
