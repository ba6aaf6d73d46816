"""The event log: every command writes exactly one CaseEvent in the transaction that changes the case, the
log is append-only against the ORM and against hand-written SQL, and the database holds at most one pending
request of each kind per case."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from cityloop.cases import service
from cityloop.cases.models import Case, CaseEvent, CaseRequest, RequestState
from cityloop.cases.schemas import (
    CaseIn,
    CheckIn,
    CollectorIn,
    DispatchIn,
    ExtensionIn,
    FileIn,
    NoteIn,
    ReasonIn,
    RequiredNoteIn,
    VerifyIn,
)
from cityloop.cases.workflow import Action, RequestKind, Status
from cityloop.catalog.enums import Kind
from cityloop.core.errors import Conflict, InvalidTransition
from tests.api.helpers import ACTOR
from tests.conftest import World
from tests.dbutil import on_postgres
from tests.factories import EPOCH

# The command body each action takes; `flag` picks the branch of verify/check.
CommandFor = Callable[[World, bool], BaseModel]
COMMANDS: dict[str, CommandFor] = {
    "accept": lambda w, f: NoteIn(), "file": lambda w, f: FileIn(), "close": lambda w, f: NoteIn(),
    "resume": lambda w, f: NoteIn(), "supervise": lambda w, f: NoteIn(note="请加快"),
    "approve_return": lambda w, f: NoteIn(), "approve_extension": lambda w, f: NoteIn(),
    "approve_suspension": lambda w, f: NoteIn(),
    "reject": lambda w, f: ReasonIn(reason="重复上报"), "void": lambda w, f: ReasonIn(reason="误立案"),
    "force_close": lambda w, f: ReasonIn(reason="单位撤销"),
    "request_return": lambda w, f: ReasonIn(reason="非本单位职责"),
    "deny_return": lambda w, f: ReasonIn(reason="属于本单位"),
    "request_suspension": lambda w, f: ReasonIn(reason="需专项资金"),
    "deny_suspension": lambda w, f: ReasonIn(reason="可以处置"),
    "request_extension": lambda w, f: ExtensionIn(reason="需采购配件", amount=2),
    "deny_extension": lambda w, f: ReasonIn(reason="时限充足"),
    "request_verification": lambda w, f: CollectorIn(collector_id=w["collector"].id),
    "request_check": lambda w, f: CollectorIn(collector_id=w["collector"].id),
    "verify": lambda w, f: VerifyIn(confirmed=f), "check": lambda w, f: CheckIn(passed=f),
    "dispatch": lambda w, f: DispatchIn(unit_id=w.unit_a),
    "complete": lambda w, f: RequiredNoteIn(note="已修复"), "comment": lambda w, f: RequiredNoteIn(note="备注"),
}


class Driver:
    """Runs the services as the personas would, one flushed command at a time, on a clock of its own."""

    def __init__(self, session: Session, world: World) -> None:
        self.session = session
        self.world = world
        self.now = EPOCH

    def tick(self) -> Any:
        self.now += timedelta(minutes=5)
        return self.now

    def report(self, who: str = "collector") -> Case:
        case = service.create_case(self.session, self.world[who].principal(), CaseIn(
            kind=Kind.PART, category_code="01001", description="供水井盖缺失", lat=30.2590, lon=120.1519,
            address="北山街断桥东50米"), now=self.tick())
        self.session.flush()
        return case

    def act(self, case_id: int, action: str, flag: bool = True, who: str | None = None) -> Case:
        command = COMMANDS[action](self.world, flag)
        handler = getattr(service, action)
        return handler(self.session, self.world[who or ACTOR[action]].principal(), case_id, command,
                       now=self.tick())

    def events(self, case_id: int) -> list[CaseEvent]:
        return list(self.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


@pytest.fixture
def drive(session: Session, world: World) -> Driver:
    return Driver(session, world)


def _count_events(session: Session, case_id: int | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(CaseEvent)
    if case_id is not None:
        stmt = stmt.where(CaseEvent.case_id == case_id)
    return session.scalar(stmt) or 0


# Scripts that between them take every action of the table, including both branches of verify and check.
SCRIPTS: dict[str, list[tuple[str, bool]]] = {
    "full loop with requests and rework": [
        ("comment", True), ("accept", True), ("supervise", True), ("file", True), ("dispatch", True),
        ("request_extension", True), ("approve_extension", True), ("request_extension", True),
        ("deny_extension", True), ("request_return", True), ("deny_return", True),
        ("request_suspension", True), ("deny_suspension", True), ("request_suspension", True),
        ("approve_suspension", True), ("resume", True), ("complete", True), ("request_check", True),
        ("check", False), ("complete", True), ("request_check", True), ("check", True), ("close", True),
        ("comment", True),
    ],
    "verified, returned, voided": [
        ("request_verification", True), ("verify", True), ("file", True), ("dispatch", True),
        ("request_return", True), ("approve_return", True), ("void", True),
    ],
    "refuted": [("request_verification", True), ("verify", False)],
    "rejected": [("reject", True)],
    "force-closed with a request pending": [
        ("accept", True), ("file", True), ("dispatch", True), ("request_extension", True),
        ("force_close", True),
    ],
}


def test_the_scripts_take_every_action_a_person_takes() -> None:
    taken = {action for script in SCRIPTS.values() for action, _ in script} | {"report"}
    assert taken == {a.value for a in Action} - {"breach"}  # breach is the worker's


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_every_command_writes_exactly_one_event(drive: Driver, script: str) -> None:
    case = drive.report()
    [opening] = drive.events(case.id)
    assert (opening.action, opening.from_status, opening.to_status) == (Action.REPORT, None, Status.REPORTED)
    assert opening.actor_id == drive.world["collector"].id

    for action, flag in SCRIPTS[script]:
        before_status, before_version = case.status, case.version
        before_total = _count_events(drive.session)
        drive.act(case.id, action, flag)
        # The command stages its changes in the caller's unit of work (it may flush, never commit).
        drive.session.flush()

        assert _count_events(drive.session) == before_total + 1, action  # one event, and on no other case
        last = drive.events(case.id)[-1]
        assert (last.action.value, last.from_status, last.to_status) == (action, before_status, case.status)
        assert last.at == drive.now
        assert last.actor_id == drive.world[ACTOR[action]].id
        if action == "comment":
            assert case.version == before_version  # a comment leaves the case row alone
        else:
            assert case.version == before_version + 1, action
            assert case.updated_at == drive.now

    # The timeline is a chain: each event starts where the one before it ended.
    events = drive.events(case.id)
    assert len(events) == len(SCRIPTS[script]) + 1
    for previous, event in itertools.pairwise(events):
        assert event.from_status == previous.to_status
    assert events[-1].to_status == case.status


def test_a_refused_command_writes_no_event(drive: Driver) -> None:
    case = drive.report()
    drive.session.commit()
    with pytest.raises(InvalidTransition):
        drive.act(case.id, "dispatch")
    drive.act(case.id, "accept")
    drive.act(case.id, "file")
    drive.act(case.id, "dispatch")
    drive.act(case.id, "request_extension")
    drive.session.flush()
    with pytest.raises(Conflict, match="already pending"):
        drive.act(case.id, "request_extension")
    drive.session.flush()
    assert [e.action for e in drive.events(case.id)] == [
        Action.REPORT, Action.ACCEPT, Action.FILE, Action.DISPATCH, Action.REQUEST_EXTENSION]


def test_rolling_back_undoes_the_status_change_and_its_event_together(drive: Driver) -> None:
    case = drive.report()
    drive.session.commit()  # the report stands (the test's outer transaction still undoes it at teardown)
    case_id = case.id

    drive.act(case_id, "accept")
    drive.session.flush()
    assert drive.session.scalar(sa.select(Case.status).where(Case.id == case_id)) is Status.REGISTERED
    assert [e.action for e in drive.events(case_id)] == [Action.REPORT, Action.ACCEPT]

    drive.session.rollback()

    assert drive.session.scalar(sa.select(Case.status).where(Case.id == case_id)) is Status.REPORTED
    assert drive.session.scalar(sa.select(Case.version).where(Case.id == case_id)) == 1
    assert [e.action for e in drive.events(case_id)] == [Action.REPORT]


def _accept_and_flush(drive: Driver, case_id: int) -> None:
    drive.act(case_id, "accept")
    drive.session.flush()


def test_a_failed_flush_takes_the_event_with_it(drive: Driver) -> None:
    """The case UPDATE and the event INSERT stand or fall together: here the version check fails."""
    case = drive.report()
    drive.session.commit()
    case_id = case.id
    # Someone else moves the case meanwhile (simulated on the same connection, beneath the ORM's feet): the
    # accept's flush (its clock queries autoflush) finds the version moved on.
    drive.session.connection().execute(sa.text("UPDATE cases SET version = version + 1 WHERE id = :id"),
                                       {"id": case_id})
    with pytest.raises(sa.orm.exc.StaleDataError):
        _accept_and_flush(drive, case_id)
    drive.session.rollback()
    assert drive.session.scalar(sa.select(Case.status).where(Case.id == case_id)) is Status.REPORTED
    assert [e.action for e in drive.events(case_id)] == [Action.REPORT]


# --- immutability ------------------------------------------------------------------------------------------

@pytest.fixture
def logged(drive: Driver) -> Case:
    """A case with a committed (savepoint-released) timeline of three events."""
    case = drive.report()
    drive.act(case.id, "accept")
    drive.act(case.id, "file")
    drive.session.commit()
    return case


def _snapshot(session: Session, case_id: int) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(sa.text(
        "SELECT id, action, to_status, note FROM case_events WHERE case_id = :id ORDER BY id"), {"id": case_id})]


def test_orm_refuses_to_update_an_event(drive: Driver, logged: Case) -> None:
    before = _snapshot(drive.session, logged.id)
    event = drive.events(logged.id)[0]
    event.note = "rewritten history"
    with pytest.raises(RuntimeError, match="immutable"):
        drive.session.flush()
    drive.session.rollback()
    assert _snapshot(drive.session, logged.id) == before


def test_orm_refuses_to_delete_an_event(drive: Driver, logged: Case) -> None:
    before = _snapshot(drive.session, logged.id)
    drive.session.delete(drive.events(logged.id)[-1])
    with pytest.raises(RuntimeError, match="immutable"):
        drive.session.flush()
    drive.session.rollback()
    assert _snapshot(drive.session, logged.id) == before


def test_orm_bulk_update_and_delete_bypass_the_mapper_but_not_the_database(drive: Driver, logged: Case) -> None:
    # Bulk statements skip before_update/before_delete, so here only the triggers stand in the way.
    before = _snapshot(drive.session, logged.id)
    with pytest.raises(sa.exc.DatabaseError, match="case_events are immutable"), drive.session.begin_nested():
        drive.session.execute(sa.update(CaseEvent).where(CaseEvent.case_id == logged.id).values(note="x"))
    with pytest.raises(sa.exc.DatabaseError, match="case_events are immutable"), drive.session.begin_nested():
        drive.session.execute(sa.delete(CaseEvent).where(CaseEvent.case_id == logged.id))
    assert _snapshot(drive.session, logged.id) == before


@pytest.mark.parametrize("statement", [
    "UPDATE case_events SET note = 'rewritten' WHERE case_id = :id",
    "UPDATE case_events SET to_status = 'closed' WHERE case_id = :id AND action = 'file'",
    "UPDATE case_events SET at = at",
    "DELETE FROM case_events WHERE case_id = :id",
    "DELETE FROM case_events",
])
def test_the_database_refuses_raw_updates_and_deletes(drive: Driver, logged: Case, statement: str) -> None:
    before = _snapshot(drive.session, logged.id)
    assert len(before) == 3
    with pytest.raises(sa.exc.DatabaseError, match="case_events are immutable"), drive.session.begin_nested():
        drive.session.execute(sa.text(statement), {"id": logged.id})
    # Only the savepoint rolled back: the session goes on, the log is intact and still takes new events.
    assert _snapshot(drive.session, logged.id) == before
    drive.act(logged.id, "dispatch")
    drive.session.flush()
    assert [e.action for e in drive.events(logged.id)][-1] is Action.DISPATCH


@pytest.mark.skipif(not on_postgres(), reason="TRUNCATE exists only on PostgreSQL")
def test_postgres_refuses_truncating_the_event_log(drive: Driver, logged: Case) -> None:
    before = _snapshot(drive.session, logged.id)
    with pytest.raises(sa.exc.DatabaseError, match="case_events are immutable"), drive.session.begin_nested():
        drive.session.execute(sa.text("TRUNCATE case_events CASCADE"))
    assert _snapshot(drive.session, logged.id) == before


# --- one pending request per kind --------------------------------------------------------------------------

_REQUEST_INSERT = sa.text(
    "INSERT INTO case_requests (case_id, kind, state, reason, requested_by, requested_at, decision_note) "
    "VALUES (:case_id, :kind, :state, 'raw', :user_id, '2026-11-25 03:00:00', '')")


def _insert_request(session: Session, case_id: int, kind: str, state: str, user_id: int) -> None:
    with session.begin_nested():
        session.execute(_REQUEST_INSERT, {"case_id": case_id, "kind": kind, "state": state, "user_id": user_id})


def test_the_database_allows_one_pending_request_per_kind_per_case(drive: Driver) -> None:
    staff = drive.world["unit_a_staff"].id
    case = drive.report()
    other = drive.report()
    for c in (case, other):
        for action in ("accept", "file", "dispatch"):
            drive.act(c.id, action)
    drive.act(case.id, "request_extension")
    drive.session.commit()

    with pytest.raises(sa.exc.IntegrityError):
        _insert_request(drive.session, case.id, "extension", "pending", staff)

    # The index is partial and per (case, kind): settled rows, other kinds and other cases are all fine.
    _insert_request(drive.session, case.id, "extension", "denied", staff)
    _insert_request(drive.session, case.id, "extension", "lapsed", staff)
    _insert_request(drive.session, case.id, "return", "pending", staff)
    _insert_request(drive.session, other.id, "extension", "pending", staff)

    def pending(case_id: int) -> list[RequestKind]:
        return sorted(drive.session.scalars(sa.select(CaseRequest.kind).where(
            CaseRequest.case_id == case_id, CaseRequest.state == RequestState.PENDING)))

    assert pending(case.id) == [RequestKind.EXTENSION, RequestKind.RETURN]
    assert pending(other.id) == [RequestKind.EXTENSION]

    # Once the pending one is decided, a new one may be opened.
    drive.act(case.id, "deny_extension")
    drive.session.flush()
    _insert_request(drive.session, case.id, "extension", "pending", staff)
    assert pending(case.id) == [RequestKind.EXTENSION, RequestKind.RETURN]
