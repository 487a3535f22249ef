"""Micro-batching of predictions: concurrent requests share one forward pass.

A class full of students drawing at once sends many ``POST /api/predict`` at the same moment.
Answered one by one, each pays the whole fixed cost of a prediction — a thread hop, a model
lookup, two dozen small NumPy calls to prepare the digit, a forward pass of batch 1 — and the
event loop queues behind them. :class:`PredictBatcher` instead collects the requests that
arrive while the previous batch is being computed (or, when it is idle, for at most
``max_wait_s``, 2 ms), and hands them to one worker thread as one batch:
:meth:`ModelRegistry.predict_batch` then looks each network up once, prepares the pixel grids
together and runs one forward pass per network. Under load the batches grow by themselves;
a lone request waits at most ``max_wait_s``.

Everything heavy runs in the worker thread, so the event loop only parses requests and writes
answers. Each query's result (or its exception) goes back to its own request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from ..training.blas import blas_controls
from .inference import DigitQuery, ModelRegistry, PredictResult

MAX_WAIT_S = 0.002
MAX_BATCH = 64


def _one_blas_thread() -> None:
    # The server's predictions run on one BLAS thread: the event loop needs the other core,
    # and a batch of digits is small work. (Training runs in other processes, untouched.)
    controls = blas_controls()
    if controls is not None:
        controls.set(1)


class PredictBatcher:
    """Collects predictions for one forward pass each; one per app (``app.state``)."""

    def __init__(
        self, registry: ModelRegistry, max_wait_s: float = MAX_WAIT_S, max_batch: int = MAX_BATCH
    ) -> None:
        self.registry = registry
        self.max_wait_s = max_wait_s
        self.max_batch = max_batch
        self._pending: list[tuple[DigitQuery, asyncio.Future[PredictResult]]] = []
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="glassnet-predict", initializer=_one_blas_thread
        )
        #: batches run and queries answered, for the benchmarks and tests
        self.batches = 0
        self.answered = 0

    async def predict(self, **query: Any) -> PredictResult:
        """:meth:`ModelRegistry.predict`'s arguments -> its result (or its exception)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or the app runs on a new event loop (tests)
            self._loop, self._pending, self._busy, self._timer = loop, [], False, None
        future: asyncio.Future[PredictResult] = loop.create_future()
        self._pending.append((DigitQuery(**query), future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif not self._busy and self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy or not self._pending:
            return  # the batch in flight flushes again when it is done
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._busy = True
        loop = asyncio.get_running_loop()
        queries = [query for query, _ in batch]
        work = loop.run_in_executor(self._executor, self.registry.predict_batch, queries)
        work.add_done_callback(lambda done: self._deliver(batch, done))

    def _deliver(
        self, batch: list[tuple[DigitQuery, asyncio.Future[PredictResult]]], done: asyncio.Future
    ) -> None:
        self._busy = False
        self.batches += 1
        error = done.exception()
        results = [error] * len(batch) if error is not None else done.result()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
                self.answered += 1
        if self._pending:  # they waited while this batch ran: no extra wait
            self._flush()

    def close(self) -> None:
        """Stop the worker thread once the batch in flight (if any) is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def batcher_for(state: Any, registry: ModelRegistry) -> PredictBatcher:
    """The app's batcher (``state.predict_batcher``), made on first use for its registry."""
    batcher = getattr(state, "predict_batcher", None)
    if batcher is None or batcher.registry is not registry:
        batcher = PredictBatcher(registry)
        state.predict_batcher = batcher
    return batcher
