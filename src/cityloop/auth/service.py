"""Users, passwords and bearer tokens. Never commits: the caller owns the transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from cityloop.auth.models import AccessToken, RoleAssignment, UnitMembership, User
from cityloop.auth.permissions import Role
from cityloop.auth.principal import Principal
from cityloop.core.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from cityloop.core.pagination import PageParams

# The demo city's published password. It is accepted only in demo mode: a server started any other way
# refuses it at login and when a user is created or a password set, so a demo account can never become a
# way into a real deployment.
DEMO_PASSWORD = "cityloop"  # noqa: S105 - published on purpose, refused outside demo mode
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class PasswordPolicy:
    hasher: PasswordHasher
    demo_mode: bool = False

    @classmethod
    def from_costs(cls, *, time_cost: int, memory_kib: int, parallelism: int,
                   demo_mode: bool = False) -> PasswordPolicy:
        return cls(PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism),
                   demo_mode)

    def check_new(self, password: str, field: str = "password") -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(f"{field} must be at least {MIN_PASSWORD_LENGTH} characters", field=field)
        if password == DEMO_PASSWORD and not self.demo_mode:
            raise ValidationFailed(f"{field}: the demo password is only accepted in demo mode", field=field)


def token_digest(token: str) -> str:
    """What is stored of a secret handed out (a bearer token, an API key, a citizen's follow-up token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, policy: PasswordPolicy, *, username: str, password: str,
                roles: Iterable[Role], now: datetime, unit_ids: Iterable[int] = (),
                display_name: str = "", area_code: str | None = None, password_hash: str | None = None) -> User:
    """`password_hash` lets bulk loaders (the demo's collectors) hash one password once for many users."""
    username = username.strip()
    if not username:
        raise ValidationFailed("username must not be empty", field="username")
    role_set = set(roles)
    if not role_set:
        raise ValidationFailed("roles: give the user at least one role", field="roles")
    if password_hash is None:
        policy.check_new(password)
    _check_area_code(area_code)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken", field="username", code="username_taken")
    user = User(username=username, display_name=display_name or username, area_code=area_code,
                password_hash=password_hash or policy.hasher.hash(password), created_at=now)
    user.roles = [RoleAssignment(role=r) for r in sorted(role_set)]
    user.memberships = [UnitMembership(unit_id=u) for u in dict.fromkeys(unit_ids)]
    session.add(user)
    return user


def _check_area_code(area_code: str | None) -> None:
    if area_code is not None and (not area_code.isdigit() or len(area_code) not in (6, 9, 12)):
        raise ValidationFailed("area_code: a district (6), street (9) or community (12) code", field="area_code")


def update_user(session: Session, user_id: int, *, roles: Iterable[Role], unit_ids: Iterable[int],
                area_code: str | None, display_name: str | None = None) -> User:
    """Replace a user's roles, unit memberships and area scope. Takes effect on the user's next request: the
    principal is rebuilt from these rows every time a token is presented."""
    user = require_user(session, user_id)
    role_set = set(roles)
    if not role_set:
        raise ValidationFailed("roles: give the user at least one role", field="roles")
    _check_area_code(area_code)
    if display_name is not None:
        user.display_name = display_name.strip() or user.username
    user.area_code = area_code
    kept_roles = {r.role: r for r in user.roles}
    user.roles = [kept_roles.get(r) or RoleAssignment(role=r) for r in sorted(role_set)]
    kept_units = {m.unit_id: m for m in user.memberships}
    user.memberships = [kept_units.get(u) or UnitMembership(unit_id=u) for u in dict.fromkeys(unit_ids)]
    return user


def set_active(session: Session, user_id: int, active: bool) -> User:
    """Disable or re-enable an account. A disabled user's tokens stop working at once (principal_for_token)
    and the row stays, because cases and their events name the user."""
    user = require_user(session, user_id)
    user.active = active
    return user


def list_users(session: Session, page: PageParams, *, q: str | None = None,
               active: bool | None = None) -> tuple[list[User], int]:
    """Users by username; `q` is a literal substring of the username or display name."""
    stmt = sa.select(User)
    if q:
        stmt = stmt.where(sa.or_(User.username.icontains(q, autoescape=True),
                                 User.display_name.icontains(q, autoescape=True)))
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(User.username).limit(page.limit).offset(page.offset)).all()
    return list(rows), total


def set_password(session: Session, policy: PasswordPolicy, username: str, password: str) -> User:
    user = get_by_username(session, username)
    policy.check_new(password)
    user.password_hash = policy.hasher.hash(password)
    return user


def get_by_username(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def require_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


def authenticate(session: Session, policy: PasswordPolicy, username: str, password: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active:
        # Hash anyway so that a missing user takes as long as a wrong password.
        policy.hasher.hash(password)
        raise NotAuthenticated("wrong username or password", code="invalid_credentials")
    try:
        policy.hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("wrong username or password", code="invalid_credentials") from None
    if password == DEMO_PASSWORD and not policy.demo_mode:
        raise NotAuthenticated(
            "password: the demo password is refused outside demo mode; "
            "set a real one with `cityloop user set-password`",
            field="password", code="demo_password_refused")
    return user


def issue_token(session: Session, user: User, *, now: datetime, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(AccessToken(token_hash=token_digest(token), user_id=user.id, created_at=now,
                            expires_at=now + ttl))
    return token


def revoke_token(session: Session, token: str, *, now: datetime) -> None:
    session.execute(sa.update(AccessToken)
                    .where(AccessToken.token_hash == token_digest(token), AccessToken.revoked_at.is_(None))
                    .values(revoked_at=now))


def principal_for_token(session: Session, token: str, *, now: datetime) -> Principal:
    row = session.execute(
        sa.select(User, AccessToken.expires_at, AccessToken.revoked_at)
        .join(AccessToken, AccessToken.user_id == User.id)
        .where(AccessToken.token_hash == token_digest(token))
    ).first()
    if row is None:
        raise NotAuthenticated("the bearer token is not known", code="invalid_token")
    user, expires_at, revoked_at = row
    if revoked_at is not None or expires_at <= now:
        raise NotAuthenticated("the bearer token has expired or was revoked", code="invalid_token")
    if not user.active:
        raise NotAuthenticated("this account is disabled", code="account_disabled")
    return principal_of(user)


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, roles=user.role_set,
                     unit_ids=tuple(sorted(m.unit_id for m in user.memberships)), area_code=user.area_code)
