"""`cityloop …`: thin commands over the same services the API uses."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from cityloop import demo as demo_data
from cityloop import migrations
from cityloop.auth import service as auth_service
from cityloop.auth.permissions import Role
from cityloop.cases import workflow
from cityloop.catalog.seed import seed_national_directory
from cityloop.core.clock import SystemClock
from cityloop.core.errors import DomainError
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.models import metadata
from cityloop.settings import Settings, default_data_dir
from cityloop.units import service as unit_service
from cityloop.units.models import UnitLevel

app = typer.Typer(help="cityloop — 数字城管: the closed loop of city problems.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
unit_app = typer.Typer(help="Handling units (处置单位).", no_args_is_help=True)
catalog_app = typer.Typer(help="The class directory.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(unit_app, name="unit")
app.add_typer(catalog_app, name="catalog")


def _engine(settings: Settings) -> Engine:
    settings.ensure_sqlite_dir()
    return make_engine(settings.database_url)


def _fail(exc: DomainError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=2)


def _policy(settings: Settings) -> auth_service.PasswordPolicy:
    return auth_service.PasswordPolicy.from_costs(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism, demo_mode=settings.demo_mode)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (CITYLOOP_DATABASE_URL, default: an SQLite file in the user data dir)."""
    settings = Settings()
    engine = _engine(settings)
    migrations.upgrade(engine, revision)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated schema disagree."""
    engine = _engine(Settings())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if diff:
        for item in diff:
            typer.echo(f"drift: {item}", err=True)
        raise typer.Exit(code=1)
    typer.echo("models and migrations agree")


@catalog_app.command("seed")
def catalog_seed() -> None:
    """Load (or refresh) the GB/T 47678.5-2026 class directory. Safe to run again."""
    engine = _engine(Settings())
    with session_scope(write_sessionmaker(engine)) as session:
        inserted, updated = seed_national_directory(session)
    typer.echo(f"categories: {inserted} inserted, {updated} updated")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[list[Role], typer.Option("--role", "-r", help="repeat for several roles")],
    unit: Annotated[list[str] | None, typer.Option("--unit", help="unit code; repeat for several")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password: Annotated[str | None, typer.Option(
        "--password", help="prefer the prompt or CITYLOOP_NEW_PASSWORD: a flag shows in `ps`",
        envvar="CITYLOOP_NEW_PASSWORD")] = None,
) -> None:
    """Create a user with roles and unit memberships."""
    settings = Settings()
    secret = password or getpass.getpass("password: ")
    engine = _engine(settings)
    try:
        with session_scope(write_sessionmaker(engine)) as session:
            unit_ids = [unit_service.get_by_code(session, c, field="unit").id for c in unit or []]
            user = auth_service.create_user(session, _policy(settings), username=username, password=secret,
                                            roles=role, unit_ids=unit_ids, display_name=display_name,
                                            now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"user {user.username} created (id {user.id}, roles {', '.join(sorted(role))})")
    except DomainError as exc:
        raise _fail(exc) from None


@user_app.command("set-password")
def user_set_password(username: str, password: Annotated[str | None, typer.Option(
        "--password", envvar="CITYLOOP_NEW_PASSWORD")] = None) -> None:
    settings = Settings()
    secret = password or getpass.getpass("new password: ")
    try:
        with session_scope(write_sessionmaker(_engine(settings))) as session:
            auth_service.set_password(session, _policy(settings), username, secret)
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"password of {username} changed")


@unit_app.command("create")
def unit_create(
    code: str, name: str,
    level: Annotated[UnitLevel, typer.Option("--level", help="city, district, street or community")],
    industry: Annotated[str, typer.Option("--industry")] = "",
    parent: Annotated[str | None, typer.Option("--parent", help="the parent unit's code")] = None,
) -> None:
    """Create a handling unit."""
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            created = unit_service.create_unit(session, code=code, name=name, level=level, industry=industry,
                                               parent_code=parent, now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"unit {created.code} {created.name} created (id {created.id})")
    except DomainError as exc:
        raise _fail(exc) from None


@app.command("workflow")
def workflow_diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the transition table."""
    typer.echo(workflow.mermaid(), nl=False)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from cityloop.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (OpenAPI docs at /docs)."""
    _serve(Settings(), host, port)


@app.command("demo")
def demo(host: str = "127.0.0.1", port: int = 8000,
         db: Annotated[Path | None, typer.Option(help="SQLite file of the demo city")] = None) -> None:
    """Migrate, load the demo city into an SQLite file if it is empty, print the logins and serve."""
    path = (db or default_data_dir() / "demo.sqlite").expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{path}", demo_mode=True)
    engine = _engine(settings)
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        if not demo_data.is_loaded(session):
            typer.echo("loading the demo city …")
            demo_data.load(session, _policy(settings), SystemClock().now())
        seed_national_directory(session)
        cases = session.scalar(sa.text("SELECT count(*) FROM cases"))
    engine.dispose()
    typer.echo(f"\ncityloop demo — database {path} ({cases} cases)")
    typer.echo(f"API http://{host}:{port}/api/v1   docs http://{host}:{port}/docs")
    typer.echo(f"demo logins (password: {demo_data.DEMO_PASSWORD}, accepted in demo mode only):")
    for username, role, unit_code in demo_data.LOGINS:
        typer.echo(f"  {username:<13} {role.value:<13}" + (f" unit {unit_code}" if unit_code else ""))
    sys.stdout.flush()
    _serve(settings, host, port)
