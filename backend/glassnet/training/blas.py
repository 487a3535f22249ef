"""How many threads NumPy's BLAS (OpenBLAS) uses, read and set while the process runs.

The fast trainer splits a batch across its own threads (:mod:`.step`) and wants every matrix
product on one BLAS thread inside each of them: two threads each asking a two-thread BLAS for
help would queue on BLAS's one thread pool, and OpenBLAS's idle threads spin-wait, which
collapses when other programs share the cores. NumPy offers no setting for this, so this module
finds the OpenBLAS that NumPy loaded and calls its ``openblas_set_num_threads`` (under whichever
symbol name the build uses: NumPy's wheels ship ``scipy_openblas`` with a ``64_`` suffix).

Where no OpenBLAS is found (another BLAS, another OS), :func:`blas_controls` returns None and
the trainer keeps to one thread.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np  # noqa: F401 - loads NumPy's BLAS into the process before we look for it

_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")


class BlasThreads:
    """get() / set(n) on the process's OpenBLAS."""

    def __init__(self, get: ctypes._CFuncPtr, set_: ctypes._CFuncPtr) -> None:  # type: ignore[name-defined]
        self._get, self._set = get, set_

    def get(self) -> int:
        return int(self._get())

    def set(self, n: int) -> None:
        self._set(int(n))


def _loaded_libraries() -> list[str]:
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return []
    found = []
    for line in maps.read_text().splitlines():
        path = line.split()[-1] if line.split() else ""
        if "openblas" in path.lower() and path.startswith("/") and path not in found:
            found.append(path)
    return found


@functools.cache
def blas_controls() -> BlasThreads | None:
    """The thread controls of the OpenBLAS NumPy uses, or None when there is none to control."""
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    set_.restype, set_.argtypes = None, [ctypes.c_int]
                    return BlasThreads(get, set_)
    return None


class blas_threads:  # noqa: N801 - used like a function: ``with blas_threads(1): ...``
    """Run the block with BLAS at ``n`` threads (restored afterwards); ``as`` gives whether it
    could. A class rather than a generator: the trainer enters it at every step."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.controls = blas_controls()
        self.before: int | None = None

    def __enter__(self) -> bool:
        if self.controls is None:
            return False
        before = self.controls.get()
        if before != self.n:
            self.controls.set(self.n)
            self.before = before
        return True

    def __exit__(self, *exc: object) -> None:
        if self.before is not None and self.controls is not None:
            self.controls.set(self.before)
            self.before = None
