from __future__ import annotations

from pydantic import BaseModel

from cityloop.auth.permissions import Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    roles: list[Role]
    unit_id: int | None
    unit_ids: list[int]
    permissions: list[str]
