"""Who owns a run, and who may control it: students and a teacher.

Identities (resolved by :class:`..security.Guard` for every request and socket, kept in the
ASGI scope's ``state["identity"]``):

- **No token** (the loopback default, one person at a machine): everyone is the teacher — any
  run can be controlled, as before — and runs are recorded under the browser's own name, the
  ``glassnet_owner`` cookie (or ``X-Glassnet-Owner`` header) the page keeps, else ``local``. So
  "my runs" still means something on a shared loopback server.
- **Token mode** (``GLASSNET_TOKEN``, or bound beyond loopback): the server's token is the
  **teacher**'s. A **student** holds a token of their own: ``st.<name>.<signature>``, an HMAC of
  the name keyed by the teacher's token (stateless: nothing to look up per request; it stays
  valid as long as the teacher's token does). The teacher hands them out (``POST
  /api/class/students``), or students take one with the class's join code (``POST /api/join``,
  when ``GLASSNET_JOIN_CODE`` is set; a name can be taken once). A student may create runs and
  control only their own; the teacher may control, pin, stop and delete any.

The roster (names that joined) and the pinned "class run" live in the server's SQLite file
(:class:`Classroom`). Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OWNER_COOKIE = "glassnet_owner"
OWNER_HEADER = "x-glassnet-owner"
STUDENT_PREFIX = "st."
TEACHER = "teacher"
LOCAL = "local"
NAME_MAX = 40
NAME_PUNCTUATION = frozenset(" _.@-")
NAME_RULE = (
    f"1-{NAME_MAX} letters or digits (in any script: José, 张伟), spaces and . _ @ -, "
    "starting with a letter or digit"
)


@dataclass(frozen=True, slots=True)
class Identity:
    """The person behind a request: the name runs are recorded under and whether they teach."""

    owner: str
    teacher: bool
    viewer_only: bool = False  # token mode, no token, open view: may watch, not act

    def may_control(self, run_owner: str | None) -> bool:
        """The teacher controls every run; a student only their own."""
        return self.teacher or (not self.viewer_only and run_owner == self.owner)

    def as_dict(self) -> dict[str, Any]:
        role = "teacher" if self.teacher else "viewer" if self.viewer_only else "student"
        return {"owner": self.owner, "role": role}


def not_yours(action: str, what: str, owner: str | None) -> str:
    """The 403 message when someone other than its owner or the teacher tries to change a run
    or an uploaded model: one wording for both, naming the owner."""
    return (
        f"cannot {action} {what}: it belongs to {owner or 'nobody'}; only its owner or the teacher "
        "may change it"
    )


TEACHER_IDENTITY = Identity(TEACHER, teacher=True)
VIEWER_IDENTITY = Identity("", teacher=False, viewer_only=True)


def _name_char(ch: str, first: bool) -> bool:
    """A letter or digit of any script (Unicode categories L and N); after the first character
    also a combining mark (the accents and vowel signs of many scripts) or ``NAME_PUNCTUATION``.
    Control and format characters, other spaces and symbols are not."""
    kind = unicodedata.category(ch)[0]
    if kind in "LN":
        return True
    return not first and (kind == "M" or ch in NAME_PUNCTUATION)


def normal_name(name: str) -> str:
    """A name as it is kept, shown and signed: NFC (one spelling for "é"), trimmed. ASCII names
    are their own normal form, so the tokens handed out before this rule keep working."""
    return unicodedata.normalize("NFC", name).strip()


def name_key(name: str) -> str:
    """What two names are compared by: "ann", "ANN" and "Ａnn" (full width) are one name."""
    return unicodedata.normalize("NFKC", normal_name(name)).casefold()


def usable_name(name: str) -> bool:
    """Whether ``name`` (already normal) follows :data:`NAME_RULE`."""
    return 0 < len(name) <= NAME_MAX and all(_name_char(ch, i == 0) for i, ch in enumerate(name))


def check_name(name: str) -> str:
    """A student's (or browser's) name, normalised (:func:`normal_name`); ValueError naming the rule."""
    name = normal_name(name)
    if not usable_name(name) or name_key(name) in (TEACHER, LOCAL):
        shown = "".join(ch if ch.isprintable() else "?" for ch in name[:60])
        raise ValueError(f"name {shown!r} is not usable: {NAME_RULE} (not 'teacher' or 'local')")
    return name


def _signature(secret: bytes, name: str) -> str:
    return hmac.new(secret, f"glassnet-student:{name}".encode(), hashlib.sha256).hexdigest()[:32]


def student_token(secret: str, name: str) -> str:
    """The token of student ``name`` under the teacher's token ``secret``: the normal name (its
    UTF-8 in base64) and an HMAC of it, so one name has one token however it was typed."""
    name = normal_name(name)
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    return f"{STUDENT_PREFIX}{encoded}.{_signature(secret.encode(), name)}"


def student_of(secret: str, token: str) -> str | None:
    """The student a token names, if its signature is right; else None."""
    if not token.startswith(STUDENT_PREFIX):
        return None
    try:
        encoded, signature = token[len(STUDENT_PREFIX) :].rsplit(".", 1)
        name = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if normal_name(name) != name or not usable_name(name):
        return None
    return name if hmac.compare_digest(signature, _signature(secret.encode(), name)) else None


def browser_owner(headers: dict[str, str], cookies: dict[str, str]) -> str:
    """The name a browser (or script) gives itself without a token: header, cookie, else ``local``."""
    for value in (headers.get(OWNER_HEADER), cookies.get(OWNER_COOKIE)):
        if value:
            try:
                return check_name(value)
            except ValueError:
                continue
    return LOCAL


def identity_of(scope_or_request: Any) -> Identity:
    """The identity the Guard resolved (the teacher when none was: e.g. an app without the Guard)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    found = scope.get("state", {}).get("identity")
    return found if isinstance(found, Identity) else TEACHER_IDENTITY


def digits_owner(scope_or_request: Any) -> str:
    """Whose *my digits* a request means: a student's own set, by name; the teacher's — which on a
    one-person loopback server is everyone's — is the unnamed set ``''`` (as before owners)."""
    identity = identity_of(scope_or_request)
    return "" if identity.teacher else identity.owner


class Classroom:
    """The class's state in the server's SQLite file: the roster and the pinned run."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS class_students (name TEXT PRIMARY KEY, joined REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS class_state (key TEXT PRIMARY KEY, value TEXT);
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(self.SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def join(self, name: str, limit: int) -> bool | None:
        """Take ``name`` for a student: True; False when someone already has it, in any case
        ("ANN" when "ann" joined: :func:`name_key`); None when the class already has ``limit``
        students (the join code is shared: without a cap, whoever has it could fill the roster
        with names)."""
        with self.lock:
            if self._holder(name) is not None:
                return False
            (count,) = self.db.execute("SELECT COUNT(*) FROM class_students").fetchone()
            if count >= limit:
                return None
            cur = self.db.execute("INSERT OR IGNORE INTO class_students VALUES (?, ?)", (name, time.time()))
            return cur.rowcount == 1

    def enrol(self, name: str) -> str:
        """The teacher hands out a token for ``name`` (taken or not): the roster's spelling of it
        ("ann" for "ANN" when ann joined), which is the name the token is for."""
        with self.lock:
            holder = self._holder(name)
            if holder is not None:
                return holder
            self.db.execute("INSERT OR IGNORE INTO class_students VALUES (?, ?)", (name, time.time()))
            return name

    def _holder(self, name: str) -> str | None:
        """The roster's name that is ``name`` when compared by :func:`name_key` (under the lock)."""
        key = name_key(name)
        for (held,) in self.db.execute("SELECT name FROM class_students"):
            if name_key(held) == key:
                return str(held)
        return None

    def holder(self, name: str) -> str | None:
        """The roster's name that is ``name`` (any case or form), or None when nobody has it."""
        with self.lock:
            return self._holder(name)

    def students(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.db.execute("SELECT name FROM class_students ORDER BY joined, name")]

    def roster(self) -> list[tuple[str, float]]:
        """Every student's name and when they joined (Unix seconds), in join order."""
        with self.lock:
            rows = self.db.execute("SELECT name, joined FROM class_students ORDER BY joined, name")
            return [(str(name), float(joined)) for name, joined in rows]

    @property
    def pinned(self) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM class_state WHERE key = 'pinned'").fetchone()
        return row[0] if row else None

    def pin(self, run_id: str | None) -> None:
        with self.lock:
            if run_id is None:
                self.db.execute("DELETE FROM class_state WHERE key = 'pinned'")
            else:
                self.db.execute("INSERT OR REPLACE INTO class_state VALUES ('pinned', ?)", (run_id,))
