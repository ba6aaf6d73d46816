"""Timeliness for any period, from the step clocks (docs/timeliness.md defines every figure).

Each clock, and each case, is counted in exactly one period: on time → the period it was done in; late →
the period it fell due in (whether it was done later or is still open). So 应X = 按时X + 超期X, and no
period borrows from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.workflow import Action, Status
from cityloop.deadlines.models import Deadline, DeadlineKind, DeadlineState
from cityloop.stats.evaluation import Rate

K = DeadlineKind


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, aware
    end: datetime    # exclusive, aware


def _late(now: datetime) -> sa.ColumnElement[bool]:
    """Done after its due time, breached (even if later extended), or running past its due time now."""
    return sa.or_(
        Deadline.breached_at.is_not(None),
        sa.and_(Deadline.state == DeadlineState.MET, Deadline.met_at > Deadline.due_at),
        sa.and_(Deadline.state == DeadlineState.PENDING, Deadline.due_at <= now),
    )


def step_rates(session: Session, period: Period, now: datetime) -> dict[DeadlineKind, Rate]:
    """按时受理/核实/立案/派遣率, 按期处置率, 按时核查/结案率: on-time clocks over clocks due, per step."""
    late = _late(now)
    late_key = sa.func.coalesce(Deadline.breached_at, Deadline.due_at)
    on_time_in = sa.and_(Deadline.state == DeadlineState.MET, sa.not_(late),
                         Deadline.met_at >= period.start, Deadline.met_at < period.end)
    late_in = sa.and_(late, late_key >= period.start, late_key < period.end)
    rows = session.execute(
        sa.select(Deadline.kind,
                  sa.func.count().filter(on_time_in),
                  sa.func.count().filter(late_in))
        .where(Deadline.state != DeadlineState.CANCELLED)
        .group_by(Deadline.kind)).all()
    counts = {kind: (int(on_time), int(late_n)) for kind, on_time, late_n in rows}
    return {kind: Rate(counts.get(kind, (0, 0))[0], sum(counts.get(kind, (0, 0)))) for kind in DeadlineKind}


def _first_late(session: Session, now: datetime, kinds: tuple[DeadlineKind, ...], *,
                period: Period | None = None, case_ids: list[int] | None = None) -> dict[int, datetime]:
    """Case id → when the first of its clocks of these kinds went late: for the cases whose first lateness
    falls in `period`, or for the cases named."""
    key = sa.func.min(sa.func.coalesce(Deadline.breached_at, Deadline.due_at))
    stmt = (sa.select(Deadline.case_id, key)
            .where(Deadline.kind.in_(kinds), Deadline.state != DeadlineState.CANCELLED, _late(now))
            .group_by(Deadline.case_id))
    if case_ids is not None:
        if not case_ids:
            return {}
        stmt = stmt.where(Deadline.case_id.in_(case_ids))
    if period is not None:
        stmt = stmt.having(sa.and_(key >= period.start, key < period.end))
    return dict(session.execute(stmt).all())


def _forced(session: Session, case_ids: list[int]) -> set[int]:
    if not case_ids:
        return set()
    return set(session.scalars(sa.select(CaseEvent.case_id).where(
        CaseEvent.action == Action.FORCE_CLOSE, CaseEvent.case_id.in_(case_ids))))


def _ended_without_a_case(session: Session, case_ids: list[int]) -> set[int]:
    """Voided or rejected: outside every denominator but the filing accuracy's."""
    if not case_ids:
        return set()
    return set(session.scalars(sa.select(Case.id).where(
        Case.id.in_(case_ids), Case.status.in_([Status.VOIDED, Status.REJECTED]))))


def closing_rate(session: Session, period: Period, now: datetime) -> Rate:
    """按期结案率 = 按期结案数 / 应结案数 (docs/timeliness.md)."""
    kinds = (K.HANDLE, K.CLOSE)
    closed = list(session.scalars(sa.select(Case.id).where(
        Case.status == Status.CLOSED, Case.closed_at >= period.start, Case.closed_at < period.end)))
    forced_closed = _forced(session, closed)
    late_closed = _first_late(session, now, kinds, case_ids=closed)
    # 强制结案 is never 按期 and counts where it closed; a late case counts where it fell due (below).
    on_time = sum(1 for cid in closed if cid not in forced_closed and cid not in late_closed)
    fell_due = list(_first_late(session, now, kinds, period=period))
    excluded = _forced(session, fell_due) | _ended_without_a_case(session, fell_due)
    late = sum(1 for cid in fell_due if cid not in excluded)
    return Rate(on_time, on_time + len(forced_closed) + late)


def resolution_rate(session: Session, period: Period, now: datetime) -> Rate:
    """及时解决率 = 及时解决数 / 应解决数: the problem fixed (its check passed, or it was self-handled) within
    the handling deadline; late cases count where they fell due (docs/timeliness.md)."""
    solved = list(session.scalars(sa.select(CaseEvent.case_id).where(
        sa.or_(sa.and_(CaseEvent.action == Action.CHECK, CaseEvent.to_status == Status.CHECKED),
               sa.and_(CaseEvent.action == Action.FILE, CaseEvent.to_status == Status.CHECKED)),
        CaseEvent.at >= period.start, CaseEvent.at < period.end).distinct()))
    late_solved = _first_late(session, now, (K.HANDLE,), case_ids=solved)
    on_time = sum(1 for cid in solved if cid not in late_solved)
    fell_due = list(_first_late(session, now, (K.HANDLE,), period=period))
    excluded = _ended_without_a_case(session, fell_due)
    return Rate(on_time, on_time + sum(1 for cid in fell_due if cid not in excluded))
