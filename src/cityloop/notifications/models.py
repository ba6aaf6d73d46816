from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base
from cityloop.db.types import UTCDateTime


class OutboxMessage(Base):
    """A side effect (SMS, e-mail, webhook, console line) written in the business transaction that caused it,
    and sent afterwards by the worker, which claims it with a compare-and-set and retries with backoff."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Read by notifications.jobs.deliver_pending: unsent messages in the order they became due.
        sa.Index("ix_outbox_unsent", "available_at", sqlite_where=sa.text("sent_at IS NULL"),
                 postgresql_where=sa.text("sent_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    # Who should hear of it: "role:dispatcher", "unit:12", "user:7".
    recipient: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
