"""Checkpoints: a model's spec, weights and metadata in one ``.npz`` file, never pickle.

Layout of the archive (all plain numeric arrays, so ``np.load(..., allow_pickle=False)`` works):

* ``"<i>.<param>"`` — layer i's parameter, e.g. ``"0.W"`` (float32);
* ``"optim.<name>"`` — optional optimizer state (momentum velocities, Adam moments, step count);
* ``"__spec__"`` and ``"__meta__"`` — UTF-8 JSON as uint8 arrays: the model spec (what a user
  could pass to ``--spec``) and metadata (preset, dataset, accuracy, seed, epochs, date, ...).

Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``, so a crash
never leaves a half-written checkpoint under the real name. Loads validate everything and raise
:class:`CheckpointError` (a ``ValueError``) with a message naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .backend import to_host
from .model import Sequential

MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
SPEC_KEY, META_KEY, OPTIM_PREFIX = "__spec__", "__meta__", "optim."


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as a glassnet model."""


@dataclass
class Checkpoint:
    model: Sequential
    spec: dict[str, Any]
    meta: dict[str, Any]
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)


def _json_array(value: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(value, allow_nan=False).encode("utf-8"), dtype=np.uint8)


def checkpoint_bytes(
    model: Sequential,
    meta: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    optimizer_state: dict[str, np.ndarray] | None = None,
) -> bytes:
    """The archive as bytes. ``spec`` defaults to the model's own spec; a fuller spec (a preset
    with its training settings) may be stored instead as long as it builds the same model."""
    # Weights (and optimizer state) go to the host here, whatever device trains them.
    arrays: dict[str, np.ndarray] = {k: to_host(v) for k, v in model.state_dict().items()}
    for name, value in (optimizer_state or {}).items():
        arrays[OPTIM_PREFIX + name] = to_host(value)
    full_spec = {**(spec or {}), **model.spec()}
    arrays[SPEC_KEY] = _json_array(full_spec)
    arrays[META_KEY] = _json_array(meta or {})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp creates 0600; a checkpoint is shareable
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(
    path: str | Path,
    model: Sequential,
    meta: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    optimizer_state: dict[str, np.ndarray] | None = None,
) -> Path:
    """Atomically write ``model`` (and optional optimizer state) to ``path``."""
    atomic_write_bytes(path, checkpoint_bytes(model, meta, spec, optimizer_state))
    return Path(path)


def _read_json(arrays: Any, key: str, where: str) -> dict[str, Any]:
    if key not in arrays.files:
        raise CheckpointError(f"{where}: not a glassnet checkpoint (no {key} entry)")
    raw = arrays[key]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{where}: {key} must be UTF-8 JSON bytes")
    try:
        value = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: {key} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: {key} must be a JSON object")
    return value


def read_checkpoint(source: str | Path | bytes | BinaryIO, name: str | None = None) -> Checkpoint:
    """Load and validate a checkpoint from a path, bytes or a binary file object.

    Rebuilds the model from the stored spec, checks every array's name, dtype and shape against
    it, and refuses object arrays (pickle) outright. Any problem -> :class:`CheckpointError`.
    """
    where = name or (str(source) if isinstance(source, str | Path) else "checkpoint")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"{where}: no such file")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{where}: larger than {MAX_CHECKPOINT_BYTES // 2**20} MiB")
        data = path.read_bytes()
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        data = source.read(MAX_CHECKPOINT_BYTES + 1)
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{where}: larger than {MAX_CHECKPOINT_BYTES // 2**20} MiB")
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{where}: a single array, not a checkpoint archive")
        with arrays:
            spec = _read_json(arrays, SPEC_KEY, where)
            meta = _read_json(arrays, META_KEY, where)
            values = {k: arrays[k] for k in arrays.files if k not in (SPEC_KEY, META_KEY)}
    except CheckpointError:
        raise
    except ValueError as exc:  # numpy refuses object arrays with allow_pickle=False
        raise CheckpointError(f"{where}: unreadable array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{where}: not a valid .npz archive ({exc})") from None
    for key, value in values.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{where}: entry {key} is not a NumPy array")
        if value.dtype.hasobject:
            raise CheckpointError(f"{where}: entry {key} holds Python objects; refused")
    try:
        model = Sequential.from_spec(spec)
    except ValueError as exc:
        raise CheckpointError(f"{where}: stored spec does not build a network: {exc}") from None
    params = {k: v for k, v in values.items() if not k.startswith(OPTIM_PREFIX)}
    optim = {k[len(OPTIM_PREFIX) :]: v for k, v in values.items() if k.startswith(OPTIM_PREFIX)}
    try:
        model.load_state_dict(params)
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    return Checkpoint(model=model, spec=spec, meta=meta, optimizer_state=optim)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file (see :func:`read_checkpoint`)."""
    return read_checkpoint(path)
