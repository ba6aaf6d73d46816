"""The demo city, loaded into a fresh database as `cityloop demo` does, and its published login."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityloop import demo, migrations
from cityloop.areas import service as area_service
from cityloop.areas.models import PatrolArea, Territory, TerritoryLevel
from cityloop.auth import service as auth_service
from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.workflow import Action, Status
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category, FilingStandard
from cityloop.catalog.seed import DEMO_STANDARD
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.main import create_app
from cityloop.settings import Settings
from cityloop.units.models import Unit
from tests.dbutil import fresh_database_url
from tests.factories import EPOCH


def _settings(url: str, *, demo_mode: bool) -> Settings:
    return Settings(database_url=url, demo_mode=demo_mode, argon2_time_cost=1, argon2_memory_kib=8,
                    argon2_parallelism=1)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database_url(tmp_path_factory.mktemp("demo")) as u:
        yield u


@pytest.fixture(scope="module")
def engine(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    migrations.upgrade(eng)
    policy = auth_service.PasswordPolicy.from_costs(time_cost=1, memory_kib=8, parallelism=1, demo_mode=True)
    with session_scope(write_sessionmaker(eng)) as session:
        assert not demo.is_loaded(session)
        demo.load(session, policy, EPOCH, profile=demo.SMALL)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


def test_one_login_per_role_a_dispatcher_per_district_and_collectors_on_patrol(session: Session) -> None:
    assert demo.is_loaded(session)
    users = {u.username: u for u in session.scalars(sa.select(User))}
    for username, role in demo.LOGINS:
        assert users[username].role_set == {role}
        assert users[username].active
        assert users[username].area_code is None  # the city command centre and city-wide supervision
    districts = session.scalars(sa.select(Territory.code).where(Territory.level == TerritoryLevel.DISTRICT)).all()
    assert len(districts) == 13
    for code in districts:
        dispatcher = users[demo.district_dispatcher(code)]
        assert dispatcher.role_set == {Role.DISPATCHER}
        assert dispatcher.area_code == code
    collectors = [u for u in users.values() if u.username.startswith("collector_")]
    assert all(u.role_set == {Role.COLLECTOR} for u in collectors)
    # Every patrol area has its collector; the demo collector patrols where the demo's cases are.
    areas = session.scalars(sa.select(PatrolArea)).all()
    assert len(areas) == len(collectors) + 1
    assert all(a.collector_id is not None and a.synthetic for a in areas)
    first = session.scalars(sa.select(Case).order_by(Case.id)).first()
    assert first is not None
    assert area_service.collector_for_grid(session, first.grid_code) == users["collector"].id
    # unit_staff works in the units the dispatched demo cases went to.
    assert len(users["unit_staff"].memberships) == 2


def test_five_cases_at_five_stages_with_timelines_opening_on_a_report(session: Session) -> None:
    # The five the demo's people reported (devices, the hotline and the public report without an account).
    cases = session.scalars(sa.select(Case).where(Case.reporter_id.is_not(None)).order_by(Case.id)).all()
    assert sorted(c.status for c in cases) == sorted(
        [Status.CLOSED, Status.DISPATCHED, Status.FILED, Status.REGISTERED, Status.REPORTED])
    staff = session.scalar(sa.select(User).where(User.username == "unit_staff"))
    assert staff is not None
    staff_units = {m.unit_id for m in staff.memberships}
    for case in cases:
        events = session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                 .order_by(CaseEvent.at, CaseEvent.id)).all()
        first = events[0]
        assert (first.action, first.from_status, first.to_status) == (Action.REPORT, None, Status.REPORTED)
        assert first.at == case.created_at
        for previous, event in itertools.pairwise(events):
            assert event.from_status == previous.to_status
            assert event.at > previous.at
        assert events[-1].to_status == case.status
        assert case.version == len(events)  # every command bumped the version once
        if case.status in (Status.DISPATCHED, Status.CLOSED):
            assert case.unit_id in staff_units
            dispatch = next(e for e in events if e.action is Action.DISPATCH)
            assert dispatch.details["followed_suggestion"] is True
            assert dispatch.details["routing"]["unit"]["id"] == case.unit_id
        # Every demo case happened in 西湖区 and landed in a unit grid.
        assert case.district_code == "330106"
        assert case.grid_code is not None
        assert case.grid_code.startswith(case.community_code or "-")
        assert case.location_desc.startswith("西湖区 ")
    closed = next(c for c in cases if c.status is Status.CLOSED)
    assert closed.closed_at is not None
    assert [e.action for e in closed.events] == [
        Action.REPORT, Action.ACCEPT, Action.FILE, Action.DISPATCH, Action.COMPLETE, Action.REQUEST_CHECK,
        Action.CHECK, Action.CLOSE]
    # The reported manhole cover, and the street vendor filed under 运城's 0401 row (2紧急工作时, an emergency row).
    assert sum(c.urgent for c in cases) == 2


def test_units_are_synthetic_nested_and_at_hangzhou_scale(session: Session) -> None:
    units = session.scalars(sa.select(Unit)).all()
    assert 2300 <= len(units) <= 3000  # Hangzhou: 2,498 units in 25 industries
    assert len({u.industry for u in units}) == 25
    assert all(u.synthetic and "演示" in u.name and u.territory_code for u in units)
    by_id = {u.id: u for u in units}
    depth = {"city": 0, "district": 1, "street": 2, "community": 3}
    for unit in units:
        if unit.parent_id is not None:
            assert depth[by_id[unit.parent_id].level.value] < depth[unit.level.value]


def test_the_map_is_real_districts_with_synthetic_streets_and_communities(session: Session) -> None:
    rows = session.execute(sa.select(Territory.code, Territory.level, Territory.synthetic)).all()
    assert {(c, syn) for c, lvl, syn in rows if lvl is TerritoryLevel.DISTRICT} == {
        (c, False) for c in ("330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112",
                             "330113", "330114", "330122", "330127", "330182")}
    below = [(c, lvl) for c, lvl, syn in rows if lvl in (TerritoryLevel.STREET, TerritoryLevel.COMMUNITY)]
    assert below
    assert all(syn for c, lvl, syn in rows if lvl in (TerritoryLevel.STREET, TerritoryLevel.COMMUNITY))
    assert all(len(c) == (9 if lvl is TerritoryLevel.STREET else 12) for c, lvl in below)


def test_the_demo_also_seeds_the_class_directory(session: Session) -> None:
    # The national directory (403) and 运城's standard (190 subclasses), which the demo city adopts.
    assert session.scalar(sa.select(sa.func.count()).select_from(Category)) == 403 + 190


def test_demo_cases_are_filed_under_the_adopted_yuncheng_standard(session: Session) -> None:
    assert catalog_queries.adopted_version(session) == DEMO_STANDARD
    rows = session.execute(sa.select(Case.kind, Case.category_code, Category.scheme, Category.name,
                                     FilingStandard.filing_criteria)
                           .join(Category, Category.id == Case.category_id)
                           .outerjoin(FilingStandard, FilingStandard.id == Case.filing_standard_id)
                           .where(Case.reporter_id.is_not(None)).order_by(Case.id)).all()
    assert [tuple(r) for r in rows] == [
        (Kind.EVENT, "0401", DEMO_STANDARD, "无照经营游商", "在城市公共场所流动经营摊贩"),
        (Kind.PART, "0137", DEMO_STANDARD, "路灯", "单盏不亮"),
        (Kind.EVENT, "0110", DEMO_STANDARD, "暴露生活垃圾", "公共场所未倒入垃圾容器的生活垃圾"),
        (Kind.PART, "0402", DEMO_STANDARD, "行道树", None),  # not filed yet
        (Kind.PART, "0101", DEMO_STANDARD, "上水井盖", None),
    ]


def _token(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code, r.json()


@pytest.mark.parametrize("username", [username for username, _ in demo.LOGINS] + ["dispatcher_330106"])
def test_demo_logins_work_in_demo_mode(url: str, engine: Engine, username: str) -> None:
    app = create_app(_settings(url, demo_mode=True))
    try:
        with TestClient(app) as client:
            status, body = _token(client, username, demo.DEMO_PASSWORD)
            assert status == 200, body
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
            assert me.status_code == 200, me.text
            assert me.json()["username"] == username
    finally:
        app.state.engine.dispose()


def test_the_demo_password_is_refused_outside_demo_mode(url: str, engine: Engine) -> None:
    app = create_app(_settings(url, demo_mode=False))
    try:
        with TestClient(app) as client:
            status, body = _token(client, "admin", demo.DEMO_PASSWORD)
            assert status == 401
            assert body["code"] == "demo_password_refused"
    finally:
        app.state.engine.dispose()
