"""Test fixtures: one migrated database per run, one outer transaction per test (rolled back at teardown),
and a fresh session per HTTP request joined to it with savepoints, as architecture.md §5 describes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.auth.service import principal_of
from cityloop.core.clock import FakeClock
from cityloop.deps import get_read_session, get_session
from cityloop.main import create_app
from cityloop.settings import Settings
from tests import factories
from tests.dbutil import fresh_database_url, prepared_engine


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database_url(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = prepared_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Engine]:
    """A database of the test's own where every transaction really commits (races need two connections)."""
    with fresh_database_url(tmp_path) as url:
        eng = prepared_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> Callable[[], Session]:
    def make() -> Session:
        return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    return make


@pytest.fixture
def session(session_factory: Callable[[], Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(factories.EPOCH)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Photos go to the test's own directory, never to the user's data directory.
    return Settings(database_url=database_url, argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1,
                    attachments_dir=tmp_path / "attachments")


def share_test_session(application: FastAPI, session_factory: Callable[[], Session]) -> None:
    """Route every request's sessions to one fresh session on the test's connection."""

    def request_session(request: Request) -> Iterator[Session]:
        # One session per request, like production: whatever a failed request left unflushed is discarded.
        # Both overrides share it, as two sessions on the one test connection would nest their savepoints.
        existing = getattr(request.state, "test_session", None)
        if existing is not None:
            yield existing
            return
        with session_factory() as s:
            request.state.test_session = s
            yield s

    application.dependency_overrides[get_session] = request_session
    application.dependency_overrides[get_read_session] = request_session


@pytest.fixture
def app(settings: Settings, clock: FakeClock, session_factory: Callable[[], Session]) -> Iterator[FastAPI]:
    application = create_app(settings, clock=clock)
    share_test_session(application, session_factory)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@dataclass
class Persona:
    user: User
    token: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def principal(self) -> Any:
        return principal_of(self.user)


PERSONAS: dict[str, tuple[Role, str | None]] = {
    "citizen": (Role.CITIZEN, None),
    "collector": (Role.COLLECTOR, None),
    "collector_b": (Role.COLLECTOR, None),
    "operator": (Role.OPERATOR, None),
    "shift_leader": (Role.SHIFT_LEADER, None),
    "dispatcher": (Role.DISPATCHER, None),
    "unit_a_staff": (Role.UNIT_STAFF, "UA"),
    "unit_b_staff": (Role.UNIT_STAFF, "UB"),
    "leader": (Role.LEADER, None),
    "admin": (Role.ADMIN, None),
}


@dataclass
class World:
    """The personas of architecture.md §5 and two handling units, A and B."""

    people: dict[str, Persona]
    unit_a: int
    unit_b: int

    def __getitem__(self, name: str) -> Persona:
        return self.people[name]


@pytest.fixture
def world(session: Session) -> World:
    unit_a = factories.make_unit(session, "UA", "处置单位A")
    unit_b = factories.make_unit(session, "UB", "处置单位B")
    units = {"UA": unit_a.id, "UB": unit_b.id}
    people = {}
    for name, (role, unit_code) in PERSONAS.items():
        user = factories.make_user(session, name, [role], [units[unit_code]] if unit_code else [])
        people[name] = Persona(user, factories.token_for(session, user))
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return World(people, unit_a.id, unit_b.id)
