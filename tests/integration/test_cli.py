"""`cityloop …` against a fresh database named by CITYLOOP_DATABASE_URL, as an operator would run it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityloop.auth import service as auth_service
from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.cases.workflow import Status
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import Category
from cityloop.cli import app
from cityloop.db.engine import make_engine
from cityloop.units.models import Unit, UnitLevel
from tests.dbutil import fresh_database_url

runner = CliRunner()
CHEAP = auth_service.PasswordPolicy.from_costs(time_cost=1, memory_kib=8, parallelism=1)
NATIONAL_DIRECTORY_SIZE = 403


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database_url(tmp_path) as u:
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", u)
        monkeypatch.delenv("CITYLOOP_DEMO_MODE", raising=False)
        monkeypatch.delenv("CITYLOOP_NEW_PASSWORD", raising=False)
        for name, value in (("TIME_COST", "1"), ("MEMORY_KIB", "8"), ("PARALLELISM", "1")):
            monkeypatch.setenv(f"CITYLOOP_ARGON2_{name}", value)
        yield u


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    yield eng
    eng.dispose()


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


@pytest.fixture
def upgraded(url: str) -> str:
    cli("db", "upgrade")
    return url


def test_db_upgrade_then_check_finds_models_and_migrations_agree(url: str, engine: Engine) -> None:
    # Before the upgrade the check must see drift, or its "agree" below would mean nothing.
    drift = cli("db", "check", code=1)
    assert "drift:" in drift.stderr
    assert "models and migrations agree" not in drift.stdout

    upgraded = cli("db", "upgrade")
    assert upgraded.stdout.startswith("database at head: ")
    assert sa.inspect(engine).has_table("case_events")

    assert cli("db", "check").stdout == "models and migrations agree\n"
    assert cli("db", "upgrade").stdout.startswith("database at head: ")  # running it again is harmless


def _national(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Category)
                                  .where(Category.scheme == GBT_47678_2026)) or 0)


def test_catalog_seed_is_idempotent(upgraded: str, engine: Engine) -> None:
    assert cli("catalog", "seed").stdout.splitlines() == [
        f"categories: {NATIONAL_DIRECTORY_SIZE} inserted, 0 updated",
        "YC-2026: categories 190 inserted, 0 updated; standards 518 inserted, 0 updated"]
    assert cli("catalog", "seed").stdout.splitlines() == [
        "categories: 0 inserted, 0 updated",
        "YC-2026: categories 0 inserted, 0 updated; standards 0 inserted, 0 updated"]
    assert _national(engine) == NATIONAL_DIRECTORY_SIZE

    # A renamed class is put right, and only that one.
    with engine.begin() as conn:
        conn.execute(sa.update(Category).where(Category.scheme == GBT_47678_2026, Category.kind == Kind.PART,
                                               Category.code == "01001").values(name="renamed"))
    assert cli("catalog", "seed").stdout.splitlines()[0] == "categories: 0 inserted, 1 updated"
    with Session(engine) as session:
        assert session.scalar(sa.select(Category.name).where(
            Category.scheme == GBT_47678_2026, Category.kind == Kind.PART, Category.code == "01001")) != "renamed"
    assert _national(engine) == NATIONAL_DIRECTORY_SIZE


def test_unit_create_and_a_duplicate_code(upgraded: str, engine: Engine) -> None:
    created = cli("unit", "create", "SZ-01", "西湖区市政设施养护中心", "--level", "district", "--industry", "市政")
    assert created.stdout.startswith("unit SZ-01 西湖区市政设施养护中心 created (id ")
    cli("unit", "create", "ST-01", "北山街道", "--level", "street", "--parent", "SZ-01")

    duplicate = cli("unit", "create", "SZ-01", "another", "--level", "district", code=2)
    assert duplicate.stderr == "error: a unit with code 'SZ-01' exists\n"
    assert duplicate.stdout == ""

    unknown_parent = cli("unit", "create", "ST-02", "x", "--level", "street", "--parent", "NOPE", code=2)
    assert "no unit with code 'NOPE'" in unknown_parent.stderr

    with Session(engine) as session:
        units = {u.code: u for u in session.scalars(sa.select(Unit))}
        assert set(units) == {"SZ-01", "ST-01"}
        sz = units["SZ-01"]
        assert (sz.name, sz.level, sz.industry, sz.parent_id, sz.synthetic) == (
            "西湖区市政设施养护中心", UnitLevel.DISTRICT, "市政", None, False)
        assert units["ST-01"].parent_id == sz.id


def test_user_create_with_role_unit_and_password(upgraded: str, engine: Engine) -> None:
    cli("unit", "create", "SZ-01", "市政中心", "--level", "district", "--industry", "市政")

    created = cli("user", "create", "alice", "--role", "operator", "--unit", "SZ-01",
                  "--password", "a good password")
    assert created.stdout.startswith("user alice created (id ")
    assert created.stdout.endswith("roles operator)\n")

    with Session(engine) as session:
        alice = session.scalars(sa.select(User).where(User.username == "alice")).one()
        unit_id = session.scalar(sa.select(Unit.id).where(Unit.code == "SZ-01"))
        assert alice.role_set == {Role.OPERATOR}
        assert [m.unit_id for m in alice.memberships] == [unit_id]
        assert auth_service.authenticate(session, CHEAP, "alice", "a good password").id == alice.id

    taken = cli("user", "create", "alice", "--role", "collector", "--password", "another password", code=2)
    assert taken.stderr == "error: username 'alice' is taken\n"
    no_unit = cli("user", "create", "bob", "--role", "unit_staff", "--unit", "NOPE",
                  "--password", "a good password", code=2)
    assert "no unit with code 'NOPE'" in no_unit.stderr
    short = cli("user", "create", "carol", "--role", "collector", "--password", "short", code=2)
    assert "at least 8 characters" in short.stderr
    with Session(engine) as session:
        assert session.scalars(sa.select(User.username)).all() == ["alice"]


def test_user_create_reads_the_password_from_the_environment(upgraded: str, engine: Engine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYLOOP_NEW_PASSWORD", "from the environment")
    cli("user", "create", "dave", "--role", "collector", "--role", "citizen")
    with Session(engine) as session:
        dave = auth_service.authenticate(session, CHEAP, "dave", "from the environment")
        assert dave.role_set == {Role.COLLECTOR, Role.CITIZEN}


def test_the_demo_password_is_refused_outside_demo_mode(upgraded: str, engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    refused = cli("user", "create", "mallory", "--role", "admin", "--password", auth_service.DEMO_PASSWORD,
                  code=2)
    assert refused.stderr == "error: password: the demo password is only accepted in demo mode\n"
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0

    cli("user", "create", "erin", "--role", "admin", "--password", "a good password")
    changed = cli("user", "set-password", "erin", "--password", auth_service.DEMO_PASSWORD, code=2)
    assert "only accepted in demo mode" in changed.stderr

    monkeypatch.setenv("CITYLOOP_DEMO_MODE", "true")
    cli("user", "create", "mallory", "--role", "admin", "--password", auth_service.DEMO_PASSWORD)


def test_workflow_prints_a_mermaid_state_diagram() -> None:
    out = cli("workflow").stdout
    lines = out.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1].strip() == "[*] --> reported"
    assert "    reported --> registered: accept 受理" in lines
    assert "    checking --> dispatched: check 核查 (failed)" in lines
    for terminal in ("closed", "rejected", "voided"):
        assert f"    {terminal} --> [*]" in lines
    mentioned = {word for line in lines[1:] for word in line.replace(":", " ").split()}
    assert {s.value for s in Status} <= mentioned


def test_step_limits_are_listed_and_set_per_urgency(url: str, engine: Engine) -> None:
    cli("db", "upgrade")
    listed = cli("deadlines", "limits").stdout.splitlines()
    assert "accept    normal  1 工作时  (default)" in listed
    assert len(listed) == 14  # seven steps, normal and urgent
    assert cli("deadlines", "set-limit", "accept", "0.5", "紧急工作时", "--urgent").stdout.strip() == \
        "accept (urgent): 0.5 紧急工作时"
    assert "accept    urgent  0.5 紧急工作时" in cli("deadlines", "limits").stdout.splitlines()
    result = cli("deadlines", "set-limit", "check", "0", "工作时", code=2)
    assert "amount" in result.stderr
