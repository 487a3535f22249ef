"""The server process's garbage-collector settings, applied once the app has started.

CPython's cycle collector walks every container object of a generation each time it runs. A
``glassnet serve`` process holds ~100,000 of them once started (FastAPI's routes and schemas,
pydantic's validators, NumPy, the network code) that live as long as the process, and under a
class's predictions each request allocates dozens more (a JSON grid alone is 29 lists), so:

* every few requests a young collection ran (thresholds 700/10/10), and
* every few seconds a full one walked all the started objects again: 140-180 ms each, measured
  on a 2-core AMD EPYC under 32 clients (``gc.callbacks``), every request in flight waiting.
  That was the p99 of ``POST /api/predict`` (~200 ms with p50 ~60 ms).

:func:`tune` moves everything alive after start-up to the permanent generation
(``gc.freeze``), which collections no longer walk, and lets more allocations pass between young
collections. Measured the same way (fresh servers with and without it, alternating, 3 rounds
of 10 s): p99 161 → 73 ms and 531 → 600 requests/s (medians). Objects made later are collected
as always; reference counting, which frees most objects, is untouched.
"""

from __future__ import annotations

import gc

#: allocations between young collections (CPython's default 700), then 10 and 10 as by default
THRESHOLDS = (10_000, 10, 10)


def tune() -> int:
    """Freeze what is alive now and raise the young generation's threshold (once, at start).
    Returns how many objects were frozen (logged by ``glassnet serve``)."""
    gc.collect()  # the start-up's own garbage first, so that it is not kept for ever
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return gc.get_freeze_count()
