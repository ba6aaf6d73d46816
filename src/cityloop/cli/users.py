"""`cityloop user …` and `cityloop unit …`."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cityloop.auth import service as auth_service
from cityloop.auth.permissions import Role
from cityloop.cli.common import engine_for, fail, password_policy
from cityloop.core.clock import SystemClock
from cityloop.core.errors import DomainError
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.settings import Settings
from cityloop.units import service as unit_service
from cityloop.units.models import UnitLevel

user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
unit_app = typer.Typer(help="Handling units (处置单位).", no_args_is_help=True)

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
    engine = engine_for(settings)
    try:
        with session_scope(write_sessionmaker(engine)) as session:
            unit_ids = [unit_service.get_by_code(session, c, field="unit").id for c in unit or []]
            user = auth_service.create_user(session, password_policy(settings), username=username, password=secret,
                                            roles=role, unit_ids=unit_ids, display_name=display_name,
                                            now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"user {user.username} created (id {user.id}, roles {', '.join(sorted(role))})")
    except DomainError as exc:
        raise fail(exc) from None


@user_app.command("set-password")
def user_set_password(username: str, password: Annotated[str | None, typer.Option(
        "--password", envvar="CITYLOOP_NEW_PASSWORD")] = None) -> None:
    settings = Settings()
    secret = password or getpass.getpass("new password: ")
    try:
        with session_scope(write_sessionmaker(engine_for(settings))) as session:
            auth_service.set_password(session, password_policy(settings), username, secret)
    except DomainError as exc:
        raise fail(exc) from None
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
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            created = unit_service.create_unit(session, code=code, name=name, level=level, industry=industry,
                                               parent_code=parent, now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"unit {created.code} {created.name} created (id {created.id})")
    except DomainError as exc:
        raise fail(exc) from None

# --- calendar: holidays and 调休 days of the working calendar ---------------------------------------------------

