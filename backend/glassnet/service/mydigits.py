"""*My digits*: the digits a person drew and labelled, kept to teach the network their handwriting.

Each digit is stored in the server's SQLite file (table ``my_digits``, beside the runs) as the
28×28 image prepared exactly like a prediction's input (uint8, 0 = background, 255 = ink: the
MNIST format), its label, the raw strokes when it was drawn on the pad, and its owner (a
student's name; '' for the teacher's set, which on a one-person loopback server is everyone's:
``owners.digits_owner``). They can be exported and imported as IDX files — the same two files
as MNIST, images and labels — or as a small JSON of strokes and images; an import skips the
digits already there (the same image and label), so importing twice adds nothing twice.

Everything that could be large (imports, exports, evaluation) is sized before it is read and
runs off the event loop; a malformed import is a ``ValueError`` naming the problem and stores
nothing.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.mnist import idx_bytes, read_idx_bytes
from ..data.preprocess import SIZE, prepare_pixels
from ..nn.losses import probabilities
from ..nn.model import Sequential

__all__ = ["MAX_DIGITS", "MAX_STROKE_POINTS", "DigitStore", "evaluate"]

MAX_DIGITS = 5000  # per owner
MAX_STROKES = 32
MAX_STROKE_POINTS = 4000  # points over all strokes of one digit
MAX_PAD = 4096  # pad coordinates are in [0, pad]
JSON_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS my_digits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL DEFAULT '',
    label INTEGER NOT NULL,
    image BLOB NOT NULL,
    strokes TEXT,
    pad INTEGER,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS my_digits_owner ON my_digits (owner, id);
"""
INSERT = "INSERT INTO my_digits (owner, label, image, strokes, pad, created) VALUES (?, ?, ?, ?, ?, ?)"
SUMMARY = "SELECT id, label, image, strokes IS NOT NULL AS has_strokes, created FROM my_digits"


def _encode(image: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).decode("ascii")


def _check_label(label: Any) -> int:
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        raise ValueError(f"label must be a digit 0 to 9, got {label!r}")
    return label


def check_strokes(strokes: Any, pad: Any) -> str | None:
    """The strokes as compact JSON, or None; ValueError naming what is wrong with them.

    ``strokes`` is a list of strokes, each a list of [x, y] points in pad pixels (0..pad).
    """
    if strokes is None:
        return None
    if isinstance(pad, bool) or not isinstance(pad, int) or not 1 <= pad <= MAX_PAD:
        raise ValueError(f"pad must be the pad's size in pixels, 1 to {MAX_PAD}, got {pad!r}")
    if not isinstance(strokes, list) or not 1 <= len(strokes) <= MAX_STROKES:
        raise ValueError(f"strokes must be a list of 1 to {MAX_STROKES} strokes")
    total = 0
    for i, stroke in enumerate(strokes):
        if not isinstance(stroke, list) or not stroke:
            raise ValueError(f"strokes[{i}] must be a non-empty list of [x, y] points")
        total += len(stroke)
        if total > MAX_STROKE_POINTS:
            raise ValueError(f"strokes: more than {MAX_STROKE_POINTS} points in all")
        for j, point in enumerate(stroke):
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(type(v) in (int, float) and 0 <= v <= pad for v in point)
            ):
                raise ValueError(f"strokes[{i}][{j}] must be [x, y] with 0 <= x, y <= {pad}")
    return json.dumps(strokes, separators=(",", ":"))


class DigitStore:
    """My digits in SQLite; thread-safe (one connection, a lock), so routes call it from threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=5000")  # the run store writes the same file
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- one digit ------------------------------------------------------------------------------
    def _count(self, owner: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM my_digits WHERE owner = ?", (owner,)).fetchone()[0])

    def _room(self, owner: str, adding: int) -> None:
        have = self._count(owner)
        if have + adding > MAX_DIGITS:
            raise ValueError(
                f"my digits hold at most {MAX_DIGITS}; there are {have}, and {adding} more would not fit "
                "(delete some first)"
            )

    def add(
        self, label: Any, pixels: Any, strokes: Any = None, pad: Any = None, owner: str = ""
    ) -> dict[str, Any]:
        """Label a drawing: prepared like a prediction's input and stored. Raises ValueError."""
        label = _check_label(label)
        prepared = prepare_pixels(pixels)
        if prepared is None:
            raise ValueError("the drawing holds too little ink to read: draw a bigger digit")
        image = np.round(prepared * 255).astype(np.uint8)
        stroke_json = check_strokes(strokes, pad)
        with self._lock:
            self._room(owner, 1)
            row = (owner, label, image.tobytes(), stroke_json, pad if stroke_json else None, time.time())
            cur = self.db.execute(INSERT, row)
            return self._get(int(cur.lastrowid or 0), owner)  # type: ignore[return-value]

    def _get(self, digit_id: int, owner: str) -> dict[str, Any] | None:
        row = self.db.execute(f"{SUMMARY} WHERE id = ? AND owner = ?", (digit_id, owner)).fetchone()
        return _summary(row) if row else None

    def get(self, digit_id: int, owner: str = "") -> dict[str, Any] | None:
        with self._lock:
            return self._get(digit_id, owner)

    def relabel(self, digit_id: int, label: Any, owner: str = "") -> dict[str, Any] | None:
        label = _check_label(label)
        with self._lock:
            self.db.execute(
                "UPDATE my_digits SET label = ? WHERE id = ? AND owner = ?", (label, digit_id, owner)
            )
            return self._get(digit_id, owner)

    def delete(self, digit_id: int, owner: str = "") -> bool:
        with self._lock:
            cur = self.db.execute("DELETE FROM my_digits WHERE id = ? AND owner = ?", (digit_id, owner))
            return cur.rowcount > 0

    def clear(self, owner: str = "") -> int:
        with self._lock:
            return self.db.execute("DELETE FROM my_digits WHERE owner = ?", (owner,)).rowcount

    # -- many -----------------------------------------------------------------------------------
    def list(self, owner: str = "", label: int | None = None) -> list[dict[str, Any]]:
        query = f"{SUMMARY} WHERE owner = ?"
        args: list[Any] = [owner]
        if label is not None:
            query += " AND label = ?"
            args.append(_check_label(label))
        with self._lock:
            rows = self.db.execute(query + " ORDER BY id", args).fetchall()
        return [_summary(r) for r in rows]

    def arrays(self, owner: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids (N,), images (N, 28, 28) uint8, labels (N,) uint8), in the order they were added."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id, label, image FROM my_digits WHERE owner = ? ORDER BY id", (owner,)
            ).fetchall()
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        images = np.frombuffer(b"".join(r["image"] for r in rows), dtype=np.uint8).reshape(-1, SIZE, SIZE)
        labels = np.array([r["label"] for r in rows], dtype=np.uint8)
        return ids, images, labels

    # -- IDX ------------------------------------------------------------------------------------
    def export_idx(self, owner: str = "") -> tuple[bytes, bytes]:
        """(images file, labels file): the uncompressed IDX files, as MNIST's."""
        _, images, labels = self.arrays(owner)
        return idx_bytes(images), idx_bytes(labels)

    def import_idx(self, images: bytes, labels: bytes, owner: str = "") -> dict[str, int]:
        """Add the digits of an IDX pair (raw or gzip); all or nothing. Returns ``{added, skipped}``
        (see :meth:`_insert_all`)."""
        cap = MAX_DIGITS * SIZE * SIZE
        x = read_idx_bytes(images, "images", max_bytes=cap)
        y = read_idx_bytes(labels, "labels", max_bytes=MAX_DIGITS)
        if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE):
            raise ValueError(f"images: expected shape (N, {SIZE}, {SIZE}), got {x.shape}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"labels: expected {x.shape[0]} labels of shape (N,), got {y.shape}")
        if x.shape[0] == 0:
            raise ValueError("images: the file holds no digits")
        bad = np.flatnonzero(y > 9)
        if bad.size:
            raise ValueError(f"labels: label {int(y[bad[0]])} at index {int(bad[0])} is not a digit 0 to 9")
        now = time.time()
        return self._insert_all(
            owner, [(owner, int(lab), img.tobytes(), None, None, now) for img, lab in zip(x, y, strict=True)]
        )

    def _insert_all(self, owner: str, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """Insert rows (as :data:`INSERT` takes them) in one transaction: all or nothing.

        A digit already among ``owner``'s (the same 28×28 image and label) is not added again:
        importing a file twice, or a file exported from here, adds nothing twice. Returns
        ``{"added": n, "skipped": k}``, ``skipped`` counting those already there. Twins inside one
        file are kept as the file has them (an export and import round-trips exactly).
        """
        with self._lock:
            have = {
                (int(r["label"]), bytes(r["image"]))
                for r in self.db.execute("SELECT label, image FROM my_digits WHERE owner = ?", (owner,))
            }
            new = [r for r in rows if (r[1], r[2]) not in have]
            self._room(owner, len(new))
            self.db.execute("BEGIN")
            try:
                self.db.executemany(INSERT, new)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return {"added": len(new), "skipped": len(rows) - len(new)}

    # -- JSON -----------------------------------------------------------------------------------
    def export_json(self, owner: str = "") -> dict[str, Any]:
        with self._lock:
            rows = self.db.execute(
                "SELECT label, image, strokes, pad FROM my_digits WHERE owner = ? ORDER BY id", (owner,)
            ).fetchall()
        return {
            "format": "glassnet-my-digits",
            "version": JSON_VERSION,
            "digits": [
                {
                    "label": r["label"],
                    "image": _encode(np.frombuffer(r["image"], dtype=np.uint8)),
                    "strokes": json.loads(r["strokes"]) if r["strokes"] else None,
                    "pad": r["pad"],
                }
                for r in rows
            ],
        }

    def import_json(self, doc: Any, owner: str = "") -> dict[str, int]:
        """Add the digits of an :meth:`export_json` document; all or nothing. Returns ``{added,
        skipped}`` (see :meth:`_insert_all`)."""
        if not isinstance(doc, dict) or doc.get("format") != "glassnet-my-digits":
            raise ValueError('not a my-digits file: expected {"format": "glassnet-my-digits", ...}')
        if doc.get("version") != JSON_VERSION:
            raise ValueError(
                f"unsupported version {doc.get('version')!r}; this server reads version {JSON_VERSION}"
            )
        digits = doc.get("digits")
        if not isinstance(digits, list) or not digits:
            raise ValueError("digits must be a non-empty list")
        if len(digits) > MAX_DIGITS:
            raise ValueError(f"at most {MAX_DIGITS} digits, got {len(digits)}")
        rows = []
        for i, d in enumerate(digits):
            if not isinstance(d, dict):
                raise ValueError(f"digits[{i}] must be an object")
            try:
                label = _check_label(d.get("label"))
                raw = (
                    base64.b64decode(d.get("image", ""), validate=True)
                    if isinstance(d.get("image"), str)
                    else b""
                )
                strokes = check_strokes(d.get("strokes"), d.get("pad"))
            except ValueError as exc:
                raise ValueError(f"digits[{i}]: {exc}") from None
            except Exception:
                raise ValueError(f"digits[{i}].image is not base64") from None
            if len(raw) != SIZE * SIZE:
                raise ValueError(
                    f"digits[{i}].image must be {SIZE * SIZE} bytes (28x28 uint8), got {len(raw)}"
                )
            rows.append((owner, label, raw, strokes, d.get("pad") if strokes else None))
        now = time.time()
        return self._insert_all(owner, [(*r, now) for r in rows])


def _decode_image(text: Any) -> bytes:
    """A base64 28×28 uint8 image; ValueError when it is not one."""
    if not isinstance(text, str) or len(text) > 4 * SIZE * SIZE:
        raise ValueError("image must be a base64 string of 28x28 bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("image is not valid base64") from None
    if len(raw) != SIZE * SIZE:
        raise ValueError(f"image must be {SIZE * SIZE} bytes (28x28 uint8), got {len(raw)}")
    return raw


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "label": int(row["label"]),
        "image": _encode(np.frombuffer(row["image"], dtype=np.uint8)),
        "strokes": bool(row["has_strokes"]),
        "created": float(row["created"]),
    }


def evaluate(model: Sequential, ids: np.ndarray, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """How a network reads my digits: accuracy, the 10×10 confusion matrix (rows: my label,
    columns: its reading) and each digit's reading with its probability.

    images (N, 28, 28) uint8, labels (N,) — as :meth:`DigitStore.arrays` returns them.
    """
    if len(ids) == 0:
        raise ValueError("there are no digits to evaluate on: label some drawings first")
    x = (images.astype(np.float32) / np.float32(255)).reshape(len(ids), *model.input_shape)
    probs = np.concatenate(
        [probabilities(model.loss, model.forward(x[i : i + 256])) for i in range(0, len(x), 256)]
    )
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    return {
        "count": len(ids),
        "accuracy": float((predicted == labels).mean()),
        "confusion": confusion.tolist(),
        "digits": [
            {"id": int(i), "label": int(lab), "predicted": int(p), "probability": float(pr[p])}
            for i, lab, p, pr in zip(ids, labels, predicted, probs, strict=True)
        ],
    }
