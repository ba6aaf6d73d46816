"""Helpers shared by the command modules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityloop.auth import service as auth_service
from cityloop.core.errors import DomainError
from cityloop.db.engine import make_engine
from cityloop.db.session import read_sessionmaker, session_scope, write_sessionmaker
from cityloop.settings import Settings


def engine_for(settings: Settings) -> Engine:
    settings.ensure_sqlite_dir()
    return make_engine(settings.database_url)


def fail(exc: DomainError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=2)


def usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def password_policy(settings: Settings) -> auth_service.PasswordPolicy:
    return auth_service.PasswordPolicy.from_costs(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism, demo_mode=settings.demo_mode)


@contextlib.contextmanager
def database(*, write: bool) -> Iterator[Session]:
    """One unit of work on the configured database, committed on success; a DomainError ends the command with
    exit code 2 and its message."""
    engine = engine_for(Settings())
    try:
        with session_scope(write_sessionmaker(engine) if write else read_sessionmaker(engine)) as session:
            yield session
    except DomainError as exc:
        raise fail(exc) from None
    finally:
        engine.dispose()
