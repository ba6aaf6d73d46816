"""enqueue(): one outbox row in the caller's transaction. It is sent only if that transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cityloop.notifications.models import OutboxMessage


def enqueue(session: Session, kind: str, recipient: str, payload: dict[str, Any], *, now: datetime) -> OutboxMessage:
    """Queue a side effect. `recipient` reads "role:<role>", "unit:<id>" or "user:<id>"."""
    message = OutboxMessage(kind=kind, recipient=recipient, payload=payload, created_at=now, available_at=now)
    session.add(message)
    return message
