"""Alembic environment: runs on a connection handed in by cityloop, or on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cityloop.db.engine import make_engine
from cityloop.models import metadata
from cityloop.settings import Settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # commits when the migrations return, rolls back if they raise
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("cityloop migrations run online only")
run()
