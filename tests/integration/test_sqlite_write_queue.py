"""The in-process queue in front of SQLite's write lock must always be handed on, whatever ends a write."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from cityloop.db import engine as engine_module
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from tests.dbutil import on_postgres

pytestmark = pytest.mark.skipif(on_postgres(), reason="the write queue exists only for SQLite")


@pytest.fixture
def writer_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sa.orm.sessionmaker[sa.orm.Session]:
    # A short wait, so a queue that was never handed on fails the test quickly instead of hanging it.
    monkeypatch.setattr(engine_module, "WRITE_QUEUE_TIMEOUT_S", 2)
    eng = make_engine(f"sqlite:///{tmp_path / 'q.sqlite'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    return write_sessionmaker(eng)


def _count(factory: sa.orm.sessionmaker[sa.orm.Session]) -> int:
    with factory() as s:
        return int(s.execute(sa.text("SELECT count(*) FROM t")).scalar_one())


def _fail_half_way(factory: sa.orm.sessionmaker[sa.orm.Session]) -> None:
    with session_scope(factory) as s:
        s.execute(sa.text("INSERT INTO t VALUES (3)"))
        raise RuntimeError("the command failed half-way")


def test_the_queue_is_handed_on_after_commit_rollback_and_failure(
        writer_sessions: sa.orm.sessionmaker[sa.orm.Session]) -> None:
    with session_scope(writer_sessions) as s:
        s.execute(sa.text("INSERT INTO t VALUES (1)"))
    with writer_sessions() as s:
        s.execute(sa.text("INSERT INTO t VALUES (2)"))
        s.rollback()
    with pytest.raises(RuntimeError):
        _fail_half_way(writer_sessions)
    with writer_sessions() as s:  # abandoned: closed without commit or rollback
        s.execute(sa.text("INSERT INTO t VALUES (4)"))
    with session_scope(writer_sessions) as s:
        s.execute(sa.text("INSERT INTO t VALUES (5)"))
    assert _count(writer_sessions) == 2


def test_concurrent_writers_all_get_their_turn(writer_sessions: sa.orm.sessionmaker[sa.orm.Session]) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(20):
                with session_scope(writer_sessions) as s:
                    s.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": i * 100 + j})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(writer_sessions) == 160
