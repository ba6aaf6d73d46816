"""`cityloop db …`: the schema."""

from __future__ import annotations

import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cityloop import migrations
from cityloop.cli.common import engine_for
from cityloop.models import metadata
from cityloop.settings import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (CITYLOOP_DATABASE_URL, default: an SQLite file in the user data dir)."""
    settings = Settings()
    engine = engine_for(settings)
    migrations.upgrade(engine, revision)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated schema disagree."""
    engine = engine_for(Settings())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if diff:
        for item in diff:
            typer.echo(f"drift: {item}", err=True)
        raise typer.Exit(code=1)
    typer.echo("models and migrations agree")


