"""The data dir's disk: free space, the size cap, and what a full disk looks like.

A full disk is never a 500: requests that would write refuse early with 507 and a message when
free space is under ``min_free_bytes`` or the data dir holds more than ``max_data_bytes``
(:meth:`DiskCheck.require_room`); a write that still hits ENOSPC (another writer filled the disk
meanwhile) is answered 507 by the error handlers (:func:`disk_full`). Training processes end
their run ``interrupted`` on ENOSPC (service/session.py), and the run store keeps status changes
it cannot write in memory until it can (service/store.py).
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

USAGE_TTL_S = 5.0  # the data dir's size is re-measured at most this often


class DiskFullError(Exception):
    """No room to write (-> 507); the message says how much there is and what to do."""


def disk_full(exc: BaseException) -> bool:
    """Whether an exception means the disk (or the user's quota on it) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc).lower()
    return False


def tree_size(folder: Path) -> int:
    """Bytes of every regular file under ``folder`` (files vanishing meanwhile are skipped)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def size_text(n: float, up: bool = False) -> str:
    """``n`` bytes in MiB (GiB from 1 GiB) with one decimal, rounded down — or up with ``up`` — so
    a sentence comparing two sizes stays true (15.75 MiB free is "15.7 MiB", never "16 MiB",
    beside the "16.0 MiB" it needs)."""
    unit, name = (2**30, "GiB") if n >= 2**30 else (2**20, "MiB")
    tenths = math.ceil(n * 10 / unit) if up else math.floor(n * 10 / unit)
    return f"{tenths / 10:.1f} {name}"


class DiskCheck:
    """Free space and the data dir's size (cached for a few seconds; thread-safe)."""

    def __init__(self, data_dir: Path, max_bytes: int, min_free: int) -> None:
        self.data_dir = data_dir
        self.max_bytes = max_bytes
        self.min_free = min_free
        self._lock = threading.Lock()
        self._usage: tuple[float, int] | None = None

    def usage(self) -> int:
        with self._lock:
            if self._usage and time.monotonic() - self._usage[0] < USAGE_TTL_S:
                return self._usage[1]
        size = tree_size(self.data_dir)
        with self._lock:
            self._usage = (time.monotonic(), size)
        return size

    def forget(self) -> None:
        """Measure again next time (after something was deleted or written)."""
        with self._lock:
            self._usage = None

    def require_room(self, what: str) -> None:
        """Raise :class:`DiskFullError` when ``what`` should not write now. Blocking: pool only."""
        free = shutil.disk_usage(self.data_dir).free
        if free < self.min_free:
            have, need = size_text(free), size_text(self.min_free, up=True)
            raise DiskFullError(
                f"cannot {what}: the disk holding the data dir has {have} free, under the {need} it "
                "needs; free some space (or delete runs and uploaded models) and retry"
            )
        used = self.usage()
        if used >= self.max_bytes:
            have, cap = size_text(used, up=True), size_text(self.max_bytes)
            raise DiskFullError(
                f"cannot {what}: the data dir holds {have}, over its cap of {cap} "
                "(GLASSNET_MAX_DATA_BYTES); delete runs or uploaded models and retry"
            )
