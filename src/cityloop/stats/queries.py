"""Timeliness for any period, from the step clocks (docs/timeliness.md defines every figure).

Each clock, and each case, is counted in exactly one period: on time → the period it was done in; late →
the period it fell due in (whether it was done later or is still open). So 应X = 按时X + 超期X, and no
period borrows from another.
"""

from __future__ import annotations

from collections import defaultdict
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


@dataclass
class _CaseClocks:
    late_at: datetime | None = None          # when the first of its handling/closing clocks went late
    handled_on_time: bool = True


def _case_clocks(session: Session, now: datetime, kinds: tuple[DeadlineKind, ...]) -> dict[int, _CaseClocks]:
    late = _late(now)
    result: dict[int, _CaseClocks] = defaultdict(_CaseClocks)
    for case_id, key in session.execute(
            sa.select(Deadline.case_id, sa.func.min(sa.func.coalesce(Deadline.breached_at, Deadline.due_at)))
            .where(Deadline.kind.in_(kinds), Deadline.state != DeadlineState.CANCELLED, late)
            .group_by(Deadline.case_id)):
        result[case_id].late_at = key
        result[case_id].handled_on_time = False
    return result


def closing_rate(session: Session, period: Period, now: datetime) -> Rate:
    """按期结案率 = 按期结案数 / 应结案数 (docs/timeliness.md)."""
    late = _case_clocks(session, now, (K.HANDLE, K.CLOSE))
    forced = {cid for (cid,) in session.execute(sa.select(CaseEvent.case_id).where(
        CaseEvent.action == Action.FORCE_CLOSE))}
    closed = session.execute(sa.select(Case.id, Case.closed_at).where(
        Case.status == Status.CLOSED, Case.closed_at >= period.start, Case.closed_at < period.end)).all()
    on_time = due = 0
    for case_id, _closed_at in closed:
        info = late.get(case_id)
        if case_id in forced:
            due += 1  # 强制结案 is never 按期, and counts where it closed
        elif info is None:
            on_time += 1
            due += 1
    # Late cases (closed or not) count in the period they fell due in.
    voided = {cid for (cid,) in session.execute(sa.select(Case.id).where(
        Case.status.in_([Status.VOIDED, Status.REJECTED])))}
    due += sum(1 for cid, info in late.items()
               if cid not in forced and cid not in voided and info.late_at is not None
               and period.start <= info.late_at < period.end)
    return Rate(on_time, due)


def resolution_rate(session: Session, period: Period, now: datetime) -> Rate:
    """及时解决率 = 及时解决数 / 应解决数: the problem fixed (its check passed, or it was self-handled) within
    the handling deadline; late cases count where they fell due (docs/timeliness.md)."""
    late = _case_clocks(session, now, (K.HANDLE,))
    solved = session.execute(sa.select(CaseEvent.case_id, sa.func.max(CaseEvent.at)).where(
        sa.or_(sa.and_(CaseEvent.action == Action.CHECK, CaseEvent.to_status == Status.CHECKED),
               sa.and_(CaseEvent.action == Action.FILE, CaseEvent.to_status == Status.CHECKED)),
        CaseEvent.at >= period.start, CaseEvent.at < period.end).group_by(CaseEvent.case_id)).all()
    on_time = sum(1 for case_id, _at in solved if case_id not in late)
    voided = {cid for (cid,) in session.execute(sa.select(Case.id).where(Case.status == Status.VOIDED))}
    due_late = sum(1 for cid, info in late.items()
                   if cid not in voided and info.late_at is not None and period.start <= info.late_at < period.end)
    return Rate(on_time, on_time + due_late)

