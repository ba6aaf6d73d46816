"""The authenticated principal of a request, from its bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from cityloop.auth import service
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.core.errors import NotAuthenticated
from cityloop.deps import ClockDep, ReadSessionDep

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def current_principal(session: ReadSessionDep, clock: ClockDep,
                      token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    if not token:
        raise NotAuthenticated("sign in first: send Authorization: Bearer <token> from POST " + TOKEN_URL)
    return service.principal_for_token(session, token, now=clock.now())


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Any:
    """A route dependency that answers 403 unless the caller holds `permission`."""

    def check(principal: PrincipalDep) -> Principal:
        principal.require(permission)
        return principal

    return Depends(check)
