"""/api/v1/calendar: the working calendar's holidays and 调休 days, and whether the coming days are covered."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import SQLAlchemyError

from cityloop.auth.deps import require
from cityloop.auth.permissions import Permission
from cityloop.core.clock import to_business
from cityloop.deadlines import holidays
from cityloop.deadlines.schemas import CalendarDayIn, CalendarDayOut, CalendarYearOut, CoverageOut
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])


@router.get("/days", response_model=CalendarYearOut, dependencies=[require(Permission.UNIT_READ)])
def list_days(session: ReadSessionDep, clock: ClockDep,
              year: Annotated[int | None, Query(ge=1900, le=2999, description="default: this year")] = None,
              ) -> CalendarYearOut:
    year = year or to_business(clock.now()).year
    covered, entries = holidays.days_of_year(session, year)
    return CalendarYearOut(year=year, covered=covered, days=[
        CalendarDayOut(day=e.day, workday=e.workday, note=e.note, source=e.source, created_at=e.created_at)
        for e in entries])


@router.put("/days/{day}", response_model=CalendarDayOut, dependencies=[require(Permission.CALENDAR_MANAGE)])
def put_day(day: date, body: CalendarDayIn, session: SessionDep, clock: ClockDep) -> CalendarDayOut:
    row = holidays.set_day(session, day, body.workday, body.note, clock.now())
    session.commit()
    return CalendarDayOut(day=row.day, workday=row.workday, note=row.note, source="database",
                          created_at=row.created_at)


@router.delete("/days/{day}", status_code=204, dependencies=[require(Permission.CALENDAR_MANAGE)])
def delete_day(day: date, session: SessionDep) -> Response:
    holidays.remove_day(session, day)
    session.commit()
    return Response(status_code=204)


@router.get("/coverage", response_model=CoverageOut, dependencies=[require(Permission.UNIT_READ)])
def get_coverage(session: ReadSessionDep, clock: ClockDep, settings: SettingsDep) -> CoverageOut:
    cov = holidays.coverage_of(session, to_business(clock.now()).date(), settings.calendar_horizon_days)
    return CoverageOut(today=cov.today, horizon_days=cov.horizon_days, covered_until=cov.covered_until,
                       uncovered_days=len(cov.uncovered), first_uncovered=cov.uncovered[0] if cov.uncovered else None,
                       loaded_years=cov.loaded_years, warning=cov.warning)


def _coverage_now(app_state: Any) -> holidays.Coverage:
    settings: Settings = app_state.settings
    with app_state.read_sessions() as session:
        return holidays.coverage_of(session, to_business(app_state.clock.now()).date(),
                                    settings.calendar_horizon_days)


def calendar_health(app_state: Any) -> dict[str, Any]:
    """The /health detail. An uncovered horizon is a warning, not an outage: deadlines still run, treating the
    unknown year's holidays as working days, so the service stays up while someone loads the arrangement."""
    try:
        cov = _coverage_now(app_state)
    except SQLAlchemyError as exc:  # e.g. not migrated yet: /health reports that through its own checks
        return {"status": "unknown", "error": type(exc).__name__}
    detail: dict[str, Any] = {"covered_until": cov.covered_until.isoformat() if cov.covered_until else None,
                              "uncovered_days": len(cov.uncovered)}
    if cov.warning:
        detail["warning"] = cov.warning
    return detail


def log_uncovered_calendar(app_state: Any) -> None:
    """Said once at start-up, where operators look, well before the first holiday goes wrong."""
    try:
        cov = _coverage_now(app_state)
    except SQLAlchemyError as exc:
        log.warning("calendar coverage not checked: %s", type(exc).__name__)
        return
    if cov.warning:
        log.warning("working calendar: %s", cov.warning)
