"""The deadline sweeps (cases/jobs.py); the worker loop and `cityloop worker` are in test_worker_loop.py.

Cases come from the real create_case; their step clocks are then cancelled so that each test's own Deadline
rows, with chosen due and warning times, are the only running ones.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.auth.service import principal_of
from cityloop.cases import jobs
from cityloop.cases import service as case_service
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.schemas import CaseIn
from cityloop.cases.workflow import Action, Status
from cityloop.catalog.enums import Kind
from cityloop.core.clock import to_business
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.deadlines.models import Deadline, DeadlineKind, DeadlineState
from cityloop.notifications.models import OutboxMessage
from cityloop.settings import Settings
from tests import factories
from tests.conftest import World
from tests.dbutil import on_postgres, race

T0 = factories.EPOCH                      # Wednesday 10:00 in Asia/Shanghai
DUE = T0 + timedelta(hours=2)
LATE_SWEEP = DUE + timedelta(hours=5)     # the worker was down for five hours


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[OutboxMessage] = []
        self._lock = threading.Lock()

    def send(self, message: OutboxMessage) -> None:
        with self._lock:
            self.sent.append(message)


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """conftest's session_factory in the shape the jobs take: savepoints on the test's rolled-back connection."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


def new_case(session: Session, reporter: User, *, unit_id: int | None = None) -> int:
    case = case_service.create_case(session, principal_of(reporter), CaseIn(
        kind=Kind.PART, category_code="01001", description="供水井盖缺失", lat=30.2590, lon=120.1519), now=T0)
    session.flush()  # flush: the clocks are cancelled by case id
    session.execute(sa.update(Deadline).where(Deadline.case_id == case.id).values(state=DeadlineState.CANCELLED))
    if unit_id is not None:
        session.execute(sa.update(Case).where(Case.id == case.id).values(unit_id=unit_id))
    return case.id


def add_deadline(session: Session, case_id: int, *, due_at: datetime | None, warn_at: datetime | None = None,
                 state: DeadlineState = DeadlineState.PENDING, kind: DeadlineKind = DeadlineKind.HANDLE,
                 **extra: Any) -> int:
    d = Deadline(case_id=case_id, kind=kind, state=state, limit_amount=2, limit_unit="小时", working=False,
                 total_minutes=120, started_at=T0, due_at=due_at, warn_at=warn_at, extensions=0, **extra)
    session.add(d)
    session.flush()  # flush: callers need the id
    return d.id


def events(session: Session, case_id: int) -> list[CaseEvent]:
    return list(session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def messages(session: Session, kind: str) -> list[OutboxMessage]:
    return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                .order_by(OutboxMessage.id)))


def fresh(session: Session) -> Session:
    session.expire_all()  # the jobs wrote through other sessions on the same connection
    return session


# --- breaches ---------------------------------------------------------------------------------------------

def test_a_breach_is_stamped_at_the_due_time_even_when_the_sweep_runs_hours_later(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    deadline_id = add_deadline(session, case_id, due_at=DUE)
    session.commit()

    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings) == 1

    s = fresh(session)
    deadline = s.get_one(Deadline, deadline_id)
    assert (deadline.state, deadline.breached_at) == (DeadlineState.PENDING, DUE)
    breach = [e for e in events(s, case_id) if e.action is Action.BREACH]
    assert len(breach) == 1
    e = breach[0]
    assert (e.at, e.tag, e.from_status, e.to_status) == (DUE, "deadline:breach", Status.REPORTED, Status.REPORTED)
    assert (e.actor_id, e.actor_role, e.unit_id, e.note) == (None, "system", None, "处置超时")
    assert e.details == {"deadline_id": deadline_id, "kind": "handle", "due_at": to_business(DUE).isoformat()}
    [message] = messages(s, "deadline.breached")
    assert (message.recipient, message.created_at, message.available_at, message.sent_at) == (
        "role:dispatcher", LATE_SWEEP, LATE_SWEEP, None)
    number = s.get_one(Case, case_id).number
    assert message.payload == {"case_id": case_id, "number": number, "status": "reported",
                               "deadline_id": deadline_id, "kind": "handle", "label": "处置",
                               "due_at": to_business(DUE).isoformat()}
    # Without supervise_on_breach the case itself is not touched.
    case = s.get_one(Case, case_id)
    assert (case.supervised, case.version) == (False, 1)
    assert [e.action for e in events(s, case_id)] == [Action.REPORT, Action.BREACH]


def test_the_breach_goes_to_the_case_unit_and_the_dispatchers(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user, unit_id=world.unit_a)
    add_deadline(session, case_id, due_at=DUE)
    session.commit()

    assert jobs.sweep_breaches(sessions, now=DUE, settings=settings) == 1

    s = fresh(session)
    assert sorted(m.recipient for m in messages(s, "deadline.breached")) == [
        "role:dispatcher", f"unit:{world.unit_a}"]
    [breach] = [e for e in events(s, case_id) if e.action is Action.BREACH]
    assert breach.unit_id == world.unit_a


def test_supervise_on_breach_raises_a_system_supervision_and_bumps_the_version(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    deadline_id = add_deadline(session, case_id, due_at=DUE)
    session.commit()
    version = session.get_one(Case, case_id).version

    supervising = settings.model_copy(update={"supervise_on_breach": True})
    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=supervising) == 1

    s = fresh(session)
    case = s.get_one(Case, case_id)
    assert (case.supervised, case.version, case.updated_at) == (True, version + 1, LATE_SWEEP)
    report, breach, supervise = events(s, case_id)
    assert (report.action, breach.action, supervise.action) == (Action.REPORT, Action.BREACH, Action.SUPERVISE)
    assert (supervise.actor_id, supervise.actor_role, supervise.note, supervise.at) == (
        None, "system", "超时自动督办", DUE)
    assert (supervise.from_status, supervise.to_status) == (Status.REPORTED, Status.REPORTED)
    assert supervise.details == {"deadline_id": deadline_id, "auto": True}


def test_supervise_on_breach_leaves_a_closed_case_alone(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    session.execute(sa.update(Case).where(Case.id == case_id).values(status=Status.CLOSED))
    add_deadline(session, case_id, due_at=DUE)  # a stray running clock on a closed case
    session.commit()

    supervising = settings.model_copy(update={"supervise_on_breach": True})
    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=supervising) == 1

    s = fresh(session)
    assert [e.action for e in events(s, case_id)] == [Action.REPORT, Action.BREACH]
    assert s.get_one(Case, case_id).supervised is False


def test_only_running_deadlines_past_due_are_breached(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    now = LATE_SWEEP
    due = add_deadline(session, case_id, due_at=DUE)
    due_this_instant = add_deadline(session, case_id, due_at=now, kind=DeadlineKind.CHECK)
    untouched = {
        "not yet due": add_deadline(session, case_id, due_at=now + timedelta(seconds=1)),
        "paused": add_deadline(session, case_id, due_at=None, state=DeadlineState.PAUSED, paused_at=T0,
                               remaining_minutes=30),
        "met": add_deadline(session, case_id, due_at=DUE, state=DeadlineState.MET, met_at=DUE),
        "cancelled": add_deadline(session, case_id, due_at=DUE, state=DeadlineState.CANCELLED, met_at=T0),
    }
    # Breached, then extended (延期): running again, due later, and its stamp stays as it was.
    extended = add_deadline(session, case_id, due_at=now - timedelta(minutes=1), breached_at=T0)
    session.commit()

    assert jobs.sweep_breaches(sessions, now=now, settings=settings) == 2

    s = fresh(session)
    stamps = {d.id: d.breached_at for d in s.scalars(sa.select(Deadline).where(Deadline.case_id == case_id))}
    assert (stamps[due], stamps[due_this_instant], stamps[extended]) == (DUE, now, T0)
    assert {name: stamps[i] for name, i in untouched.items()} == dict.fromkeys(untouched)
    assert sorted(e.details["deadline_id"] for e in events(s, case_id) if e.action is Action.BREACH) == sorted(
        [due, due_this_instant])


def test_a_second_sweep_does_nothing(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    add_deadline(session, case_id, due_at=DUE)
    session.commit()
    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings) == 1

    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP + timedelta(hours=1), settings=settings) == 0

    s = fresh(session)
    assert [e.action for e in events(s, case_id)] == [Action.REPORT, Action.BREACH]
    assert len(messages(s, "deadline.breached")) == 1


def test_the_sweep_pages_through_more_rows_than_one_batch(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user)
    # Equal due times on purpose: the keyset must page on (due_at, id), not on due_at alone.
    ids = [add_deadline(session, case_id, due_at=DUE if i % 2 else T0) for i in range(7)]
    session.commit()

    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings, batch=3) == 7

    s = fresh(session)
    assert sorted(e.details["deadline_id"] for e in events(s, case_id) if e.action is Action.BREACH) == ids


def test_a_failing_row_is_logged_skipped_and_retried_by_the_next_sweep(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    reporter = world["collector"].user
    ok_case, bad_case = new_case(session, reporter), new_case(session, reporter)
    bad = add_deadline(session, bad_case, due_at=T0)  # first in due order, so the others come after it
    ok = add_deadline(session, ok_case, due_at=DUE)
    session.commit()
    real_enqueue = jobs.outbox.enqueue

    def enqueue(s: Session, kind: str, recipient: str, payload: dict[str, Any], *, now: datetime) -> Any:
        if payload["case_id"] == bad_case:
            raise RuntimeError("gateway table is full")
        return real_enqueue(s, kind, recipient, payload, now=now)

    monkeypatch.setattr(jobs.outbox, "enqueue", enqueue)
    with caplog.at_level(logging.ERROR, logger="cityloop.cases.jobs"):
        assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings, batch=1) == 1
    assert f"breach of deadline {bad} (case {bad_case}) failed" in caplog.text

    s = fresh(session)
    # The claim, the event and the message are one transaction: the failure took all three back.
    assert s.get_one(Deadline, bad).breached_at is None
    assert [e.action for e in events(s, bad_case)] == [Action.REPORT]
    assert s.get_one(Deadline, ok).breached_at == DUE

    monkeypatch.setattr(jobs.outbox, "enqueue", real_enqueue)
    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings) == 1
    assert fresh(session).get_one(Deadline, bad).breached_at == T0


def test_stop_ends_the_sweep_after_the_deadline_in_hand(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = new_case(session, world["collector"].user)
    ids = [add_deadline(session, case_id, due_at=DUE + timedelta(minutes=i)) for i in range(3)]
    session.commit()
    stop = threading.Event()
    real_enqueue = jobs.outbox.enqueue

    def enqueue(s: Session, kind: str, recipient: str, payload: dict[str, Any], *, now: datetime) -> Any:
        stop.set()  # a SIGTERM arrives while the first breach is being written
        return real_enqueue(s, kind, recipient, payload, now=now)

    monkeypatch.setattr(jobs.outbox, "enqueue", enqueue)
    assert jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=settings, stop=stop) == 1

    s = fresh(session)
    assert [s.get_one(Deadline, i).breached_at for i in ids] == [DUE, None, None]


@pytest.mark.skipif(on_postgres(), reason="EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's planner picks by "
                                         "table statistics (bench/bench_sweep.py prints its plans)")
def test_the_breach_query_reads_the_partial_index(session: Session) -> None:
    def plan(query: jobs.CandidateQuery) -> str:
        sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        return " ".join(str(row[-1]) for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))

    index = "SEARCH deadlines USING INDEX ix_deadlines_running_due"
    assert plan(jobs.overdue(LATE_SWEEP)) == f"{index} (due_at<?)"
    assert plan(jobs.warnable(LATE_SWEEP)) == f"{index} (due_at>?)"
    # A later page starts the index range at the cursor instead of re-reading the pages before it.
    cursor = jobs.Candidate(id=1, case_id=1, due_at=DUE)
    assert plan(jobs.overdue(LATE_SWEEP, after=cursor)) == f"{index} (due_at>? AND due_at<?)"


# --- warnings ---------------------------------------------------------------------------------------------

def test_the_warning_sweep_warns_each_running_deadline_once(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings) -> None:
    case_id = new_case(session, world["collector"].user, unit_id=world.unit_b)
    now = T0 + timedelta(hours=1)
    yellow = add_deadline(session, case_id, due_at=DUE, warn_at=now - timedelta(minutes=5))
    untouched = {
        "yellow later": add_deadline(session, case_id, due_at=DUE, warn_at=now + timedelta(minutes=1)),
        "warned before": add_deadline(session, case_id, due_at=DUE, warn_at=T0, warned_at=T0),
        "past due (red)": add_deadline(session, case_id, due_at=now, warn_at=T0),
        "breached": add_deadline(session, case_id, due_at=DUE, warn_at=T0, breached_at=T0),
        "no yellow": add_deadline(session, case_id, due_at=DUE, warn_at=None),
        "met": add_deadline(session, case_id, due_at=DUE, warn_at=T0, state=DeadlineState.MET, met_at=T0),
    }
    session.commit()

    assert jobs.sweep_warnings(sessions, now=now) == 1
    assert jobs.sweep_warnings(sessions, now=now + timedelta(seconds=30)) == 0

    s = fresh(session)
    warned = {d.id: d.warned_at for d in s.scalars(sa.select(Deadline).where(Deadline.case_id == case_id))}
    assert warned[yellow] == now
    assert {name: warned[i] for name, i in untouched.items()} == {
        name: (T0 if name == "warned before" else None) for name in untouched}
    sent = messages(s, "deadline.warning")
    assert sorted(m.recipient for m in sent) == ["role:dispatcher", f"unit:{world.unit_b}"]
    assert {m.payload["deadline_id"] for m in sent} == {yellow}
    assert messages(s, "deadline.breached") == []
    # A warning is a message, not a step of the case.
    assert [e.action for e in events(s, case_id)] == [Action.REPORT]


# --- two workers at once, real commits ----------------------------------------------------------------------

RACE_CASES = 30


def seed_race(engine: Engine) -> list[int]:
    """RACE_CASES cases with one deadline each, past due and past its yellow time; committed."""
    with session_scope(write_sessionmaker(engine)) as session:
        reporter = factories.make_user(session, "collector", [Role.COLLECTOR])
        unit = factories.make_unit(session, "UA")
        ids = []
        for i in range(RACE_CASES):
            case_id = new_case(session, reporter, unit_id=unit.id if i % 2 else None)
            ids.append(add_deadline(session, case_id, due_at=DUE + timedelta(minutes=i), warn_at=T0))
        return ids


def test_two_workers_sweeping_at_once_breach_each_deadline_exactly_once(committed: Engine,
                                                                         settings: Settings) -> None:
    ids = seed_race(committed)
    sessions = write_sessionmaker(committed)
    supervising = settings.model_copy(update={"supervise_on_breach": True})

    counts = race(2, lambda _i: jobs.sweep_breaches(sessions, now=LATE_SWEEP, settings=supervising, batch=4))

    assert sum(counts) == RACE_CASES
    with Session(committed) as s:
        assert all(d.breached_at is not None for d in s.scalars(sa.select(Deadline).where(Deadline.id.in_(ids))))
        per_deadline = Counter(e.details["deadline_id"] for e in s.scalars(
            sa.select(CaseEvent).where(CaseEvent.action == Action.BREACH)))
        assert per_deadline == dict.fromkeys(ids, 1)
        assert s.scalar(sa.select(sa.func.count()).select_from(CaseEvent)
                        .where(CaseEvent.action == Action.SUPERVISE)) == RACE_CASES
        # Half the cases have a unit: one message each to it, and one per case to the dispatchers.
        assert len(messages(s, "deadline.breached")) == RACE_CASES + RACE_CASES // 2
        assert set(s.scalars(sa.select(Case.version))) == {2}


def test_two_workers_warning_at_once_warn_each_deadline_exactly_once(committed: Engine) -> None:
    ids = seed_race(committed)
    sessions = write_sessionmaker(committed)

    counts = race(2, lambda _i: jobs.sweep_warnings(sessions, now=T0 + timedelta(minutes=1), batch=4))

    assert sum(counts) == RACE_CASES
    with Session(committed) as s:
        sent = messages(s, "deadline.warning")
        assert Counter(m.payload["deadline_id"] for m in sent if m.recipient == "role:dispatcher") == dict.fromkeys(
            ids, 1)
        assert len(sent) == RACE_CASES + RACE_CASES // 2
