"""Where the ``nn`` modules get their array module: NumPy by default, CuPy on a GPU.

Every computation in ``glassnet.nn`` asks :func:`array_module` for the module that holds its
input (``xp = array_module(x)``) and calls ``xp.matmul``, ``xp.maximum``, ... on it, the way
CuPy's own ``get_array_module`` idiom works. The same code then runs on NumPy arrays on the CPU
and on CuPy arrays on a GPU; which one is decided once, by where the parameters live
(:meth:`glassnet.nn.Sequential.to`). Arrays go back to the host (:func:`to_host`) only when
they are saved or sent: checkpoints, activations and kernels for the stream, predictions.

Devices are named ``"cpu"`` and ``"cuda"``. ``"cuda"`` needs the optional CuPy
(the ``gpu`` extra, :func:`glassnet.extras.install_hint`) and a visible GPU; when either is missing,
:func:`check_device` raises :class:`DeviceUnavailableError` (a ``ValueError``) with a sentence
saying which, so the CLI and the service report it instead of crashing.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

import numpy as np

from ..extras import install_hint

DEVICES = ("cpu", "cuda")
INSTALL_HINT = f"install the GPU extra (CuPy for CUDA 12): {install_hint('gpu')}"


class DeviceUnavailableError(ValueError):
    """The requested device cannot be used here (no CuPy, no GPU, or an unknown name)."""


@functools.cache
def _cupy() -> ModuleType | None:
    """CuPy if it imports, else None (imported once, on first use: it is slow to import)."""
    try:
        return importlib.import_module("cupy")
    except Exception:  # ImportError, or a broken CUDA install raising at import time
        return None


@functools.cache
def _cuda_problem() -> str | None:
    """Why ``"cuda"`` cannot be used here, or None when CuPy sees a GPU."""
    cupy = _cupy()
    if cupy is None:
        return f"CuPy is not installed; {INSTALL_HINT}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError without a driver or a device
        return f"CuPy is installed but finds no usable GPU ({type(exc).__name__}: {exc})"
    if count < 1:
        return "CuPy is installed but finds no GPU"
    return None


def device_problem(device: str) -> str | None:
    """None when ``device`` can be used, else one sentence saying why not."""
    if device not in DEVICES:
        return f"unknown device {device!r}; choose one of {', '.join(DEVICES)}"
    if device == "cuda":
        return _cuda_problem()
    return None


def check_device(device: str) -> str:
    """Return ``device`` when it can be used; raise :class:`DeviceUnavailableError` otherwise."""
    problem = device_problem(device)
    if problem is not None:
        raise DeviceUnavailableError(f"device {device!r} is not available: {problem}")
    return device


def module_for(device: str) -> ModuleType:
    """The array module of a device: NumPy for ``"cpu"``, CuPy for ``"cuda"`` (checked)."""
    if check_device(device) == "cuda":
        cupy = _cupy()
        assert cupy is not None
        return cupy
    return np


def array_module(*arrays: Any) -> ModuleType:
    """NumPy, or CuPy when any argument is a CuPy array (CuPy's ``get_array_module`` rule)."""
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray:  # the common case, asked every step
        return np
    cupy = _cupy_if_loaded()
    if cupy is not None:
        for a in arrays:
            if isinstance(a, cupy.ndarray):
                return cupy
    return np


def _cupy_if_loaded() -> ModuleType | None:
    # Never import CuPy just to find out that an array is a NumPy array: only a program that
    # chose "cuda" has imported it (and only then can a CuPy array exist).
    return _cupy() if _cupy.cache_info().currsize else None


def is_array(a: Any) -> bool:
    """Whether ``a`` is an array of a backend (NumPy, or CuPy when it is in use)."""
    return isinstance(a, np.ndarray) or array_module(a) is not np


def device_of(a: Any) -> str:
    """``"cuda"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "cpu" if array_module(a) is np else "cuda"


def views_of(view: Any, base: Any) -> bool:
    """Whether ``view`` shares ``base``'s memory (a reshape that had to copy would not)."""
    shares = getattr(array_module(base), "shares_memory", None)
    return True if shares is None else bool(shares(view, base))


def to_host(a: Any) -> np.ndarray:
    """A NumPy array with the same values (no copy when ``a`` already is one)."""
    if isinstance(a, np.ndarray):
        return a
    xp = array_module(a)
    return xp.asnumpy(a) if xp is not np else np.asarray(a)


def to_device(a: Any, device: str) -> Any:
    """``a`` as an array of ``device``'s module (no copy when it already is one)."""
    return module_for(device).asarray(a)
