"""Throw-away databases for test runs and benchmarks: an SQLite file in a given directory, or a new PostgreSQL
database created next to one a URL names (so a run never sees another run's rows) and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(directory: Path, postgres_url: str | None = None, *, prefix: str = "cityloop") -> Iterator[str]:
    """Yield the URL of a new, empty database; remove it on exit."""
    if not postgres_url:
        yield f"sqlite:///{directory / f'{prefix}-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    base = make_url(postgres_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
