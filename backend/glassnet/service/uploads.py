"""Uploaded checkpoints on disk: a safe file name from what the client called it (and the name to
show in messages), and a write
that never replaces an existing file (``runs_dir/uploads/<slug>-<random>.npz``). The registry
validates the bytes first (:meth:`.inference.ModelRegistry.add_uploaded`)."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

UPLOADS = "uploads"  # sub-folder of runs_dir that holds uploaded checkpoints


def slug(filename: str | None) -> str:
    """A safe name stem from an uploaded file name: ``"../My Net!.npz"`` -> ``"my-net"``."""
    stem = Path((filename or "").replace("\\", "/")).name
    stem = stem[:-4] if stem.lower().endswith(".npz") else stem
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:40].strip("-")
    return slug or "model"


def shown_name(filename: str | None, default: str) -> str:
    """An uploaded file's name as the person sent it, for a message: printable characters only (no
    newline or terminal escape in a log line), at most 100; ``default`` when nothing is left."""
    return "".join(ch for ch in filename or "" if ch.isprintable())[:100] or default


def write_new(folder: Path, stem: str, data: bytes) -> Path:
    """Write ``data`` to a new ``folder/<stem>-<random>.npz``; never replaces an existing file.

    The bytes go to a temporary file first (fsynced), which is then hard-linked to the final
    name: ``link`` fails rather than overwrite, so a name clash just draws another name.
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        for _ in range(16):
            path = folder / f"{stem}-{secrets.token_hex(4)}.npz"
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError:  # a filesystem without hard links: check, then rename
                if path.exists():
                    continue
                os.replace(tmp, path)
            return path
        raise OSError(f"could not find a free file name in {folder}")
    finally:
        Path(tmp).unlink(missing_ok=True)
