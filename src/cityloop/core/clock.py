"""The only source of "now": services take a Clock so tests can move time explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Business rules (case numbers, working calendars, API output) run in the city's zone; storage is UTC.
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)


def to_business(dt: datetime) -> datetime:
    """An aware datetime as wall-clock time in the business zone (for output and calendars)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every stored time is aware UTC")
    return dt.astimezone(BUSINESS_TZ)
