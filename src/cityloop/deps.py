"""Request-scoped dependencies shared by every router: sessions, the clock and settings.

Routes that write commit before returning: FastAPI runs the code after a dependency's `yield` only after the
response has been sent, so a commit there could fail while the client already saw 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cityloop.core.clock import Clock
from cityloop.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.write_sessions() as session:
        request.state.write_session = session
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    """A read session, or the request's write session when it has one (declare SessionDep first).

    Sharing it means a write request holds one connection, not two, and authenticates inside the same
    transaction that it then writes in.
    """
    existing = getattr(request.state, "write_session", None)
    if existing is not None:
        yield existing
        return
    with request.app.state.read_sessions() as session:
        yield session


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
