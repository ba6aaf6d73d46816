"""Fresh databases for a test run: a temporary SQLite file, or a new PostgreSQL database created next to the
one CITYLOOP_TEST_DATABASE_URL names (so a run never sees another run's rows)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cityloop import migrations
from cityloop.catalog.seed import seed_national_directory
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker

PG_ENV = "CITYLOOP_TEST_DATABASE_URL"


def on_postgres() -> bool:
    return bool(os.environ.get(PG_ENV))


@contextmanager
def fresh_database_url(tmp_dir: Path) -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_dir / f'cityloop-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    url = make_url(base)
    name = f"{url.database}_t{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepared_engine(url: str) -> sa.Engine:
    """An engine on a database migrated to head with the national class directory loaded."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        seed_national_directory(session)
    return engine
