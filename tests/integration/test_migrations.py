"""The migrations build the schema the models describe, on an empty database, both ways; the engine sets the
SQLite connection up as the rest of cityloop expects; UTCDateTime keeps every stored time aware UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityloop import migrations
from cityloop.db.engine import make_engine, writer
from cityloop.db.types import UTCDateTime
from cityloop.models import metadata
from cityloop.units.models import Unit, UnitLevel
from tests.dbutil import fresh_database_url, on_postgres, prepared_engine

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(tmp_path) as u:
        yield u


@pytest.fixture
def empty_engine(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated_engine(url: str) -> Iterator[Engine]:
    eng = prepared_engine(url)
    yield eng
    eng.dispose()


def _head() -> str:
    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    assert head is not None
    return head


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = migrations.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _app_tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _event_triggers(engine: Engine) -> set[str]:
    """The names of the triggers on case_events, read from the database's own catalogue."""
    if engine.dialect.name == "postgresql":
        sql = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
               "AND tgrelid = to_regclass('case_events')")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'case_events'"
    with engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql(sql)}


EXPECTED_TRIGGERS = ({"case_events_immutable", "case_events_no_truncate"} if on_postgres()
                     else {"case_events_no_update", "case_events_no_delete"})


def test_upgrade_from_empty_reaches_head_with_every_table(empty_engine: Engine) -> None:
    assert _app_tables(empty_engine) == set()
    assert _current_revision(empty_engine) is None

    migrations.upgrade(empty_engine)

    assert _current_revision(empty_engine) == _head()
    assert _app_tables(empty_engine) == set(metadata.tables)
    assert _event_triggers(empty_engine) == EXPECTED_TRIGGERS


def test_models_and_migrations_agree(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    assert _drift(empty_engine) == []


def test_drift_is_detected_when_the_schema_lags_the_models(empty_engine: Engine) -> None:
    # The agreement above means something only if compare_metadata sees a difference when there is one.
    migrations.upgrade(empty_engine)
    with writer(empty_engine).begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_cases_status")
    drift = _drift(empty_engine)
    assert [(d[0], d[1].name) for d in drift if isinstance(d, tuple)] == [("add_index", "ix_cases_status")]


def test_downgrade_to_base_then_upgrade_again(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)

    _downgrade(empty_engine, "base")
    assert _current_revision(empty_engine) is None
    assert _app_tables(empty_engine) == set()
    if on_postgres():
        with empty_engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM pg_proc WHERE proname = 'case_events_immutable'").scalar_one() == 0

    migrations.upgrade(empty_engine)
    assert _current_revision(empty_engine) == _head()
    assert _app_tables(empty_engine) == set(metadata.tables)
    assert _event_triggers(empty_engine) == EXPECTED_TRIGGERS
    assert _drift(empty_engine) == []


def test_alembic_on_a_url_migrates_and_commits(url: str, empty_engine: Engine) -> None:
    # The path `alembic upgrade head` takes (env.py opens its own engine), not cityloop's connection hand-over.
    cfg = migrations.alembic_config(url)
    command.upgrade(cfg, "head")
    assert _current_revision(empty_engine) == _head()
    assert _drift(empty_engine) == []
    command.downgrade(cfg, "base")
    assert _current_revision(empty_engine) is None
    assert _app_tables(empty_engine) == set()


# --- CHECK constraints on the enum columns ------------------------------------------------------------------

_CASE_INSERT = sa.text(
    "INSERT INTO cases (number, kind, category_id, category_code, description, lat, lon, address, source, "
    "urgent, self_handled, status, rework_count, supervised, version, updated_at, created_at) "
    "VALUES (:number, 'part', :category_id, '01001', 'raw row', 30.25, 120.15, '', 'collector', "
    "false, false, :status, 0, false, 1, :at, :at)")


def _insert_case(engine: Engine, number: str, status: str) -> None:
    with writer(engine).begin() as conn:
        category_id = conn.execute(sa.text(
            "SELECT id FROM categories WHERE kind = 'part' AND code = '01001'")).scalar_one()
        conn.execute(_CASE_INSERT, {"number": number, "category_id": category_id, "status": status,
                                    "at": "2026-11-25 02:00:00"})


def test_case_status_check_rejects_an_unknown_value(migrated_engine: Engine) -> None:
    _insert_case(migrated_engine, "20261125000001", "reported")  # the same row with a good status is fine

    with pytest.raises(sa.exc.IntegrityError, match="ck_cases_case_status"):
        _insert_case(migrated_engine, "20261125000002", "lost_in_the_post")

    with migrated_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT number, status FROM cases")).all() == [("20261125000001", "reported")]


@pytest.mark.parametrize(("table", "column", "constraint"), [
    ("units", "level", "ck_units_unit_level"),
    ("role_assignments", "role", "ck_role_assignments_role"),
])
def test_other_enum_columns_are_checked_too(migrated_engine: Engine, table: str, column: str,
                                            constraint: str) -> None:
    with writer(migrated_engine).begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, display_name, password_hash, active, created_at) "
                             "VALUES ('u', 'u', 'x', true, '2026-11-25 02:00:00')"))
    values = {
        "units": "INSERT INTO units (code, name, level, industry, active, synthetic, created_at) "
                 "VALUES ('U1', 'u', :v, '', true, false, '2026-11-25 02:00:00')",
        "role_assignments": "INSERT INTO role_assignments (user_id, role) "
                            "SELECT id, :v FROM users WHERE username = 'u'",
    }[table]
    with pytest.raises(sa.exc.IntegrityError, match=constraint), writer(migrated_engine).begin() as conn:
        conn.execute(sa.text(values), {"v": "galactic"})
    with writer(migrated_engine).begin() as conn:
        good = {"units": "district", "role_assignments": "operator"}[table]
        conn.execute(sa.text(values), {"v": good})
        assert conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars().all() == [good]


# --- the SQLite connection ------------------------------------------------------------------------------------

@pytest.mark.skipif(on_postgres(), reason="PRAGMAs are SQLite's; CITYLOOP_TEST_DATABASE_URL selects PostgreSQL")
def test_sqlite_connections_enforce_foreign_keys_and_use_wal(empty_engine: Engine) -> None:
    # Two connections at once, so both a fresh and a second pooled connection went through the hook.
    with empty_engine.connect() as first, empty_engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


@pytest.mark.skipif(on_postgres(), reason="SQLite's foreign keys are off unless the engine turns them on")
def test_sqlite_foreign_keys_are_actually_enforced(migrated_engine: Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"), writer(migrated_engine).begin() as conn:
        conn.exec_driver_sql("INSERT INTO units (code, name, level, industry, parent_id, active, synthetic, "
                             "created_at) VALUES ('U1', 'u', 'district', '', 999, 1, 0, '2026-11-25 02:00:00')")


def test_make_engine_refuses_an_in_memory_sqlite_database() -> None:
    with pytest.raises(ValueError, match="SQLite \\*file\\*"):
        make_engine("sqlite://")


# --- UTCDateTime ------------------------------------------------------------------------------------------

def test_utc_datetime_round_trips_as_aware_utc(migrated_engine: Engine) -> None:
    local = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=SHANGHAI)
    with Session(writer(migrated_engine)) as session:
        session.add(Unit(code="U1", name="u", level=UnitLevel.DISTRICT, created_at=local))
        session.commit()
    with Session(migrated_engine) as session:
        loaded = session.scalars(sa.select(Unit.created_at)).one()
    assert loaded.tzinfo is UTC
    assert loaded == local
    assert (loaded.hour, loaded.microsecond) == (2, 123456)


def test_utc_datetime_values_in_other_zones_compare_correctly(migrated_engine: Engine) -> None:
    # SQLite compares the stored text: storing every value in UTC is what makes this ordering right.
    earlier = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)          # 01:00 UTC
    later = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)                 # 01:30 UTC
    cutoff = datetime(2026, 11, 24, 20, 15, tzinfo=timezone(timedelta(hours=-5)))  # 01:15 UTC
    with Session(writer(migrated_engine)) as session:
        session.add_all([Unit(code="EARLY", name="e", level=UnitLevel.CITY, created_at=earlier),
                         Unit(code="LATE", name="l", level=UnitLevel.CITY, created_at=later)])
        session.commit()
        assert session.scalars(sa.select(Unit.code).where(Unit.created_at < cutoff)).all() == ["EARLY"]
        assert session.scalars(sa.select(Unit.code).order_by(Unit.created_at.desc())).all() == ["LATE", "EARLY"]


def test_utc_datetime_refuses_naive_values(migrated_engine: Engine) -> None:
    with Session(writer(migrated_engine)) as session:
        session.add(Unit(code="U1", name="u", level=UnitLevel.DISTRICT,
                         created_at=datetime(2026, 11, 25, 10, 0)))  # noqa: DTZ001 - the naive value under test
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            session.flush()
        session.rollback()
    with migrated_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM units")).scalar_one() == 0


def test_utc_datetime_type_converts_both_ways(migrated_engine: Engine) -> None:
    t = UTCDateTime()
    dialect = migrated_engine.dialect
    with pytest.raises(ValueError, match="naive datetime"):
        t.process_bind_param(datetime(2026, 1, 1), dialect)  # noqa: DTZ001 - the naive value under test
    assert t.process_bind_param(None, dialect) is None
    assert t.process_result_value(None, dialect) is None
    bound = t.process_bind_param(datetime(2026, 1, 1, 8, tzinfo=SHANGHAI), dialect)
    assert bound is not None
    if dialect.name == "sqlite":
        assert bound == datetime(2026, 1, 1, 0, 0)  # noqa: DTZ001 - SQLite stores UTC wall time
    else:
        assert bound == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
        assert bound.utcoffset() == timedelta(0)
    # Naive values read back (SQLite) are UTC; aware ones in another zone are converted to UTC.
    assert t.process_result_value(datetime(2026, 1, 1, 0, 0), dialect) == datetime(  # noqa: DTZ001
        2026, 1, 1, 0, 0, tzinfo=UTC)
    converted = t.process_result_value(datetime(2026, 1, 1, 8, tzinfo=SHANGHAI), dialect)
    assert converted is not None
    assert converted.tzinfo is UTC
    assert converted.hour == 0
