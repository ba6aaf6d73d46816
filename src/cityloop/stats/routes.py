from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter

from cityloop.auth.deps import require
from cityloop.auth.permissions import Permission
from cityloop.core.clock import BUSINESS_TZ
from cityloop.core.errors import ValidationFailed
from cityloop.deps import ClockDep, ReadSessionDep
from cityloop.stats import queries
from cityloop.stats.schemas import RateOut, TimelinessOut

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("/timeliness", response_model=TimelinessOut, dependencies=[require(Permission.STATS_READ)])
def timeliness(session: ReadSessionDep, clock: ClockDep, start: date, end: date) -> TimelinessOut:
    """Timeliness for the business days `start` to `end` inclusive (Asia/Shanghai); see docs/timeliness.md."""
    if end < start:
        raise ValidationFailed("end: must not be before start", field="end")
    period = queries.Period(datetime.combine(start, time(), BUSINESS_TZ),
                            datetime.combine(end + timedelta(days=1), time(), BUSINESS_TZ))
    now = clock.now()
    steps = queries.step_rates(session, period, now)
    return TimelinessOut(
        start=period.start, end=period.end,
        resolution_rate=RateOut(**queries.resolution_rate(session, period, now).as_dict()),
        closing_rate=RateOut(**queries.closing_rate(session, period, now).as_dict()),
        steps={kind.value: RateOut(**rate.as_dict()) for kind, rate in steps.items()})
