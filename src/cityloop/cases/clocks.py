"""Which step clocks each action starts, stops, pauses or moves: the deadline side of the transition table.

Kept beside the workflow rather than inside it because it needs the database (limits, filing standards);
the mapping itself is the table below, one row per action and outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cityloop.cases import workflow as wf
from cityloop.cases.models import Case
from cityloop.catalog import queries as catalog_queries
from cityloop.core.timeunits import TimeUnit
from cityloop.deadlines import service as deadlines
from cityloop.deadlines.models import DeadlineKind

A, OC, K = wf.Action, wf.Outcome, DeadlineKind


@dataclass(frozen=True)
class ClockRule:
    meet: tuple[DeadlineKind, ...] = ()
    cancel: tuple[DeadlineKind, ...] = ()
    cancel_all: bool = False
    open: DeadlineKind | None = None
    pause: DeadlineKind | None = None
    resume: DeadlineKind | None = None


CLOCKS: dict[tuple[wf.Action, wf.Outcome | None], ClockRule] = {
    (A.REPORT, None): ClockRule(open=K.ACCEPT),
    (A.ACCEPT, None): ClockRule(meet=(K.ACCEPT,), open=K.FILE),
    (A.REJECT, None): ClockRule(meet=(K.ACCEPT,)),
    (A.REQUEST_VERIFICATION, None): ClockRule(meet=(K.ACCEPT,), open=K.VERIFY),
    (A.VERIFY, OC.CONFIRMED): ClockRule(meet=(K.VERIFY,), open=K.FILE),
    (A.VERIFY, OC.REFUTED): ClockRule(meet=(K.VERIFY,)),
    (A.FILE, None): ClockRule(meet=(K.FILE,), open=K.DISPATCH),
    (A.FILE, OC.SELF_HANDLED): ClockRule(meet=(K.FILE,), open=K.CLOSE),
    (A.VOID, None): ClockRule(cancel_all=True),
    (A.DISPATCH, None): ClockRule(meet=(K.DISPATCH,), open=K.HANDLE),
    # 回退: the unit's clock stops; the re-dispatch starts a new one (domain.md §3.3).
    (A.APPROVE_RETURN, None): ClockRule(cancel=(K.HANDLE,), open=K.DISPATCH),
    (A.APPROVE_SUSPENSION, None): ClockRule(pause=K.HANDLE),
    (A.RESUME, None): ClockRule(resume=K.HANDLE),
    (A.COMPLETE, None): ClockRule(meet=(K.HANDLE,), open=K.CHECK),
    (A.CHECK, OC.PASSED): ClockRule(meet=(K.CHECK,), open=K.CLOSE),
    # 返工: a new handling round with the same limit, from the failed check (domain.md §8.7 leaves it open).
    (A.CHECK, OC.FAILED): ClockRule(meet=(K.CHECK,), open=K.HANDLE),
    (A.CLOSE, None): ClockRule(meet=(K.CLOSE,)),
    (A.FORCE_CLOSE, None): ClockRule(cancel_all=True),
}


def handling_limit(session: Session, case: Case) -> tuple[float, TimeUnit]:
    """The handling limit: the filing standard's row (its region variant when one was chosen), else the
    city's default for the step."""
    standard = catalog_queries.get_standard(session, case.filing_standard_id) if case.filing_standard_id else None
    if standard is None:
        return deadlines.step_limit(session, K.HANDLE, case.urgent)
    amount, unit = standard.deadline_amount, TimeUnit(standard.deadline_unit)
    variant = (standard.region_deadlines or {}).get(case.region_class or "")
    if variant:
        amount, unit = float(variant["amount"]), TimeUnit(variant["unit"])
    return deadlines.for_urgency(amount, unit, case.urgent)


def apply(session: Session, case: Case, action: wf.Action, outcome: wf.Outcome | None, now: datetime) -> None:
    rule = CLOCKS.get((action, outcome))
    if rule is None:
        return
    if rule.cancel_all:
        deadlines.cancel(session, case.id, None, now=now)
    if rule.cancel:
        deadlines.cancel(session, case.id, rule.cancel, now=now)
    if rule.meet:
        deadlines.meet(session, case.id, rule.meet, now=now)
    if rule.pause is not None:
        deadlines.pause(session, case.id, rule.pause, now=now)
    if rule.resume is not None:
        deadlines.resume(session, case.id, rule.resume, now=now)
    if rule.open is not None:
        if rule.open is K.HANDLE:
            amount, unit = handling_limit(session, case)
        else:
            amount, unit = deadlines.step_limit(session, rule.open, case.urgent)
        deadlines.open_clock(session, case.id, rule.open, amount=amount, unit=unit, now=now)
