"""Deadline arithmetic on the working calendar (domain.md §4.6). Pure: the calendar arrives as data.

Working units (工作时, 工作日) count only the working periods of working days, on the wall clock of the business
zone; every other unit counts continuous time. Times go in aware (any zone) and come out aware UTC.

Two boundary rules shape every function here:
* a start outside working time begins counting at the next period start (dispatched at 12:30 → counts from 14:00);
* a due time that lands exactly on a period's end stays there (12:00, 18:00): the limit is used up at that instant,
  so moving it to the next morning would hand the unit a night it was never given.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from types import MappingProxyType

from cityloop.core.clock import BUSINESS_TZ
from cityloop.core.timeunits import TimeUnit

Periods = tuple[tuple[time, time], ...]

_DAY = timedelta(days=1)
_WORKING_UNITS = frozenset({TimeUnit.WORK_HOUR, TimeUnit.WORK_DAY})
_CONTINUOUS_MINUTES = {
    TimeUnit.WORK_HOUR: 60, TimeUnit.URGENT_HOUR: 60, TimeUnit.HOUR: 60,
    TimeUnit.URGENT_DAY: 24 * 60, TimeUnit.DAY: 24 * 60, TimeUnit.DAY_PLAIN: 24 * 60,
}


def _check_periods(periods: Periods) -> None:
    if not periods:
        raise ValueError("a working day needs at least one working period")
    previous_end: time | None = None
    for start, end in periods:
        label = f"{start:%H:%M}-{end:%H:%M}"
        if start >= end:
            raise ValueError(f"working period {label}: the start must come before the end")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"working period {label}: overlaps or precedes the period before it")
        previous_end = end


def _parse_clock(text: str, part: str) -> time:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"working period {part!r}: {text.strip()!r} is not HH:MM")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"working period {part!r}: {text.strip()!r} is not a time of day") from None


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods of a working day, plus days that override the Monday–Friday rule: True for a 调休
    make-up working day, False for a holiday. Treat `special_days` as frozen: sums over it are cached."""

    periods: Periods = ((time(8), time(12)), (time(14), time(18)))
    # hash=False: a mapping is unhashable; equal calendars still hash equal through their periods.
    special_days: Mapping[date, bool] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        _check_periods(self.periods)

    @classmethod
    def parse_periods(cls, text: str) -> Periods:
        """"08:00-12:00,14:00-18:00" → periods. ValueError names the part at fault. Periods must be in order and
        must not overlap, because the arithmetic walks them in sequence."""
        parts = [p for p in (s.strip() for s in text.split(",")) if p]
        if not parts:
            raise ValueError("working periods: none given (expected e.g. 08:00-12:00,14:00-18:00)")
        periods: list[tuple[time, time]] = []
        for part in parts:
            start, sep, end = part.partition("-")
            if not sep:
                raise ValueError(f"working period {part!r}: expected HH:MM-HH:MM")
            periods.append((_parse_clock(start, part), _parse_clock(end, part)))
        result = tuple(periods)
        _check_periods(result)
        return result

    def is_workday(self, d: date) -> bool:
        special = self.special_days.get(d)
        if special is not None:
            return special
        return d.weekday() < 5

    @cached_property
    def day_minutes(self) -> int:
        """The working minutes of one working day, which is what 1 工作日 means."""
        return sum((_at(date.min, e) - _at(date.min, s)) // timedelta(minutes=1) for s, e in self.periods)

    @cached_property
    def _corrections(self) -> tuple[list[date], list[int]]:
        # Special days that change the Monday–Friday answer, sorted, with a running sum of the change, so
        # counting working days over any range costs two bisections instead of a walk over the days.
        days: list[date] = []
        running = [0]
        for d in sorted(self.special_days):
            delta = int(self.special_days[d]) - int(d.weekday() < 5)
            if delta:
                days.append(d)
                running.append(running[-1] + delta)
        return days, running

    def count_workdays(self, first: date, stop: date) -> int:
        """Working days in [first, stop)."""
        if stop <= first:
            return 0
        weeks, rest = divmod((stop - first).days, 7)
        weekday = first.weekday()
        plain = weeks * 5 + sum(1 for i in range(rest) if (weekday + i) % 7 < 5)
        days, running = self._corrections
        return plain + running[bisect_left(days, stop)] - running[bisect_left(days, first)]


def is_working(unit: TimeUnit) -> bool:
    """Only 工作时 and 工作日 count working time; 紧急工作时/日, 小时, 自然日 and 天 run through nights and holidays."""
    return TimeUnit(unit) in _WORKING_UNITS


def to_minutes(cal: WorkCalendar, amount: float, unit: TimeUnit) -> int:
    """A limit in minutes (working minutes for working units), rounded half up. 1 工作日 = the calendar's day length."""
    unit = TimeUnit(unit)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"a time limit must be a finite amount ≥ 0, not {amount}")
    per_unit = cal.day_minutes if unit is TimeUnit.WORK_DAY else _CONTINUOUS_MINUTES[unit]
    return math.floor(amount * per_unit + 0.5)


def add(cal: WorkCalendar, start: datetime, amount: float, unit: TimeUnit) -> datetime:
    return add_minutes(cal, start, to_minutes(cal, amount, unit), working=is_working(unit))


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t)


def _require_aware(*times: datetime) -> None:
    # A naive time would be read in the server's zone by astimezone(): silently hours off.
    if any(t.tzinfo is None or t.utcoffset() is None for t in times):
        raise ValueError("deadline arithmetic needs aware datetimes")


def _local(dt: datetime) -> datetime:
    # Naive wall-clock time in the business zone: Asia/Shanghai has no DST, so wall-clock arithmetic is exact.
    return dt.astimezone(BUSINESS_TZ).replace(tzinfo=None)


def _utc(local: datetime) -> datetime:
    return local.replace(tzinfo=BUSINESS_TZ).astimezone(UTC)


def add_minutes(cal: WorkCalendar, start: datetime, minutes: int, *, working: bool) -> datetime:
    """`start` moved by `minutes` (negative moves back), as aware UTC. Working minutes walk the working periods:
    forwards a due time stops at a period's end rather than the next start; backwards it stops at a period's
    start. Whole working days are skipped one step per calendar day, never minute by minute."""
    _require_aware(start)
    if not working:
        return start.astimezone(UTC) + timedelta(minutes=minutes)
    local = _local(start)
    if minutes == 0:
        return start.astimezone(UTC)
    if minutes > 0:
        return _utc(_forward(cal, local, timedelta(minutes=minutes)))
    return _utc(_backward(cal, local, timedelta(minutes=-minutes)))


def _forward(cal: WorkCalendar, local: datetime, remaining: timedelta) -> datetime:
    day = local.date()
    if cal.is_workday(day):
        for s, e in cal.periods:
            begin, end = max(local, _at(day, s)), _at(day, e)
            if begin >= end:
                continue
            if remaining <= end - begin:  # <=: landing on the end stays at the end
                return begin + remaining
            remaining -= end - begin
    day += _DAY
    length = timedelta(minutes=cal.day_minutes)
    while not cal.is_workday(day) or remaining > length:
        if cal.is_workday(day):
            remaining -= length
        day += _DAY
    for s, e in cal.periods:
        span = _at(day, e) - _at(day, s)
        if remaining <= span:
            return _at(day, s) + remaining
        remaining -= span
    raise AssertionError("unreachable: the remainder fits in one working day")  # pragma: no cover


def _backward(cal: WorkCalendar, local: datetime, remaining: timedelta) -> datetime:
    day = local.date()
    if cal.is_workday(day):
        for s, e in reversed(cal.periods):
            begin, end = _at(day, s), min(local, _at(day, e))
            if end <= begin:
                continue
            if remaining <= end - begin:
                return end - remaining
            remaining -= end - begin
    day -= _DAY
    length = timedelta(minutes=cal.day_minutes)
    while not cal.is_workday(day) or remaining > length:
        if cal.is_workday(day):
            remaining -= length
        day -= _DAY
    for s, e in reversed(cal.periods):
        span = _at(day, e) - _at(day, s)
        if remaining <= span:
            return _at(day, e) - remaining
        remaining -= span
    raise AssertionError("unreachable: the remainder fits in one working day")  # pragma: no cover


def _worked_on(cal: WorkCalendar, day: date, begin: datetime, end: datetime) -> timedelta:
    """Working time of `day` inside [begin, end)."""
    total = timedelta(0)
    if not cal.is_workday(day):
        return total
    for s, e in cal.periods:
        overlap = min(end, _at(day, e)) - max(begin, _at(day, s))
        if overlap > timedelta(0):
            total += overlap
    return total


def minutes_between(cal: WorkCalendar, start: datetime, end: datetime, *, working: bool) -> int:
    """Minutes from `start` to `end` (working minutes if `working`), negative when `end` is earlier. Sub-minute
    remainders round to the nearest minute (ties to even), which keeps minutes_between(a, b) == -minutes_between(b, a).
    Whole days in between are counted by arithmetic, so long ranges cost no more than short ones."""
    _require_aware(start, end)
    # Datetimes sharing one tzinfo compare and subtract by wall clock, ignoring DST shifts: compare in UTC.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end < start:
        return -minutes_between(cal, end, start, working=working)
    if not working:
        return round((end - start) / timedelta(minutes=1))
    a, b = _local(start), _local(end)
    first, last = a.date(), b.date()
    if first == last:
        worked = _worked_on(cal, first, a, b)
    else:
        worked = (_worked_on(cal, first, a, _at(first + _DAY, time())) + _worked_on(cal, last, _at(last, time()), b)
                  + cal.count_workdays(first + _DAY, last) * timedelta(minutes=cal.day_minutes))
    return round(worked / timedelta(minutes=1))
