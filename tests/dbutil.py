"""Fresh databases for a test run, on PostgreSQL when CITYLOOP_TEST_DATABASE_URL names a server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
