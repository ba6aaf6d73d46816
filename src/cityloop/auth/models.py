from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.auth.permissions import Role
from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # A territory code limiting what the user sees and commands (a district command centre's dispatcher);
    # None for city-wide staff.
    area_code: Mapped[str | None] = mapped_column(sa.String(12), default=None)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin")
    memberships: Mapped[list[UnitMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin")

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class UnitMembership(Base):
    """A user's membership of a handling unit. The unit lives in a higher domain, so only its id is held."""

    __tablename__ = "unit_memberships"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), primary_key=True, index=True)

    user: Mapped[User] = relationship(back_populates="memberships")


class AccessToken(CreatedAtMixin, Base):
    """Opaque bearer tokens; only their SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ApiKey(CreatedAtMixin, Base):
    """A credential of another system (an Open311 client, the 12345 platform, one device).

    Keys read `cl_<prefix>_<secret>`; the prefix finds the row and only the SHA-256 of the whole key is kept,
    so the key is shown once, at creation, and a database leak yields none.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
