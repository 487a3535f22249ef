"""Per-client quotas: run creations and uploads per hour, and the bytes of uploaded models a
client may keep. A client is a student's name or, for anyone else, an address
(security.quota_client); joins and wrong join codes count per address. Over a quota: 429 with
``Retry-After`` and a message naming the quota and its setting. The defaults are far above what
one person at a dashboard does.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

WINDOW_S = 3600.0


class QuotaError(Exception):
    """A client is over a quota (-> 429); ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class Quotas:
    """Sliding one-hour windows per client and kind; thread-safe."""

    def __init__(
        self, runs_per_hour: int, uploads_per_hour: int, upload_bytes: int, names_per_hour: int = 5
    ) -> None:
        self.limits = {
            "runs": (runs_per_hour, "GLASSNET_QUOTA_RUNS_PER_HOUR"),
            "uploads": (uploads_per_hour, "GLASSNET_QUOTA_UPLOADS_PER_HOUR"),
            # Wrong join codes (POST /api/join): as many as uploads, so a code cannot be guessed.
            "joins": (uploads_per_hour, "GLASSNET_QUOTA_UPLOADS_PER_HOUR"),
            # Names joined (POST /api/join): a student's caps count per name.
            "names": (names_per_hour, "GLASSNET_QUOTA_NAMES_PER_HOUR"),
        }
        self.labels = {"names": "new student names (joins)"}
        self.upload_bytes = upload_bytes
        self._events: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, client: str, kind: str) -> None:
        """Raise :class:`QuotaError` if ``client`` may not do one more ``kind`` now."""
        limit, setting = self.limits[kind]
        now = time.monotonic()
        with self._lock:
            events = self._events[(client, kind)]
            while events and now - events[0] > WINDOW_S:
                events.popleft()
            if len(events) >= limit:
                wait = WINDOW_S - (now - events[0])
                raise QuotaError(
                    f"quota: at most {limit} {self.labels.get(kind, kind)} per hour from one client "
                    f"({setting}); "
                    f"retry in {math.ceil(wait)} s",
                    wait,
                )

    def count(self, client: str, kind: str) -> None:
        """Record one ``kind`` done by ``client`` (after it succeeded)."""
        with self._lock:
            self._events[(client, kind)].append(time.monotonic())

    def check_upload_bytes(self, client: str, stored: int, adding: int) -> None:
        if stored + adding > self.upload_bytes:
            raise QuotaError(
                f"quota: uploads from one client may hold {self.upload_bytes:,} bytes "
                f"(GLASSNET_QUOTA_UPLOAD_BYTES); this client's hold {stored:,}: delete some first",
                60,
            )
