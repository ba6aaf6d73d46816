"""API keys of other systems: issue (shown once), revoke, authenticate by scope."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth.models import ApiKey
from cityloop.auth.permissions import ApiScope
from cityloop.auth.service import token_digest
from cityloop.core.errors import Forbidden, NotFound, ValidationFailed

KEY_PREFIX = "cl_"
# The header every channel but Open311's form field reads the key from.
HEADER = "X-API-Key"


def create(session: Session, name: str, scopes: Iterable[ApiScope], *, now: datetime,
           created_by: int | None = None, raw: str | None = None) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is never stored and cannot be shown again.

    `raw` installs a given key instead of a random one: only the demo city does, so that its published keys
    work on every machine, as its published password does.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("name: 1 to 100 characters", field="name")
    wanted = sorted({ApiScope(s).value for s in scopes})
    if not wanted:
        raise ValidationFailed("scopes: give at least one of " + ", ".join(s.value for s in ApiScope),
                               field="scopes")
    if raw is None:
        prefix = secrets.token_hex(6)
        raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    else:
        prefix = raw.split("_")[1]
    key = ApiKey(name=name, prefix=prefix, key_hash=token_digest(raw), scopes=wanted, created_by=created_by,
                 created_at=now)
    session.add(key)
    session.flush()
    return key, raw


def revoke(session: Session, ident: str, *, now: datetime) -> ApiKey:
    """Revoke by id, prefix or name (a name must be unambiguous); revoking takes effect on the next request."""
    query = sa.select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if ident.isdigit():
        rows = list(session.scalars(query.where(ApiKey.id == int(ident))))
    else:
        rows = list(session.scalars(query.where(sa.or_(ApiKey.prefix == ident, ApiKey.name == ident))))
    if not rows:
        raise NotFound(f"no active API key {ident!r}", field="key")
    if len(rows) > 1:
        raise ValidationFailed(f"{len(rows)} active keys are named {ident!r}; revoke by id", field="key")
    rows[0].revoked_at = now
    return rows[0]


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(sa.select(ApiKey).order_by(ApiKey.id)))


def authenticate(session: Session, raw: str | None, scope: ApiScope, *, field: str = HEADER) -> ApiKey:
    """The active key `raw` names, if it carries `scope`; 403 otherwise (the value is never echoed)."""
    if not raw:
        raise Forbidden(f"{field}: an API key is required", field=field, code="api_key_required")
    parts = raw.split("_")
    key = None
    if raw.startswith(KEY_PREFIX) and len(parts) >= 3:
        key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, token_digest(raw)):
        raise Forbidden(f"{field}: the API key is not valid or was revoked", field=field, code="invalid_api_key")
    if scope.value not in (key.scopes or []):
        raise Forbidden(f"{field}: this key may not be used for {scope.value}", field=field,
                        code="api_key_scope")
    return key
