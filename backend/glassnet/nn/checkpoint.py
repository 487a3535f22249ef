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
import math
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .backend import to_host
from .model import FLOAT_BYTES, MAX_LAYERS, MAX_PARAMS, Sequential

MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
# A run's own checkpoint (weights, two optimizer moments, metadata) at the parameter cap.
MAX_RUN_CHECKPOINT_BYTES = 3 * FLOAT_BYTES * MAX_PARAMS + 64 * 1024 * 1024
MAX_MEMBERS = 4 * 2 * MAX_LAYERS + 3  # weights and biases, two moments each, spec, meta, steps
MAX_HEADER = 4096  # a .npy header of these arrays is ~128 bytes
SPEC_KEY, META_KEY, OPTIM_PREFIX = "__spec__", "__meta__", "optim."


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as a glassnet model."""


class MissingCheckpointError(CheckpointError):
    """No checkpoint file there (never was, or removed before it could be opened)."""


@dataclass
class Checkpoint:
    model: Sequential
    spec: dict[str, Any]
    meta: dict[str, Any]
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """NumPy numbers and arrays as JSON's (``np.float32(0.98)`` from a metric is common)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json_array(value: dict[str, Any], what: str = "meta") -> np.ndarray:
    """``value`` as UTF-8 JSON bytes; ``ValueError`` naming the first entry that is not JSON
    (NaN and infinity are not: the file must read back anywhere)."""
    try:
        text = json.dumps(value, allow_nan=False, default=_plain)
    except (TypeError, ValueError, RecursionError) as exc:
        bad = next((k for k, v in value.items() if not _dumps_ok(v)), None)
        where = f"{what}[{bad!r}]" if bad is not None else what
        raise ValueError(
            f"checkpoint {where}: {exc}; use numbers, strings, lists and objects (no NaN or infinity)"
        ) from None
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _dumps_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False, default=_plain)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


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
    arrays[SPEC_KEY] = _json_array(full_spec, "spec")
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


def _json_value(raw: np.ndarray, key: str, where: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{where}: {key} must be UTF-8 JSON bytes")
    try:
        value = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{where}: {key} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: {key} must be a JSON object")
    return value


class _Archive:
    """An ``.npz`` read member by member, every member's ``.npy`` header checked before its data.

    ``zipfile`` never inflates a member past the size its directory declares, so checking the
    declared sizes (each header's shape × itemsize must account for its member exactly, and their
    sum must stay under ``max_bytes``) bounds what reading can cost, whatever the archive claims.
    """

    def __init__(self, data: bytes, where: str, max_bytes: int) -> None:
        self.where = where
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CheckpointError(f"{where}: not a valid .npz archive ({exc})") from None
        if len(infos) > MAX_MEMBERS:
            raise CheckpointError(f"{where}: {len(infos)} entries; a checkpoint has at most {MAX_MEMBERS}")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.filename[:-4] in self.members:
                raise CheckpointError(f"{where}: unexpected entry {info.filename[:100]!r}")
            self.members[info.filename[:-4]] = info
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes:
            raise CheckpointError(
                f"{where}: its arrays declare {declared:,} bytes uncompressed; the limit is {max_bytes:,}"
            )

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of a member, read from its header only."""
        info = self.members[key]
        try:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER)
                elif version in ((2, 0), (3, 0)):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                offset = f.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError, RuntimeError) as exc:
            # NumPy's reason, unless it shows its parser's insides ("malformed node or string:
            # <ast.Call object at 0x...>", for a header with code in it): then just the fact.
            why = "" if re.search(r"malformed node|object at 0x", str(exc)) else f" ({exc})"
            raise CheckpointError(f"{self.where}: entry {key}: unreadable array header{why}") from None
        if dtype.hasobject:
            raise CheckpointError(f"{self.where}: entry {key} holds Python objects; refused")
        if dtype.kind not in "fiub":
            raise CheckpointError(f"{self.where}: entry {key} has dtype {dtype}, not numbers")
        if offset + math.prod(shape) * dtype.itemsize != info.file_size:
            raise CheckpointError(
                f"{self.where}: entry {key}: its header declares shape {shape} of {dtype} "
                f"({math.prod(shape) * dtype.itemsize:,} bytes), its entry holds {info.file_size - offset:,}"
            )
        return shape, dtype

    def read(self, key: str) -> np.ndarray:
        shape, dtype = self.header(key)
        try:
            with self.zip.open(self.members[key]) as f:
                array = np.lib.format.read_array(f, allow_pickle=False, max_header_size=MAX_HEADER)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{self.where}: entry {key}: unreadable ({exc})") from None
        if array.shape != shape or array.dtype != dtype:
            raise CheckpointError(f"{self.where}: entry {key} does not match its header")
        return array

    def json(self, key: str) -> dict[str, Any]:
        if key not in self.members:
            raise CheckpointError(f"{self.where}: not a glassnet checkpoint (no {key} entry)")
        return _json_value(self.read(key), key, self.where)


def _read_bytes(source: str | Path | bytes | BinaryIO, where: str, max_bytes: int) -> bytes:
    if isinstance(source, str | Path):
        path = Path(source)
        try:  # opened once: a file removed meanwhile is missing, never a half-read one
            with path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                if stat.S_ISDIR(info.st_mode):
                    raise IsADirectoryError(path)
                if not stat.S_ISREG(info.st_mode):
                    raise MissingCheckpointError(f"{where}: not a regular file")
                if info.st_size > max_bytes:
                    raise CheckpointError(f"{where}: larger than {max_bytes // 2**20} MiB")
                data = handle.read(max_bytes + 1)
        except IsADirectoryError:
            raise MissingCheckpointError(f"{where} is a directory, not a checkpoint file") from None
        except (FileNotFoundError, NotADirectoryError):
            raise MissingCheckpointError(f"{where}: no such file") from None
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CheckpointError(f"{where}: larger than {max_bytes // 2**20} MiB")
    return data


def _spec_model(spec: dict[str, Any], where: str, allocate: bool) -> Sequential:
    try:
        return Sequential.from_spec(spec, allocate=allocate)
    except ValueError as exc:
        raise CheckpointError(f"{where}: stored spec does not build a network: {exc}") from None


def read_checkpoint_info(
    source: str | Path | bytes | BinaryIO, name: str | None = None, max_bytes: int = MAX_CHECKPOINT_BYTES
) -> tuple[dict[str, Any], dict[str, Any], Sequential]:
    """(spec, meta, shape-only model) of a checkpoint, without reading its weights."""
    where = name or (str(source) if isinstance(source, str | Path) else "checkpoint")
    archive = _Archive(_read_bytes(source, where, max_bytes), where, max_bytes)
    spec, meta = archive.json(SPEC_KEY), archive.json(META_KEY)
    return spec, meta, _spec_model(spec, where, allocate=False)


def read_checkpoint(
    source: str | Path | bytes | BinaryIO,
    name: str | None = None,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
    optimizer: bool = True,
) -> Checkpoint:
    """Load and validate a checkpoint from a path, bytes or a binary file object.

    Order of checks, cheapest first: the archive's directory (entry names, declared sizes under
    ``max_bytes``), the spec (built shape-only: parameter and activation caps), then every
    array's header (dtype, shape against the spec, declared size) before its data is read;
    weights must be finite once cast to float32. No pickle: object arrays are refused.
    ``optimizer=False`` skips the optimizer state (checked, not read). Any problem ->
    :class:`CheckpointError`.
    """
    where = name or (str(source) if isinstance(source, str | Path) else "checkpoint")
    archive = _Archive(_read_bytes(source, where, max_bytes), where, max_bytes)
    spec, meta = archive.json(SPEC_KEY), archive.json(META_KEY)
    expected = _spec_model(spec, where, allocate=False).param_shapes()
    params, optim_keys = {}, []
    for key in archive.members:
        if key in (SPEC_KEY, META_KEY):
            continue
        if key.startswith(OPTIM_PREFIX):
            name_ = key[len(OPTIM_PREFIX) :]
            shape, dtype = archive.header(key)
            param = name_.rsplit(".", 1)[0] if name_ != "steps" else None
            if param is None:
                ok = shape == () and dtype.kind in "iu"
            else:
                ok = param in expected and shape == expected[param] and dtype.kind == "f"
            if not ok:
                raise CheckpointError(f"{where}: optimizer entry {name_!r} does not match the spec")
            optim_keys.append(key)
            continue
        if key not in expected:
            raise CheckpointError(f"{where}: parameters do not match the spec: unexpected {key!r}")
        shape, dtype = archive.header(key)
        if shape != expected[key]:
            raise CheckpointError(f"{where}: parameter {key}: expected shape {expected[key]}, got {shape}")
        if dtype.kind != "f":
            raise CheckpointError(f"{where}: parameter {key}: expected floating-point numbers, got {dtype}")
        params[key] = key
    missing = sorted(set(expected) - set(params))
    if missing:
        raise CheckpointError(f"{where}: parameters do not match the spec: missing {missing}")
    model = _spec_model(spec, where, allocate=True)
    try:
        model.load_state_dict({key: archive.read(key) for key in params})
    except CheckpointError:
        raise  # already names the file
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    optim = {k[len(OPTIM_PREFIX) :]: archive.read(k) for k in optim_keys} if optimizer else {}
    return Checkpoint(model=model, spec=spec, meta=meta, optimizer_state=optim)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file (see :func:`read_checkpoint`)."""
    return read_checkpoint(path)
