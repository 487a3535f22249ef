"""Where the command line reads and writes: output checks made *before* the work starts, the
default place for trained models, and model names that mean the bundled checkpoints.

Every problem is a ``ValueError`` naming the path and the option, so the CLI prints one line.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from .resources import resource_dir

__all__ = ["bundled_models", "default_model_path", "resolve_model", "writable_dir", "writable_file"]


def writable_dir(path: str | Path, option: str) -> Path:
    """Create ``path`` (and its parents) if needed and prove a file can be written in it."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".glassnet-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"{option} {folder}: cannot create or write there ({reason})") from None
    return folder


def writable_file(path: str | Path, option: str) -> Path:
    """Check that ``path`` can be written (its folder created if needed), without touching ``path``."""
    if not str(path).strip():
        raise ValueError(f"{option}: an empty file name; give the file to write")
    file = Path(path).expanduser()
    if file.is_dir():
        raise ValueError(f"{option} {file}: is a folder; give a file name")
    if file.exists() and not os.access(file, os.W_OK):
        raise ValueError(f"{option} {file}: the file exists and is not writable")
    try:
        writable_dir(file.parent, option)
    except ValueError as exc:
        raise ValueError(f"{option} {file}: cannot write the file: {str(exc).split(': ', 1)[1]}") from None
    return file


def default_model_path(name: str, data_dir: Path, now: dt.datetime | None = None) -> Path:
    """``<data dir>/models/<name>-<UTC time>.npz``: never a bundled model, never an earlier run's
    file; ``glassnet serve`` with the same data dir lists it (id ``models:<file stem>``)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    return data_dir / "models" / f"{name}-{stamp}.npz"


def bundled_models() -> dict[str, Path]:
    """The models that ship with glassnet, by name (``cnn``, ``mlp``, ``notes``)."""
    folder = resource_dir("models")
    return {p.stem: p for p in sorted(folder.glob("*.npz"))} if folder.is_dir() else {}


def resolve_model(name_or_path: str) -> Path:
    """A checkpoint file: a path that exists, else the bundled model of that name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ValueError(f"{name_or_path}: is a folder; give a checkpoint file (.npz) or a bundled model")
    bundled = bundled_models()
    if name_or_path in bundled:
        return bundled[name_or_path]
    names = ", ".join(bundled) or "none installed"
    raise ValueError(f"{name_or_path}: no such file, and not a bundled model ({names})")
