"""Where runs train: one interface (:mod:`.base`), two implementations — :mod:`.local` (a spawned
process per run on this machine, the default) and :mod:`.ray` (a Ray actor per run on a cluster,
the optional ``glassnet[ray]`` extra; imported only when chosen)."""

from __future__ import annotations

from .base import Executor, ExecutorUnavailableError, RunHandle

__all__ = ["Executor", "ExecutorUnavailableError", "RunHandle", "make_executor"]


def make_executor(settings: object) -> Executor:
    """The executor the settings name (``executor``: ``local`` or ``ray``)."""
    kind = getattr(settings, "executor", "local")
    if kind == "ray":
        from .ray import RayExecutor  # the extra: only imported when chosen

        return RayExecutor(settings)  # type: ignore[arg-type]
    from .local import LocalExecutor

    return LocalExecutor(settings)  # type: ignore[arg-type]
