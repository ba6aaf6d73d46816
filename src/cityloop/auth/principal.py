"""The authenticated caller, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from cityloop.auth.permissions import Permission, Role, permissions_of, role_granting
from cityloop.core.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    roles: frozenset[Role]
    unit_ids: tuple[int, ...] = ()
    # A territory code (6/9/12 digits) limiting the cases seen and commanded: a district command centre's
    # staff; None means city-wide.
    area_code: str | None = None
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", permissions_of(self.roles))

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"your roles do not allow {permission.value}", code="forbidden")

    def role_for(self, permission: Permission) -> Role | None:
        return role_granting(self.roles, permission)

    @property
    def unit_id(self) -> int | None:
        return self.unit_ids[0] if self.unit_ids else None
