"""The deadline sweeps the worker runs: breaches (red light) and warnings (yellow light).

Both follow the Healthchecks pattern (architecture.md §1, §6): find candidates through the partial index on
running deadlines, then claim each one in its own short transaction with a compare-and-set UPDATE and act
only when that UPDATE changed exactly one row. Two workers (or a sweep that runs twice) therefore breach or
warn each deadline exactly once, on SQLite and PostgreSQL alike.

A breach is stamped at the deadline's due time, not at the time of the sweep: a worker that was down for
three hours must not make every case look three hours less late.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, CaseEvent
from cityloop.core.clock import to_business
from cityloop.db.session import session_scope
from cityloop.deadlines.models import DEADLINE_LABELS, Deadline, DeadlineKind, DeadlineState
from cityloop.notifications import outbox
from cityloop.settings import Settings

log = logging.getLogger(__name__)

BATCH = 500
BREACH_TAG = "deadline:breach"
SUPERVISE_TAG = "case:supervise"
SYSTEM_ROLE = "system"
AUTO_SUPERVISE_NOTE = "超时自动督办"

# A literal, not a bound parameter: SQLite (and PostgreSQL's generic plans) can use the partial index
# ix_deadlines_running_due only when the query's WHERE visibly contains the index's own predicate.
RUNNING = sa.text("deadlines.state = 'pending'")


@dataclass(frozen=True)
class Candidate:
    """A deadline found by a sweep's query; the last one of a page is also the keyset cursor."""

    id: int
    case_id: int
    due_at: datetime


# id, case_id, due_at
CandidateQuery = sa.Select[int, int, datetime | None]


def _after(cursor: Candidate | None) -> sa.ColumnElement[bool]:
    """Keyset paging on (due_at, id): rows already looked at (claimed, skipped or failed) are not seen again,
    so a row that keeps failing cannot make the sweep loop forever."""
    if cursor is None:
        return sa.true()
    # The redundant `due_at >= …` is what both planners turn into the start of the index range; the OR alone
    # would be a filter, and every page would re-read the rows of all pages before it.
    return sa.and_(Deadline.due_at >= cursor.due_at,
                   sa.or_(Deadline.due_at > cursor.due_at, Deadline.id > cursor.id))


def overdue(now: datetime, *, after: Candidate | None = None, limit: int = BATCH) -> CandidateQuery:
    """Running deadlines past due and not yet stamped, in due order (served by ix_deadlines_running_due)."""
    return (sa.select(Deadline.id, Deadline.case_id, Deadline.due_at)
            .where(RUNNING, Deadline.due_at <= now, Deadline.breached_at.is_(None), _after(after))
            .order_by(Deadline.due_at, Deadline.id)
            .limit(limit))


def warnable(now: datetime, *, after: Candidate | None = None, limit: int = BATCH) -> CandidateQuery:
    """Running deadlines whose yellow light is due, not yet warned and not yet due themselves.

    Past-due rows are left to the breach sweep: a red light makes a yellow one pointless. The `due_at > now`
    range keeps the query on ix_deadlines_running_due.
    """
    return (sa.select(Deadline.id, Deadline.case_id, Deadline.due_at)
            .where(RUNNING, Deadline.due_at > now, Deadline.warn_at <= now, Deadline.warned_at.is_(None),
                   Deadline.breached_at.is_(None), _after(after))
            .order_by(Deadline.due_at, Deadline.id)
            .limit(limit))


def _rowcount(result: sa.Result[Any]) -> int:
    assert isinstance(result, CursorResult)  # an UPDATE always answers with a cursor result
    return result.rowcount


@dataclass(frozen=True)
class _Case:
    id: int
    number: str
    status: wf.Status
    unit_id: int | None


@dataclass(frozen=True)
class _Stamped:
    id: int
    kind: DeadlineKind
    due_at: datetime


def _stamped(session: Session, deadline_id: int) -> _Stamped:
    """The claimed deadline as it is now, under the claim's row lock."""
    row = session.execute(sa.select(Deadline.id, Deadline.kind, Deadline.due_at)
                          .where(Deadline.id == deadline_id)).one()
    assert row.due_at is not None  # the claim required due_at to be set (a running clock always has one)
    return _Stamped(row.id, row.kind, row.due_at)


def _case(session: Session, case_id: int, *, lock: bool) -> _Case:
    """The case's number, status and unit; with `lock`, under a row lock (PostgreSQL; an SQLite writer
    already holds the whole database).

    The breach sweep locks the case *before* claiming the deadline, so that it takes its locks case →
    deadline, the order in which a user's command flushes them; the other order could deadlock (once the
    督办 UPDATE needs the case row) with a command that meets the same deadline at the same moment.
    """
    stmt = sa.select(Case.id, Case.number, Case.status, Case.unit_id).where(Case.id == case_id)
    row = session.execute(stmt.with_for_update() if lock else stmt).one()
    return _Case(row.id, row.number, row.status, row.unit_id)


def _recipients(case: _Case) -> list[str]:
    return ([f"unit:{case.unit_id}"] if case.unit_id is not None else []) + ["role:dispatcher"]


def _notify(session: Session, kind: str, case: _Case, deadline: _Stamped, now: datetime) -> None:
    payload = {"case_id": case.id, "number": case.number, "status": case.status.value,
               "deadline_id": deadline.id, "kind": deadline.kind.value, "label": DEADLINE_LABELS[deadline.kind],
               "due_at": to_business(deadline.due_at).isoformat()}
    for recipient in _recipients(case):
        outbox.enqueue(session, kind, recipient, payload, now=now)


def _sweep(sessions: sessionmaker[Session], query: Callable[[Candidate | None, int], CandidateQuery],
           act: Callable[[Session, Candidate], bool], *, what: str, batch: int, stop: threading.Event | None) -> int:
    """Page through the candidates; run `act` for each in its own transaction. A failing row is logged and
    skipped, and the next sweep (not this one: the cursor has passed it) tries it again."""
    done = 0
    cursor: Candidate | None = None
    while True:
        with session_scope(sessions) as session:
            # due_at is never NULL here: both queries bound it, and SQL comparisons with NULL are false.
            page = [Candidate(r.id, r.case_id, r.due_at) for r in session.execute(query(cursor, batch))
                    if r.due_at is not None]
        for candidate in page:
            if stop is not None and stop.is_set():
                return done
            try:
                with session_scope(sessions) as session:
                    done += act(session, candidate)
            except Exception:
                log.exception("%s of deadline %s (case %s) failed; it is retried on the next sweep",
                              what, candidate.id, candidate.case_id)
        if len(page) < batch:
            return done
        cursor = page[-1]


def _breach(session: Session, candidate: Candidate, *, now: datetime, settings: Settings) -> bool:
    case = _case(session, candidate.case_id, lock=True)
    claimed = _rowcount(session.execute(
        sa.update(Deadline)
        # Re-test everything the candidate query tested: since it ran, the deadline may have been met,
        # paused, extended to a later due time, or breached by another worker.
        .where(Deadline.id == candidate.id, Deadline.state == DeadlineState.PENDING,
               Deadline.breached_at.is_(None), Deadline.due_at <= now)
        .values(breached_at=Deadline.due_at)
        .execution_options(synchronize_session=False)))
    if claimed != 1:
        return False
    deadline = _stamped(session, candidate.id)
    kind = deadline.kind
    session.add(CaseEvent(
        case_id=case.id, action=wf.Action.BREACH, tag=BREACH_TAG, from_status=case.status, to_status=case.status,
        actor_id=None, actor_role=SYSTEM_ROLE, unit_id=case.unit_id, note=f"{DEADLINE_LABELS[kind]}超时",
        details={"deadline_id": deadline.id, "kind": kind.value, "due_at": to_business(deadline.due_at).isoformat()},
        at=deadline.due_at))
    _notify(session, "deadline.breached", case, deadline, now)
    if settings.supervise_on_breach:
        _supervise(session, case, deadline, now=now)
    return True


def _supervise(session: Session, case: _Case, deadline: _Stamped, *, now: datetime) -> None:
    """督办 raised by the system, like cases.service.supervise but without an actor."""
    raised = _rowcount(session.execute(
        sa.update(Case)
        # The transition table allows 督办 only on open cases. The version bump makes any command prepared
        # against the old version fail with 409 stale_version, so its author sees the 督办 first.
        .where(Case.id == case.id, Case.status.in_(sorted(wf.OPEN)))
        .values(supervised=True, version=Case.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)))
    if raised != 1:
        return
    session.add(CaseEvent(
        case_id=case.id, action=wf.Action.SUPERVISE, tag=SUPERVISE_TAG, from_status=case.status,
        to_status=case.status, actor_id=None, actor_role=SYSTEM_ROLE, unit_id=case.unit_id,
        note=AUTO_SUPERVISE_NOTE, details={"deadline_id": deadline.id, "auto": True},
        # Dated with the breach that raised it, so the timeline reads 超时 → 督办 at the same instant.
        at=deadline.due_at))


def _warn(session: Session, candidate: Candidate, *, now: datetime) -> bool:
    # No lock: a warning writes only the deadline and the outbox, so it cannot deadlock with a command.
    case = _case(session, candidate.case_id, lock=False)
    claimed = _rowcount(session.execute(
        sa.update(Deadline)
        .where(Deadline.id == candidate.id, Deadline.state == DeadlineState.PENDING,
               Deadline.warned_at.is_(None), Deadline.breached_at.is_(None), Deadline.warn_at <= now,
               Deadline.due_at > now)
        .values(warned_at=now)
        .execution_options(synchronize_session=False)))
    if claimed != 1:
        return False
    deadline = _stamped(session, candidate.id)
    _notify(session, "deadline.warning", case, deadline, now)
    return True


def sweep_breaches(sessions: sessionmaker[Session], *, now: datetime, settings: Settings, batch: int = BATCH,
                   stop: threading.Event | None = None) -> int:
    """Stamp every running deadline past due (breached_at = due_at) and return how many this call stamped.

    Per deadline, in one transaction with the claim: a 超时 (breach) event dated at the due time, a
    "deadline.breached" message to the case's unit (if any) and the dispatchers, and, when
    settings.supervise_on_breach, an automatic 督办. Setting `stop` ends the sweep after the row in hand.
    """
    return _sweep(sessions, lambda after, limit: overdue(now, after=after, limit=limit),
                  lambda session, c: _breach(session, c, now=now, settings=settings), what="breach", batch=batch,
                  stop=stop)


def sweep_warnings(sessions: sessionmaker[Session], *, now: datetime, batch: int = BATCH,
                   stop: threading.Event | None = None) -> int:
    """Stamp warned_at on every running deadline whose yellow light is due and send "deadline.warning";
    return how many this call warned."""
    return _sweep(sessions, lambda after, limit: warnable(now, after=after, limit=limit),
                  lambda session, c: _warn(session, c, now=now), what="warning", batch=batch, stop=stop)
