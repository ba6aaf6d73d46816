"""Concurrent commands with real commits, on a database of their own (not the per-test rolled-back one).

The HTTP tests go through the whole request path, without dependency overrides: token lookup, the write
session, the command, the commit and the error mapping, with N threads released at once by a barrier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.auth.service import principal_of
from cityloop.cases import service
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.schemas import CaseIn, FileIn, NoteIn
from cityloop.cases.workflow import Action, Status
from cityloop.catalog.enums import Kind
from cityloop.core.clock import FakeClock
from cityloop.db.session import read_sessionmaker, session_scope, write_sessionmaker
from cityloop.main import create_app
from cityloop.settings import Settings
from tests import factories
from tests.dbutil import fresh_database_url, on_postgres, prepared_engine, race

pytestmark = pytest.mark.real_commits

N = 8
REPORTS_PER_THREAD = 5


@dataclass
class Db:
    url: str
    engine: Engine


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    with fresh_database_url(tmp_path) as url:
        engine = prepared_engine(url)
        try:
            yield Db(url, engine)
        finally:
            engine.dispose()


@dataclass
class Staff:
    unit_id: int
    tokens: dict[str, list[str]]  # role name → one token per thread (each its own user)
    ids: dict[str, int]           # username → id


def _staff(db: Db) -> Staff:
    """Users for every role the tests need, N of the racing ones, each with a token; committed."""
    tokens: dict[str, list[str]] = {}
    ids: dict[str, int] = {}
    with session_scope(write_sessionmaker(db.engine)) as session:
        unit = factories.make_unit(session, "UA", "处置单位A")
        unit_id = unit.id
        for role in (Role.COLLECTOR, Role.OPERATOR, Role.SHIFT_LEADER, Role.DISPATCHER):
            for i in range(N):
                user = factories.make_user(session, f"{role.value}{i}", [role])
                ids[user.username] = user.id
                tokens.setdefault(role.value, []).append(factories.token_for(session, user))
    return Staff(unit_id, tokens, ids)


def _app(db: Db) -> Any:
    settings = Settings(database_url=db.url, argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1)
    return create_app(settings, clock=FakeClock(factories.EPOCH))


def _report(db: Db, staff: Staff) -> int:
    with session_scope(write_sessionmaker(db.engine)) as session:
        collector = session.get(User, staff.ids["collector0"])
        assert collector is not None
        case = service.create_case(session, principal_of(collector), CaseIn(
            kind=Kind.PART, category_code="01001", description="供水井盖缺失", lat=30.2590, lon=120.1519),
            now=factories.EPOCH)
        session.flush()
        return case.id


def _advance(db: Db, staff: Staff, case_id: int, *actions: tuple[str, str]) -> None:
    with session_scope(write_sessionmaker(db.engine)) as session:
        for action, username in actions:
            user = session.get(User, staff.ids[username])
            assert user is not None
            body = FileIn() if action == "file" else NoteIn()
            getattr(service, action)(session, principal_of(user), case_id, body, now=factories.EPOCH)


def _post_all(db: Db, path: str, tokens: list[str], body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    app = _app(db)
    try:
        def one(i: int) -> tuple[int, dict[str, Any]]:
            # A client per thread: each request then runs on its own event loop and worker thread.
            client = TestClient(app)
            r = client.post(path, json=body, headers={"Authorization": f"Bearer {tokens[i]}"})
            return r.status_code, r.json()

        return race(len(tokens), one)
    finally:
        app.state.engine.dispose()


def _events(db: Db, case_id: int) -> list[Action]:
    with Session(db.engine) as session:
        return list(session.scalars(
            sa.select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def _case(db: Db, case_id: int) -> Case:
    with Session(db.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        session.expunge(case)
        return case


def _assert_one_winner(responses: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    statuses = Counter(status for status, _ in responses)
    assert statuses == {200: 1, 409: N - 1}, responses
    losers = Counter(body["code"] for status, body in responses if status == 409)
    assert set(losers) <= {"invalid_transition", "stale_version"}, losers
    return next(body for status, body in responses if status == 200)


def test_concurrent_accepts_of_one_case_let_exactly_one_through(db: Db) -> None:
    staff = _staff(db)
    case_id = _report(db, staff)

    responses = _post_all(db, f"/api/v1/cases/{case_id}/actions/accept", staff.tokens["operator"], {})

    winner = _assert_one_winner(responses)
    assert (winner["status"], winner["version"]) == ("registered", 2)
    assert _events(db, case_id) == [Action.REPORT, Action.ACCEPT]
    case = _case(db, case_id)
    assert (case.status, case.version) == (Status.REGISTERED, 2)


def test_concurrent_dispatches_of_one_case_let_exactly_one_through(db: Db) -> None:
    staff = _staff(db)
    case_id = _report(db, staff)
    _advance(db, staff, case_id, ("accept", "operator0"), ("file", "shift_leader0"))

    responses = _post_all(db, f"/api/v1/cases/{case_id}/actions/dispatch", staff.tokens["dispatcher"],
                          {"unit_id": staff.unit_id})

    winner = _assert_one_winner(responses)
    assert (winner["status"], winner["unit_id"]) == ("dispatched", staff.unit_id)
    assert _events(db, case_id) == [Action.REPORT, Action.ACCEPT, Action.FILE, Action.DISPATCH]
    case = _case(db, case_id)
    assert (case.status, case.unit_id, case.version) == (Status.DISPATCHED, staff.unit_id, 4)


def test_concurrent_reports_get_unique_consecutive_numbers(db: Db) -> None:
    staff = _staff(db)
    app = _app(db)
    body = {"kind": "part", "category_code": "01001", "description": "供水井盖缺失", "lat": 30.2590,
            "lon": 120.1519}
    try:
        def reports(i: int) -> list[tuple[int, dict[str, Any]]]:
            client = TestClient(app)
            headers = {"Authorization": f"Bearer {staff.tokens['collector'][i]}"}
            out = []
            for _ in range(REPORTS_PER_THREAD):
                r = client.post("/api/v1/cases", json=body, headers=headers)
                out.append((r.status_code, r.json()))
            return out

        results = [r for per_thread in race(N, reports) for r in per_thread]
    finally:
        app.state.engine.dispose()

    assert [status for status, _ in results] == [201] * (N * REPORTS_PER_THREAD), results
    numbers = sorted(body["number"] for _, body in results)
    # 2026-11-25 10:00 in Asia/Shanghai: one business day, so one daily sequence from 1 without gaps.
    assert numbers == [f"20261125{seq:06d}" for seq in range(1, N * REPORTS_PER_THREAD + 1)]
    with Session(db.engine) as session:
        stored = session.scalars(sa.select(Case.number)).all()
        assert sorted(stored) == numbers
        assert session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)
                              .where(CaseEvent.action == Action.REPORT)) == len(numbers)
        assert session.execute(sa.text("SELECT day, last FROM case_number_counters")).all() == [
            ("20261125", N * REPORTS_PER_THREAD)]


def _two_loads(db: Db, case_id: int, maker: Callable[[], Session], *,
               end_reads: bool) -> tuple[Session, Session, Case, Case]:
    first, second = maker(), maker()
    a = first.get(Case, case_id)
    if end_reads:
        first.commit()  # expire_on_commit=False keeps what it read
    b = second.get(Case, case_id)
    if end_reads:
        second.commit()
    assert a is not None
    assert b is not None
    assert a.version == b.version == 1
    return first, second, a, b


def _second_writer_is_refused(db: Db, sessions: sessionmaker[Session], *, end_reads: bool,
                              error: AbstractContextManager[Any]) -> None:
    """Both sessions read the case and change it; the first commit wins, the second is refused with `error`,
    and the case holds the first change only."""
    staff = _staff(db)
    case_id = _report(db, staff)
    first, second, a, b = _two_loads(db, case_id, sessions, end_reads=end_reads)
    try:
        a.urgent = True
        b.description = "供水井盖缺失（已补充）"
        first.commit()
        with error:
            second.commit()
        second.rollback()
    finally:
        first.close()
        second.close()
    case = _case(db, case_id)
    assert (case.version, case.urgent, case.description) == (2, True, "供水井盖缺失")


@pytest.mark.parametrize("end_reads", [
    True,
    # Overlapping write transactions exist only on PostgreSQL: SQLite lets one writer in at a time (the
    # SQLite variant is the next test).
    pytest.param(False, marks=pytest.mark.skipif(not on_postgres(), reason="PostgreSQL only")),
])
def test_the_second_of_two_stale_commits_fails(db: Db, end_reads: bool) -> None:
    """Both sessions read the case, both change it; the second commit finds the version moved on.

    With `end_reads` each read ends its transaction before the writes begin (as a read in one request and a
    write in a later one would); without, the two transactions overlap.
    """
    _second_writer_is_refused(db, write_sessionmaker(db.engine), end_reads=end_reads,
                              error=pytest.raises(StaleDataError))


@pytest.mark.skipif(on_postgres(), reason="SQLite WAL snapshots; the PostgreSQL variant is above")
def test_sqlite_overlapping_read_transactions_cannot_lose_an_update(db: Db) -> None:
    """Two deferred (read) transactions overlap; the second to write holds an outdated snapshot, which
    SQLite refuses to upgrade to a write. No update is lost, though the error is a lock error, not a stale
    version (the app avoids the case altogether: its write sessions BEGIN IMMEDIATE)."""
    _second_writer_is_refused(db, read_sessionmaker(db.engine), end_reads=False,
                              error=pytest.raises(sa.exc.OperationalError, match="locked"))


def test_services_racing_on_their_own_sessions_leave_one_event(db: Db) -> None:
    """The same race below HTTP: N write sessions accept one case; one commits, the rest are refused."""
    staff = _staff(db)
    case_id = _report(db, staff)
    sessions = write_sessionmaker(db.engine)

    def accept(i: int) -> str:
        try:
            with session_scope(sessions) as session:
                user = session.get(User, staff.ids[f"operator{i}"])
                assert user is not None
                service.accept(session, principal_of(user), case_id, NoteIn(), now=factories.EPOCH)
        except StaleDataError:
            return "stale_version"
        except Exception as exc:
            return getattr(exc, "code", type(exc).__name__)
        return "ok"

    outcomes = Counter(race(N, accept))
    assert outcomes["ok"] == 1, outcomes
    assert set(outcomes) <= {"ok", "invalid_transition", "stale_version"}, outcomes
    assert _events(db, case_id) == [Action.REPORT, Action.ACCEPT]
