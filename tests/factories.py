"""Factories flush and never commit; the test's outer transaction undoes them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from cityloop.auth import service as auth_service
from cityloop.auth.models import RoleAssignment, UnitMembership, User
from cityloop.auth.permissions import Role
from cityloop.units import service as unit_service
from cityloop.units.models import Unit, UnitLevel

PASSWORD = "correct horse battery"
EPOCH = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Asia/Shanghai

# Cheap argon2 parameters: the tests exercise hashing, not its cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    return CHEAP_HASHER.hash(password)


def make_user(session: Session, username: str, roles: Iterable[Role], unit_ids: Iterable[int] = (),
              password: str = PASSWORD, active: bool = True) -> User:
    user = User(username=username, display_name=username, password_hash=password_hash(password),
                active=active, created_at=EPOCH)
    user.roles = [RoleAssignment(role=r) for r in roles]
    user.memberships = [UnitMembership(unit_id=u) for u in unit_ids]
    session.add(user)
    session.flush()  # flush: callers need the id
    return user


def make_unit(session: Session, code: str, name: str | None = None,
              level: UnitLevel = UnitLevel.DISTRICT, parent_code: str | None = None) -> Unit:
    unit = unit_service.create_unit(session, code=code, name=name or f"unit {code}", level=level, now=EPOCH,
                                    parent_code=parent_code)
    session.flush()  # flush: callers need the id
    return unit


def token_for(session: Session, user: User) -> str:
    return auth_service.issue_token(session, user, now=EPOCH - timedelta(hours=1), ttl=timedelta(days=3650))
