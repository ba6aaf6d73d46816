"""Where the working calendar's holidays and 调休 days come from: the chinese-calendar package for the years it
ships (the State Council announces each year's arrangement in late autumn, so the package always ends with the
current year), overlaid by the city's own rows (CalendarDay), which win. A city loads a new year's arrangement
with `cityloop calendar import`, which also records the year as covered (CalendarYear).

Services here never commit; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Literal

import chinese_calendar  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.deadlines.calendar import WorkCalendar
from cityloop.deadlines.models import CalendarDay, CalendarYear
from cityloop.settings import Settings

NOTE_MAX = 100    # CalendarDay.note
SOURCE_MAX = 300  # CalendarYear.source


@cache
def _package_days() -> dict[date, tuple[bool, str]]:
    """Every day the package lists, with its Chinese festival name. Built once: it is static data."""
    days: dict[date, tuple[bool, str]] = {}
    for day, name in chinese_calendar.holidays.items():
        days[day] = (False, chinese_calendar.Holiday(name).chinese)
    for day, name in chinese_calendar.workdays.items():
        days[day] = (True, f"{chinese_calendar.Holiday(name).chinese}调休上班")
    return days


@cache
def package_years() -> range:
    """The years the package knows; outside them its own functions refuse to answer (they raise)."""
    listed = chinese_calendar.holidays.keys()
    return range(min(listed).year, max(listed).year + 1)


def statutory_entries(years: Iterable[int]) -> dict[date, tuple[bool, str]]:
    """The package's days of `years` (the ones it knows) with a label: (workday, "春节") or (True, "春节调休上班")."""
    wanted = set(years) & set(package_years())
    return {d: entry for d, entry in _package_days().items() if d.year in wanted}


def statutory_days(years: Iterable[int]) -> dict[date, bool]:
    """Holidays (False) and 调休 make-up working days (True) of the years the package knows; other years are
    skipped, not an error (see uncovered_days)."""
    return {d: workday for d, (workday, _) in statutory_entries(years).items()}


@cache
def _all_statutory_days() -> dict[date, bool]:
    return statutory_days(package_years())


def package_calendar(settings: Settings) -> WorkCalendar:
    """The calendar without the database: the fallback when no migrated database is at hand."""
    return WorkCalendar(WorkCalendar.parse_periods(settings.work_periods), dict(_all_statutory_days()))


def load_calendar(session: Session, settings: Settings) -> WorkCalendar:
    """The city's calendar: settings' working periods, the package's days, and every CalendarDay row on top.
    One query; called per request, so the package part is built once per process."""
    special = dict(_all_statutory_days())
    special.update(dict(session.execute(sa.select(CalendarDay.day, CalendarDay.workday)).all()))
    return WorkCalendar(WorkCalendar.parse_periods(settings.work_periods), special)


def loaded_years(session: Session) -> list[int]:
    return list(session.scalars(sa.select(CalendarYear.year).order_by(CalendarYear.year)))


def _uncovered(today: date, horizon_days: int, covered: set[int]) -> list[date]:
    days = (today + timedelta(days=i) for i in range(horizon_days))
    return [d for d in days if d.year not in covered]


def uncovered_days(session: Session, today: date, horizon_days: int) -> list[date]:
    """Days in [today, today + horizon) of a year that neither the package nor a loaded CalendarYear covers:
    on those days the calendar would silently treat holidays as working days."""
    return _uncovered(today, horizon_days, set(package_years()) | set(loaded_years(session)))


@dataclass(frozen=True)
class Coverage:
    today: date
    horizon_days: int
    covered_until: date | None   # the last day of the unbroken run of covered years from today's; None if today's
    uncovered: list[date]
    loaded_years: list[int]

    @property
    def warning(self) -> str | None:
        if not self.uncovered:
            return None
        first = self.uncovered[0]
        return (f"{len(self.uncovered)} of the next {self.horizon_days} days have no holiday arrangement "
                f"(from {first.isoformat()}); load the {first.year} arrangement with `cityloop calendar import`")


def coverage(today: date, horizon_days: int, loaded: Iterable[int]) -> Coverage:
    years = sorted(set(loaded))
    covered = set(package_years()) | set(years)
    year = today.year
    while year in covered:
        year += 1
    until = date(year - 1, 12, 31) if year > today.year else None
    return Coverage(today, horizon_days, until, _uncovered(today, horizon_days, covered), years)


def coverage_of(session: Session, today: date, horizon_days: int) -> Coverage:
    return coverage(today, horizon_days, loaded_years(session))


@dataclass(frozen=True)
class DayEntry:
    day: date
    workday: bool
    note: str
    source: Literal["database", "statutory"]  # a city override, or the package's arrangement
    created_at: datetime | None = None


def days_of_year(session: Session, year: int) -> tuple[bool, list[DayEntry]]:
    """Whether `year` is covered, and its effective special days: the package's, with the city's rows on top."""
    entries = {d: DayEntry(d, workday, note, "statutory") for d, (workday, note) in statutory_entries([year]).items()}
    rows = session.scalars(sa.select(CalendarDay).where(
        CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))))
    for row in rows:
        entries[row.day] = DayEntry(row.day, row.workday, row.note, "database", row.created_at)
    covered = year in package_years() or session.get(CalendarYear, year) is not None
    return covered, [entries[d] for d in sorted(entries)]


def _check_note(note: str, where: str) -> None:
    if len(note) > NOTE_MAX:
        raise ValidationFailed(f"{where}: the note is longer than {NOTE_MAX} characters", field="note")


def set_day(session: Session, day: date, workday: bool, note: str, now: datetime) -> CalendarDay:
    """Create or replace the override of one day."""
    _check_note(note, day.isoformat())
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, workday=workday, note=note, created_at=now)
        session.add(row)
    else:
        row.workday, row.note, row.created_at = workday, note, now
    return row


def remove_day(session: Session, day: date) -> None:
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"no calendar override on {day.isoformat()}", field="day")
    session.delete(row)


def import_arrangement(session: Session, rows: list[tuple[date, bool, str]], year: int, source: str,
                       now: datetime) -> int:
    """Replace `year`'s overrides by `rows` (day, workday, note) and record the year as covered. All or nothing:
    every row is checked before anything is written; an error names the row (1-based) and its date.
    Returns the number of days written."""
    if len(source) > SOURCE_MAX:
        raise ValidationFailed(f"the source is longer than {SOURCE_MAX} characters", field="source")
    if not rows:
        raise ValidationFailed(f"no days given for {year}: every year has holidays", field="rows")
    seen: dict[date, int] = {}
    for number, (day, _workday, note) in enumerate(rows, start=1):
        where = f"row {number} ({day.isoformat()})"
        if day.year != year:
            raise ValidationFailed(f"{where}: not in {year}", field="rows", details={"row": number})
        if day in seen:
            raise ValidationFailed(f"{where}: the same day as row {seen[day]}", field="rows",
                                   details={"row": number})
        _check_note(note, where)
        seen[day] = number
    # Bulk delete (with the identity map synchronised) so rows loaded earlier in this session are not resurrected.
    session.execute(sa.delete(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))))
    session.add_all(CalendarDay(day=day, workday=workday, note=note, created_at=now) for day, workday, note in rows)
    record = session.get(CalendarYear, year)
    if record is None:
        session.add(CalendarYear(year=year, source=source, loaded_at=now))
    else:
        record.source, record.loaded_at = source, now
    return len(rows)
