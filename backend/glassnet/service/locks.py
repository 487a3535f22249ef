"""Exclusive file locks (``flock``) for the data dir and for each run's folder, and the clean-up
of temporary files that only an unlocked folder allows.

* The **data-dir lock** (``<data dir>/.glassnet.lock``, holding the server's pid) is taken before
  the server touches anything there: a second ``glassnet serve`` on the same folder learns which
  process holds it and stops, instead of marking the first one's live runs interrupted.
* A **run lock** (``<data dir>/<run id>/.run.lock``) is held by the process training that run:
  a new training process for the run waits for it, so a process orphaned by a killed server
  finishes writing its last checkpoint before the next one reads it.

The kernel drops an ``flock`` when its process dies, however it dies: no stale lock survives a
SIGKILL. Linux only (``fcntl``), like the rest of the service.

Deleting a run first renames its folder into ``<data dir>/.trash/`` (:func:`trash`): one rename,
so its files are gone from their paths at once, and that rename is the delete's point of no
return. Only then is its row dropped and the trashed folder removed. At start-up (the data-dir
lock held) :func:`sweep_deleted` finishes whatever a kill interrupted: a trashed run whose row is
still there loses it, and the trash is emptied. A run folder *outside* the trash is never removed
for want of a row: the row may be missing because the database was moved aside or restored from
a backup (what the damaged-database message advises), and the folder holds the only copy of that
run's checkpoints (:func:`rowless_runs` counts them for the log).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

DATA_DIR_LOCK = ".glassnet.lock"
RUN_LOCK = ".run.lock"
TMP_SUFFIX = ".tmp"  # atomic writes (nn.checkpoint, uploads) name their temporary files *.tmp
TRASH = ".trash"  # deleted runs' folders, renamed here before anything else of them goes
RUN_FOLDER = re.compile(r"[0-9a-f]{12}")  # a run's folder: its id (routes/runs.py makes them)


class LockedError(RuntimeError):
    """Another process holds the lock (its pid, when it wrote one, is in the message)."""


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing); :meth:`acquire` or a ``with``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, timeout: float = 0.0, write_pid: bool = False) -> FileLock:
        """Take the lock, waiting up to ``timeout`` seconds; :class:`LockedError` if not."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    who = f"process {holder}" if holder else "another process"
                    raise LockedError(f"{self.path.parent} is in use by {who}") from None
                time.sleep(0.05)
        if write_pid:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def holder(self) -> int | None:
        """The pid the holder wrote, if any."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text().strip() or 0) or None
        return None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_temporary_files(folder: Path) -> list[Path]:
    """Delete ``.*.tmp`` files (left by a process killed mid-write) directly in ``folder``."""
    removed = []
    if folder.is_dir():
        for path in folder.glob(f".*{TMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def clean_data_dir(data_dir: Path) -> list[Path]:
    """At start-up: temporary files of the data dir's run folders and uploads, except in a run
    folder whose lock is held (an orphaned training process may still be writing there)."""
    removed = remove_temporary_files(data_dir)
    if not data_dir.is_dir():
        return removed
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        lock = FileLock(folder / RUN_LOCK)
        if not (folder / RUN_LOCK).exists():
            removed += remove_temporary_files(folder)
            continue
        try:
            lock.acquire()
        except LockedError:
            continue
        try:
            removed += remove_temporary_files(folder)
        finally:
            lock.release()
    return removed


def trash(data_dir: Path, run_id: str) -> Path | None:
    """Rename the run's folder into the trash (unreachable at once); its new path, or None when
    it has none."""
    folder = data_dir / run_id
    if not folder.is_dir():
        return None
    bin_ = data_dir / TRASH
    bin_.mkdir(exist_ok=True)
    target = bin_ / f"{run_id}.{secrets.token_hex(4)}"
    try:
        folder.rename(target)
    except FileNotFoundError:
        return None
    return target


def sweep_deleted(data_dir: Path, has_row: Callable[[str], bool], forget: Callable[[str], None]) -> list[str]:
    """At start-up, with the data dir's lock held: finish the deletes a kill interrupted (see the
    module docstring): every folder in the trash goes, and a trashed run whose row is still there
    (``has_row(id)``, readable or not) loses it (``forget(id)``). The ids whose files were removed."""
    removed: list[str] = []
    bin_ = data_dir / TRASH
    if bin_.is_dir():
        for entry in sorted(bin_.iterdir()):
            run_id = entry.name.split(".")[0]
            if RUN_FOLDER.fullmatch(run_id) and has_row(run_id):
                forget(run_id)  # renamed into the trash: the delete had been decided
            _remove(entry)
            removed.append(run_id)
    return removed


def rowless_runs(data_dir: Path, has_row: Callable[[str], bool]) -> list[str]:
    """The run folders (with a run lock: a run trained there) that have no row in the database:
    kept, never removed (the module docstring says why)."""
    if not data_dir.is_dir():
        return []
    return [
        p.name
        for p in sorted(data_dir.iterdir())
        if p.is_dir() and RUN_FOLDER.fullmatch(p.name) and (p / RUN_LOCK).exists() and not has_row(p.name)
    ]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


_held: dict[Path, tuple[FileLock, int]] = {}  # data dirs this process holds, with a use count


def hold_data_dir(data_dir: Path) -> FileLock:
    """Take (or, within this process, share) the data dir's lock; :class:`LockedError` naming
    the holder's pid when another process has it. Pair with :func:`release_data_dir`."""
    key = Path(data_dir).resolve()
    if key in _held:
        lock, count = _held[key]
        _held[key] = (lock, count + 1)
        return lock
    lock = FileLock(key / DATA_DIR_LOCK)
    try:
        lock.acquire(write_pid=True)
    except LockedError:
        holder = lock.holder()
        who = f"another glassnet serve (process {holder})" if holder else "another process"
        raise LockedError(
            f"the data dir {data_dir} is in use by {who}; stop it, or serve another --data-dir"
        ) from None
    _held[key] = (lock, 1)
    return lock


def release_data_dir(data_dir: Path) -> None:
    key = Path(data_dir).resolve()
    if key not in _held:
        return
    lock, count = _held[key]
    if count > 1:
        _held[key] = (lock, count - 1)
    else:
        del _held[key]
        lock.release()
