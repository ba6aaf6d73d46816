"""Fresh databases for a test run (on PostgreSQL when CITYLOOP_TEST_DATABASE_URL names a server), and the
thread race the real-commit tests use."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cityloop import migrations
from cityloop.catalog.seed import seed_national_directory
from cityloop.db.engine import make_engine
from cityloop.db.scratch import scratch_database
from cityloop.db.session import session_scope, write_sessionmaker

PG_ENV = "CITYLOOP_TEST_DATABASE_URL"


def on_postgres() -> bool:
    return bool(os.environ.get(PG_ENV))


@contextmanager
def fresh_database_url(tmp_dir: Path) -> Iterator[str]:
    with scratch_database(tmp_dir, os.environ.get(PG_ENV), prefix="cityloop_test") as url:
        yield url


def prepared_engine(url: str) -> sa.Engine:
    """An engine on a database migrated to head with the national class directory loaded."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        seed_national_directory(session)
    return engine


RACE_JOIN_TIMEOUT_S = 120


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in n threads released together; return the results in thread order (or re-raise)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # collected and re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RACE_JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    if errors:
        raise errors[0]
    return results
