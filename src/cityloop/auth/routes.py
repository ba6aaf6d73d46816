from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request

from cityloop.auth import service
from cityloop.auth.deps import PrincipalDep
from cityloop.auth.schemas import MeOut, TokenOut
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
def token(request: Request, read: ReadSessionDep, session: SessionDep, clock: ClockDep, settings: SettingsDep,
          username: Annotated[str, Form(min_length=1, max_length=64)],
          password: Annotated[str, Form(min_length=1, max_length=256)]) -> TokenOut:
    """OAuth2 password flow: form fields `username` and `password` → a bearer token."""
    # The password check is slow on purpose (argon2), so it runs in the read session: on SQLite the write
    # session takes the database's write lock at its first statement, which is only the token insert.
    user = service.authenticate(read, request.app.state.password_policy, username, password)
    ttl = timedelta(hours=settings.token_ttl_hours)
    access_token = service.issue_token(session, user, now=clock.now(), ttl=ttl)
    session.commit()
    return TokenOut(access_token=access_token, expires_in=int(ttl.total_seconds()))


@router.get("/me", response_model=MeOut)
def me(session: ReadSessionDep, principal: PrincipalDep) -> MeOut:
    user = service.get_user(session, principal.user_id)
    return MeOut(id=principal.user_id, username=principal.username,
                 display_name=user.display_name if user else principal.username,
                 roles=sorted(principal.roles), unit_id=principal.unit_id, unit_ids=list(principal.unit_ids),
                 permissions=sorted(p.value for p in principal.permissions))
