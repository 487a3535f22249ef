"""The run state machine, once: statuses × actions → the next status.

Every other module — the worker that commands runs, the store that marks runs interrupted at
start-up, the session that ends a run, the page (through ``frontend/js/protocol.js``, which mirrors
:func:`machine_schema` as served in ``GET /api/protocol``) — asks this table instead of comparing
status strings. ``tests/test_status_literals.py`` fails when a status is spelled out anywhere
else (the protocol mirror excepted).

A person's actions: ``pause``, ``resume``, ``step``, ``stop``, ``patch`` (change the learning
rate and friends, or the name), ``delete``. The training process's own endings (``finish``,
``diverge``, ``fail``, ``interrupt``) and the scheduler's ``start`` are events, listed too, so the
whole life of a run reads from one table. Depends on the standard library only.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for the worker slot
    RUNNING = "running"
    PAUSED = "paused"  # its process waits; `step` runs one mini-batch
    FINISHED = "finished"  # all epochs done
    STOPPED = "stopped"  # a user stopped it; continues from its checkpoint with `resume`
    DIVERGED = "diverged"  # the cost became NaN/Inf; the last good checkpoint is kept
    INTERRUPTED = "interrupted"  # the server stopped or died while it was active; resumable
    FAILED = "failed"  # an unexpected error in its process


class RunAction(StrEnum):
    # a person's
    PAUSE = "pause"
    RESUME = "resume"
    STEP = "step"
    STOP = "stop"
    PATCH = "patch"
    DELETE = "delete"
    # the scheduler's and the training process's
    START = "start"
    FINISH = "finish"
    DIVERGE = "diverge"
    FAIL = "fail"
    INTERRUPT = "interrupt"


USER_ACTIONS = (
    RunAction.PAUSE,
    RunAction.RESUME,
    RunAction.STEP,
    RunAction.STOP,
    RunAction.PATCH,
    RunAction.DELETE,
)

S, A = RunStatus, RunAction
_ENDINGS = {A.FINISH: S.FINISHED, A.DIVERGE: S.DIVERGED, A.FAIL: S.FAILED, A.INTERRUPT: S.INTERRUPTED}
# resume from an ended run starts a new process from its last checkpoint: it queues first.
_CONTINUE = {A.RESUME: S.QUEUED, A.PATCH: None, A.DELETE: None}

TRANSITIONS: dict[RunStatus, dict[RunAction, RunStatus | None]] = {
    S.QUEUED: {
        A.START: S.RUNNING,
        A.STOP: S.STOPPED,
        A.PATCH: None,
        A.DELETE: None,
        A.INTERRUPT: S.INTERRUPTED,
    },
    S.RUNNING: {A.PAUSE: S.PAUSED, A.STOP: S.STOPPED, A.PATCH: None, **_ENDINGS},
    S.PAUSED: {A.RESUME: S.RUNNING, A.STEP: S.PAUSED, A.STOP: S.STOPPED, A.PATCH: None, **_ENDINGS},
    S.FINISHED: {A.DELETE: None},
    S.STOPPED: dict(_CONTINUE),
    S.DIVERGED: dict(_CONTINUE),
    S.INTERRUPTED: {**_CONTINUE, A.STOP: S.STOPPED},
    S.FAILED: dict(_CONTINUE),
}
"""``None``: the action keeps the status (patch) or removes the run (delete)."""

# These actions need the run's last checkpoint (there is nothing to continue from without one).
NEEDS_CHECKPOINT: dict[RunStatus, frozenset[RunAction]] = {
    S.STOPPED: frozenset({A.RESUME}),
    S.DIVERGED: frozenset({A.RESUME}),
    S.FAILED: frozenset({A.RESUME}),
}

# A process trains (or waits for `step`) in these; the page stays on such a run.
ACTIVE_STATUSES = frozenset({S.RUNNING, S.PAUSED})
# Waiting for a slot or training: the run's weights are not final yet.
LIVE_STATUSES = frozenset({S.QUEUED, S.RUNNING, S.PAUSED})
ENDED_STATUSES = frozenset(set(RunStatus) - LIVE_STATUSES)
# Whatever ended it, a run with a checkpoint can be continued (``RunSummary.resumable``).
RESUMABLE_STATUSES = frozenset(s for s, t in TRANSITIONS.items() if A.RESUME in t)

WHY_NOT: dict[RunStatus, str] = {
    S.QUEUED: "it waits for the worker slot",
    S.RUNNING: "it is training",
    S.PAUSED: "it is paused",
    S.FINISHED: "it has trained all its epochs; start a new run from its settings to train longer",
    S.STOPPED: "it was stopped before its first checkpoint",
    S.DIVERGED: "it diverged before its first checkpoint",
    S.INTERRUPTED: "it was interrupted",
    S.FAILED: "it failed before its first checkpoint",
}


#: What to do first, for an action that applies after another: said only where that other action
#: applies (a finished run is not told to pause).
HINTS: dict[RunAction, tuple[RunAction, str]] = {
    A.STEP: (A.PAUSE, "; pause it first"),
    A.DELETE: (A.STOP, "; stop it first"),
}


def allowed(status: str, action: str, has_checkpoint: bool = True) -> bool:
    """Whether ``action`` applies to a run in ``status`` (with or without a checkpoint)."""
    status, action = RunStatus(status), RunAction(action)
    if action not in TRANSITIONS[status]:
        return False
    return has_checkpoint or action not in NEEDS_CHECKPOINT.get(status, frozenset())


def next_status(status: str, action: str) -> RunStatus | None:
    """The status after ``action`` (``None``: unchanged, or the run is gone). Raises
    :class:`ValueError` when the action does not apply."""
    status, action = RunStatus(status), RunAction(action)
    if action not in TRANSITIONS[status]:
        raise ValueError(f"cannot {action} a run that is {status}")
    return TRANSITIONS[status][action]


def refusal(run_id: str, status: str, action: str, has_checkpoint: bool = True) -> str | None:
    """The sentence a 409 says when ``action`` does not apply, else None."""
    if allowed(status, action, has_checkpoint):
        return None
    status = RunStatus(status)
    if RunAction(action) in TRANSITIONS[status]:  # it applies, but needs a checkpoint
        return f"cannot {action} run {run_id}: {WHY_NOT[status]}"
    first, hint = HINTS.get(RunAction(action), (None, ""))
    if first is None or first not in TRANSITIONS[status]:
        hint = f"; {WHY_NOT[status]}" if status == S.FINISHED else ""
    return f"cannot {action} run {run_id}: it is {status}{hint}"


def machine_schema() -> dict[str, object]:
    """The table as plain JSON (``GET /api/protocol`` → ``run_machine``; mirrored by the page)."""
    return {
        "statuses": [s.value for s in RunStatus],
        "actions": [a.value for a in RunAction],
        "user_actions": [a.value for a in USER_ACTIONS],
        "transitions": {
            s.value: {a.value: (None if n is None else n.value) for a, n in t.items()}
            for s, t in TRANSITIONS.items()
        },
        "needs_checkpoint": {s.value: sorted(a.value for a in acts) for s, acts in NEEDS_CHECKPOINT.items()},
        "active": sorted(s.value for s in ACTIVE_STATUSES),
        "live": sorted(s.value for s in LIVE_STATUSES),
        "why_not": {s.value: text for s, text in WHY_NOT.items()},
    }
