"""`cityloop calendar …` and `cityloop deadlines …`: the working calendar and step limits."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from cityloop.cli.common import engine_for, fail, usage_error
from cityloop.core.clock import BUSINESS_TZ, SystemClock, to_business
from cityloop.core.errors import DomainError
from cityloop.core.timeunits import TimeUnit
from cityloop.db.session import read_sessionmaker, session_scope, write_sessionmaker
from cityloop.deadlines import calendar as work_calendar
from cityloop.deadlines import holidays
from cityloop.deadlines import service as deadline_service
from cityloop.deadlines.models import DeadlineKind
from cityloop.settings import Settings

deadlines_app = typer.Typer(help="Step time limits (受理, 核实, 立案, 派遣, 核查, 结案).", no_args_is_help=True)

calendar_app = typer.Typer(help="The working calendar: holidays and 调休 days.", no_args_is_help=True)

# CSV "type" column: holiday / 休 (or 假) → not a working day; workday / 班 → a 调休 make-up working day.
_DAY_TYPES = {"holiday": False, "休": False, "假": False, "workday": True, "班": True}


def _calendar_or_fallback(settings: Settings) -> work_calendar.WorkCalendar:
    """The configured database's calendar; without a migrated database (a fresh machine), the package's alone."""
    engine = engine_for(settings)
    try:
        with session_scope(read_sessionmaker(engine)) as session:
            return holidays.load_calendar(session, settings)
    except sa.exc.DBAPIError as exc:
        typer.echo(f"warning: no calendar overrides read ({type(exc.orig).__name__}); "
                   "using the statutory calendar only", err=True)
        return holidays.package_calendar(settings)
    finally:
        engine.dispose()


@calendar_app.command("due")
def calendar_due(
    start: Annotated[str, typer.Option("--start", help="ISO 8601; without an offset it is Asia/Shanghai time")],
    amount: Annotated[float, typer.Option("--amount")],
    unit: Annotated[str, typer.Option("--unit", help=", ".join(TimeUnit))],
) -> None:
    """Print the due time of a limit started at --start, on the configured working calendar."""
    try:
        begin = datetime.fromisoformat(start)
    except ValueError:
        raise usage_error(f"--start: {start!r} is not an ISO 8601 date-time") from None
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=BUSINESS_TZ)
    try:
        time_unit = TimeUnit(unit)
    except ValueError:
        raise usage_error(f"--unit: {unit!r} is not one of {', '.join(TimeUnit)}") from None
    try:
        due = work_calendar.add(_calendar_or_fallback(Settings()), begin, amount, time_unit)
    except ValueError as exc:  # a negative amount or bad CITYLOOP_WORK_PERIODS
        raise usage_error(str(exc)) from None
    typer.echo(to_business(due).isoformat())


def _read_arrangement(path: Path) -> tuple[list[tuple[date, bool, str]], list[int]]:
    """Rows of date,type[,name] and the file line of each; a header line is skipped. Excel's BOM is tolerated."""
    rows: list[tuple[date, bool, str]] = []
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for number, raw in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in raw]
            if not any(cells) or (number == 1 and cells[0].lower() in ("date", "日期")):
                continue
            if len(cells) < 2:
                raise ValueError(f"line {number}: expected date,type,name")
            try:
                day = date.fromisoformat(cells[0])
            except ValueError:
                raise ValueError(f"line {number}: {cells[0]!r} is not a YYYY-MM-DD date") from None
            if cells[1].lower() not in _DAY_TYPES:
                raise ValueError(f"line {number}: type {cells[1]!r} is not holiday, workday, 休 or 班")
            rows.append((day, _DAY_TYPES[cells[1].lower()], cells[2] if len(cells) > 2 else ""))
            lines.append(number)
    return rows, lines


@calendar_app.command("import")
def calendar_import(
    file: Annotated[Path, typer.Argument(help="CSV: date (YYYY-MM-DD), type (holiday|workday or 休|班), name")],
    year: Annotated[int, typer.Option("--year", help="every row must fall in this year")],
    source: Annotated[str, typer.Option("--source", help="e.g. 国办发明电〔2026〕N号")] = "",
) -> None:
    """Replace a year's holidays and 调休 days with the file's, all or nothing, and mark the year as covered."""
    try:
        rows, lines = _read_arrangement(file)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise usage_error(f"{file}: {exc}") from None
    try:
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            count = holidays.import_arrangement(session, rows, year, source or file.name, SystemClock().now())
    except DomainError as exc:
        row = exc.details.get("row")
        where = f"{file} line {lines[row - 1]}: " if isinstance(row, int) else f"{file}: "
        raise usage_error(where + exc.message) from None
    off = sum(1 for _, workday, _ in rows if not workday)
    typer.echo(f"{year}: {count} days imported ({off} holidays, {count - off} working days)")


@calendar_app.command("check")
def calendar_check(
    today: Annotated[str | None, typer.Option("--today", help="YYYY-MM-DD; default: today in Asia/Shanghai")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="default: CITYLOOP_CALENDAR_HORIZON_DAYS")] = None,
) -> None:
    """List the coming days that no holiday arrangement covers; exit 1 if there are any."""
    settings = Settings()
    try:
        first = date.fromisoformat(today) if today else to_business(SystemClock().now()).date()
    except ValueError:
        raise usage_error(f"--today: {today!r} is not a YYYY-MM-DD date") from None
    horizon = days or settings.calendar_horizon_days
    engine = engine_for(settings)
    try:
        with session_scope(read_sessionmaker(engine)) as session:
            cov = holidays.coverage_of(session, first, horizon)
    except sa.exc.DBAPIError as exc:
        typer.echo(f"warning: no loaded years read ({type(exc.orig).__name__}); statutory years only", err=True)
        cov = holidays.coverage(first, horizon, [])
    finally:
        engine.dispose()
    if not cov.uncovered:
        typer.echo(f"covered: the next {horizon} days from {first.isoformat()}")
        return
    typer.echo(f"uncovered: {cov.warning}")
    for day in cov.uncovered:
        typer.echo(day.isoformat())
    raise typer.Exit(code=1)


@deadlines_app.command("limits")
def deadline_limits() -> None:
    """Print each step's limit for normal and urgent cases (the handling limit comes from the standard)."""
    with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
        for kind, urgent, amount, unit, own in deadline_service.step_limits(session):
            typer.echo(f"{kind.value:<9} {'urgent' if urgent else 'normal':<7} {amount:g} {unit.value}"
                       + ("" if own else "  (default)"))


@deadlines_app.command("set-limit")
def deadline_set_limit(
    step: Annotated[DeadlineKind, typer.Argument(
        help="accept, verify, file, dispatch, check, close; handle = the fallback for classes without rows")],
    amount: float, unit: TimeUnit,
    urgent: Annotated[bool, typer.Option("--urgent", help="the limit for emergencies")] = False,
) -> None:
    """Set the city's limit for one step; clocks started afterwards use it."""
    try:
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            deadline_service.set_step_limit(session, step, urgent, amount, unit)
    except DomainError as exc:
        raise fail(exc) from None
    typer.echo(f"{step.value} ({'urgent' if urgent else 'normal'}): {amount:g} {unit.value}")


