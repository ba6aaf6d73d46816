"""A per-client sliding-window limiter for anonymous endpoints (one process; pure)."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class RateLimiter:
    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: datetime) -> float | None:
        """None if `client` may go ahead (and counts the hit); else the seconds until it may."""
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max((hits[0] + self.window - now).total_seconds(), 1.0)
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle clients rather than grow without bound
                for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window]:
                    del self._hits[key]
            return None
