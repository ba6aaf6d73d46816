"""Step clocks: open, meet, pause (挂账), resume, extend (延期), cancel, and the traffic light. Never commits.

The working calendar and the city's deadline settings are read once per session (`policy`), from the settings
the session factory was given (create_app puts them in the session's info) or the process's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.errors import Conflict, ValidationFailed
from cityloop.core.timeunits import TimeUnit
from cityloop.deadlines import calendar as cal
from cityloop.deadlines import holidays
from cityloop.deadlines.models import DEADLINE_LABELS, Deadline, DeadlineKind, DeadlineState, StepLimit
from cityloop.settings import Settings

K, U = DeadlineKind, TimeUnit

# Step limits when the city has set none (step_limits rows win). No national figures were found (domain.md
# §8.5), so these are cityloop's defaults: an hour of working time for the desk steps, half a working day
# for the collector's steps, and continuous time for emergencies.
DEFAULT_STEP_LIMITS: dict[tuple[DeadlineKind, bool], tuple[float, TimeUnit]] = {
    (K.ACCEPT, False): (1, U.WORK_HOUR), (K.ACCEPT, True): (0.25, U.URGENT_HOUR),
    (K.VERIFY, False): (4, U.WORK_HOUR), (K.VERIFY, True): (1, U.URGENT_HOUR),
    (K.FILE, False): (1, U.WORK_HOUR), (K.FILE, True): (0.25, U.URGENT_HOUR),
    (K.DISPATCH, False): (1, U.WORK_HOUR), (K.DISPATCH, True): (0.25, U.URGENT_HOUR),
    (K.HANDLE, False): (1, U.WORK_DAY), (K.HANDLE, True): (2, U.URGENT_HOUR),
    (K.CHECK, False): (4, U.WORK_HOUR), (K.CHECK, True): (1, U.URGENT_HOUR),
    (K.CLOSE, False): (1, U.WORK_HOUR), (K.CLOSE, True): (1, U.URGENT_HOUR),
}

# An emergency runs on continuous time: a working-time limit keeps its number and loses its pauses.
_CONTINUOUS = {U.WORK_HOUR: U.URGENT_HOUR, U.WORK_DAY: U.URGENT_DAY}

RUNNING = (DeadlineState.PENDING, DeadlineState.PAUSED)


@dataclass(frozen=True)
class Policy:
    calendar: cal.WorkCalendar
    yellow_at: float
    max_extensions: int


def policy(session: Session) -> Policy:
    """The calendar and deadline settings for this unit of work, loaded once per session."""
    cached = session.info.get("deadline_policy")
    if cached is None:
        settings: Settings = session.info.get("settings") or Settings()
        cached = Policy(holidays.load_calendar(session, settings), settings.deadline_yellow_at,
                        settings.max_extensions)
        session.info["deadline_policy"] = cached
    return cached


def _city_limits(session: Session) -> dict[tuple[DeadlineKind, bool], StepLimit]:
    """The city's own step limits, read once per unit of work: every step of every case asks, and a missing
    row (the default applies) would otherwise be a query each time."""
    cached = session.info.get("step_limits")
    if cached is None:
        cached = {(r.kind, r.urgent): r for r in session.scalars(sa.select(StepLimit))}
        session.info["step_limits"] = cached
    return cached


def step_limit(session: Session, kind: DeadlineKind, urgent: bool) -> tuple[float, TimeUnit]:
    row = _city_limits(session).get((kind, urgent))
    if row is not None:
        return row.amount, TimeUnit(row.unit)
    return DEFAULT_STEP_LIMITS[(kind, urgent)]


def set_step_limit(session: Session, kind: DeadlineKind, urgent: bool, amount: float, unit: TimeUnit) -> StepLimit:
    """A city's own limit for a step; it applies to clocks started afterwards, never to running ones. For the
    handling step it is the fallback of classes that have no filing-standard rows."""
    if amount <= 0:
        raise ValidationFailed("amount: a time limit must be positive", field="amount")
    row = session.get(StepLimit, (kind, urgent))
    if row is None:
        row = StepLimit(kind=kind, urgent=urgent, amount=amount, unit=unit.value)
        session.add(row)
    else:
        row.amount, row.unit = amount, unit.value
    session.info.pop("step_limits", None)
    return row


def step_limits(session: Session) -> list[tuple[DeadlineKind, bool, float, TimeUnit, bool]]:
    """Every step's limit for normal and urgent cases, and whether the city set it (else the default)."""
    result = []
    for (kind, urgent), (amount, unit) in DEFAULT_STEP_LIMITS.items():
        row = session.get(StepLimit, (kind, urgent))
        if row is not None:
            result.append((kind, urgent, row.amount, TimeUnit(row.unit), True))
        else:
            result.append((kind, urgent, amount, unit, False))
    return result


def for_urgency(amount: float, unit: TimeUnit, urgent: bool) -> tuple[float, TimeUnit]:
    return (amount, _CONTINUOUS.get(unit, unit)) if urgent else (amount, unit)


def _warn_at(p: Policy, d: Deadline, now: datetime) -> datetime | None:
    """When the used share reaches yellow_at, given the remaining minutes from `now`."""
    assert d.due_at is not None
    threshold = round(d.total_minutes * p.yellow_at)
    used = d.total_minutes - cal.minutes_between(p.calendar, now, d.due_at, working=d.working)
    if used >= threshold:
        return now
    return cal.add_minutes(p.calendar, now, threshold - used, working=d.working)


def open_clock(session: Session, case_id: int, kind: DeadlineKind, *, amount: float, unit: TimeUnit,
               now: datetime) -> Deadline:
    p = policy(session)
    working = cal.is_working(unit)
    minutes = cal.to_minutes(p.calendar, amount, unit)
    d = Deadline(case_id=case_id, kind=kind, state=DeadlineState.PENDING, limit_amount=amount,
                 limit_unit=unit.value, working=working, total_minutes=minutes, started_at=now,
                 due_at=cal.add_minutes(p.calendar, now, minutes, working=working), extensions=0)
    d.warn_at = _warn_at(p, d, now)
    session.add(d)
    return d


def running(session: Session, case_id: int, kinds: Iterable[DeadlineKind] | None = None) -> list[Deadline]:
    stmt = sa.select(Deadline).where(Deadline.case_id == case_id, Deadline.state.in_(RUNNING))
    if kinds is not None:
        stmt = stmt.where(Deadline.kind.in_(list(kinds)))
    return list(session.scalars(stmt.order_by(Deadline.id)))


def running_many(session: Session, case_ids: Iterable[int]) -> dict[int, list[Deadline]]:
    """The open clocks of many cases in one query (work queues show a light per case)."""
    ids = list(case_ids)
    found: dict[int, list[Deadline]] = {i: [] for i in ids}
    if ids:
        for d in session.scalars(sa.select(Deadline).where(Deadline.case_id.in_(ids), Deadline.state.in_(RUNNING))
                                 .order_by(Deadline.id)):
            found[d.case_id].append(d)
    return found


def meet(session: Session, case_id: int, kinds: Iterable[DeadlineKind], *, now: datetime) -> list[Deadline]:
    met = running(session, case_id, kinds)
    for d in met:
        if d.state is DeadlineState.PAUSED:  # done while parked: whatever remained was not used
            d.due_at = now
        d.state, d.met_at = DeadlineState.MET, now
    return met


def cancel(session: Session, case_id: int, kinds: Iterable[DeadlineKind] | None = None, *,
           now: datetime) -> list[Deadline]:
    cancelled = running(session, case_id, kinds)
    for d in cancelled:
        d.state, d.met_at = DeadlineState.CANCELLED, now
    return cancelled


def pause(session: Session, case_id: int, kind: DeadlineKind, *, now: datetime) -> list[Deadline]:
    """挂账: the clock stands still; what was left of the limit is kept for `resume`."""
    p = policy(session)
    paused = [d for d in running(session, case_id, [kind]) if d.state is DeadlineState.PENDING]
    for d in paused:
        assert d.due_at is not None
        d.remaining_minutes = max(0, cal.minutes_between(p.calendar, now, d.due_at, working=d.working))
        d.state, d.paused_at, d.due_at, d.warn_at = DeadlineState.PAUSED, now, None, None
    return paused


def resume(session: Session, case_id: int, kind: DeadlineKind, *, now: datetime) -> list[Deadline]:
    p = policy(session)
    resumed = [d for d in running(session, case_id, [kind]) if d.state is DeadlineState.PAUSED]
    for d in resumed:
        d.due_at = cal.add_minutes(p.calendar, now, d.remaining_minutes or 0, working=d.working)
        d.state, d.paused_at, d.remaining_minutes = DeadlineState.PENDING, None, None
        d.warn_at = _warn_at(p, d, now)
    return resumed


def check_extendable(session: Session, case_id: int) -> Deadline:
    """The handling clock a 延期 would move, or 409 when there is none or the limit of extensions is used."""
    p = policy(session)
    clocks = running(session, case_id, [K.HANDLE])
    if not clocks:
        raise Conflict("there is no running handling deadline to extend", code="no_deadline")
    d = clocks[-1]
    if d.extensions >= p.max_extensions:
        raise Conflict(f"the handling deadline was already extended {d.extensions} times "
                       f"(the city allows {p.max_extensions})", code="extension_limit")
    return d


def extend(session: Session, case_id: int, amount: float, unit: TimeUnit, *, now: datetime) -> Deadline:
    """An approved 延期 moves the handling deadline on from where it stood (not from now), in the unit asked
    for: 3 自然日 are three calendar days even on a working-time clock."""
    p = policy(session)
    d = check_extendable(session, case_id)
    d.extensions += 1
    if d.state is DeadlineState.PAUSED:
        # Parked: the extension is added to what remains, measured as the clock counts.
        added = cal.minutes_between(p.calendar, now, cal.add(p.calendar, now, amount, unit), working=d.working)
        d.remaining_minutes = (d.remaining_minutes or 0) + added
    else:
        assert d.due_at is not None  # a pending clock has a due time
        new_due = cal.add(p.calendar, d.due_at, amount, unit)
        added = cal.minutes_between(p.calendar, d.due_at, new_due, working=d.working)
        d.due_at = new_due
        # A breach already stamped stays: it happened, and 延期 is counted apart (延期率).
        d.warn_at, d.warned_at = None, None
        d.total_minutes += added
        d.warn_at = _warn_at(p, d, now)
        return d
    d.total_minutes += added
    return d


def light(p: Policy, d: Deadline, now: datetime) -> dict[str, Any]:
    """The view of one open clock: due time, remaining time and its light (green, yellow, red)."""
    if d.state is DeadlineState.PAUSED:
        remaining = d.remaining_minutes or 0
    else:
        assert d.due_at is not None
        remaining = cal.minutes_between(p.calendar, now, d.due_at, working=d.working)
    used = 1 - remaining / d.total_minutes if d.total_minutes else 1.0
    colour = "red" if remaining <= 0 else ("yellow" if used >= p.yellow_at else "green")
    return {"id": d.id, "kind": d.kind, "label": DEADLINE_LABELS[d.kind], "state": d.state,
            "due_at": d.due_at, "remaining_minutes": remaining, "working": d.working,
            "limit": {"amount": d.limit_amount, "unit": d.limit_unit}, "extensions": d.extensions,
            "light": colour, "breached_at": d.breached_at}
