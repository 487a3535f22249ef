"""The bounded pool for heavy work, so the event loop only ever does light work.

Everything whose cost grows with its input runs here, never on the loop: checking and building
networks, parsing big JSON bodies, decoding images, validating checkpoints, predicting. A few
threads (``heavy_workers``) take the jobs; at most ``heavy_queue`` more may wait, and one more is
refused at once (:class:`PoolBusyError`, answered 503 with ``Retry-After``), so a flood of
requests costs neither unbounded memory nor unbounded waiting. NumPy, Pillow and zlib release the
GIL inside their loops, so the loop keeps answering (``/healthz`` stays fast) while a job runs.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolBusyError(RuntimeError):
    """Every worker is busy and the waiting room is full (-> 503, retry shortly)."""


class HeavyPool:
    """``await pool.run(fn, *args)``: ``fn`` in a worker thread, bounded in threads and queue."""

    def __init__(self, workers: int = 2, queue: int = 16) -> None:
        self.workers = workers
        self.limit = workers + queue
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glassnet-heavy")
        self._pending = 0  # submitted and not finished (running or waiting), across threads
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if self._pending >= self.limit:
                raise PoolBusyError(
                    f"the server is busy with {self._pending} heavy requests; retry in a moment"
                )
            self._pending += 1

        def job() -> T:
            try:
                return fn(*args, **kwargs)
            finally:  # counted until the work is done, even when its caller stopped waiting
                with self._lock:
                    self._pending -= 1

        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(job))
        except RuntimeError:  # the executor is shut down: the server is stopping
            with self._lock:
                self._pending -= 1
            raise PoolBusyError("the server is shutting down") from None
        return await future

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
