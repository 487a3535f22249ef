"""Where runs train: one interface (:mod:`.base`), two implementations — :mod:`.local` (a spawned
process per run on this machine, the default) and :mod:`.ray` (a Ray actor per run on a cluster,
the optional ``glassnet[ray]`` extra; imported only when chosen)."""

from __future__ import annotations

import os

from .base import Executor, ExecutorUnavailableError, RunHandle

LOOPBACK_RAY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

__all__ = ["LOOPBACK_RAY", "Executor", "ExecutorUnavailableError", "RunHandle", "make_executor"]


def make_executor(settings: object) -> Executor:
    """The executor the settings name (``executor``: ``local`` or ``ray``)."""
    kind = getattr(settings, "executor", "local")
    if kind == "ray":
        address = getattr(settings, "ray_address", None) or os.environ.get("RAY_ADDRESS") or ""
        if address.rpartition(":")[0].strip("[]") in ("127.0.0.1", "localhost", "::1"):
            # Ray rewrites a loopback address to this machine's outward one (where a cluster
            # started on 127.0.0.1 does not listen) unless this is set before it is imported.
            os.environ.setdefault(LOOPBACK_RAY, "0")
        from .ray import RayExecutor  # the extra: only imported when chosen

        return RayExecutor(settings)  # type: ignore[arg-type]
    from .local import LocalExecutor

    return LocalExecutor(settings)  # type: ignore[arg-type]
