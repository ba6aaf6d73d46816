"""deliver_pending(): claim due outbox rows one by one, send them outside any transaction, stamp or retry.

Delivery is at-least-once. A row is claimed with a compare-and-set (`… WHERE id = :id AND claimed_at IS NULL`,
acted on only when it changed one row), so two workers never send the same message at the same time; but a
worker that dies after sending and before stamping leaves a claim that expires after LEASE, and the message
is sent again. Receivers therefore get the outbox id in every line and can de-duplicate.

`attempts` counts failed sends. After MAX_ATTEMPTS failures the row stays unsent with its last error, out of
the worker's way, for a person to look at.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from cityloop.db.session import session_scope
from cityloop.notifications.models import OutboxMessage
from cityloop.notifications.senders import Sender

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a worker that died; it must exceed the slowest send.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
ERROR_CHARS = 2000


def backoff(failures: int) -> timedelta:
    """The wait after the `failures`-th failed send: 30 s, 1 min, 2 min, … capped at one hour."""
    # The exponent is bounded so a large count cannot overflow timedelta before the cap applies.
    return min(BACKOFF_BASE * 2 ** min(failures - 1, 20), BACKOFF_CAP)


def _rowcount(result: sa.Result[Any]) -> int:
    assert isinstance(result, CursorResult)  # an UPDATE always answers with a cursor result
    return result.rowcount


def due_messages(now: datetime, *, limit: int, lease: timedelta = LEASE) -> sa.Select[int]:
    """Ids of unsent messages that are due and not held by a live claim, oldest first.

    `sent_at IS NULL` matches the predicate of the partial index ix_outbox_unsent, which serves the
    `available_at` range and order.
    """
    return (sa.select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now,
                   OutboxMessage.attempts < MAX_ATTEMPTS,
                   sa.or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at <= now - lease))
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit))


def _claim(sessions: sessionmaker[Session], message_id: int, *, now: datetime, worker_id: str,
           lease: timedelta) -> OutboxMessage | None:
    """Take the row for this worker; None when another worker got there first (or it was sent meanwhile).

    Returns a detached copy, so the caller can send it after this short transaction has ended.
    """
    with session_scope(sessions) as session:
        claimed = _rowcount(session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None),
                   # Unclaimed, or claimed so long ago that its worker is presumed dead. Two workers racing
                   # for one abandoned row both test the old claimed_at; the first write moves it to `now`,
                   # so the second's condition no longer holds.
                   sa.or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at <= now - lease))
            .values(claimed_at=now, claimed_by=worker_id)
            .execution_options(synchronize_session=False)))
        if claimed != 1:
            return None
        row = session.execute(
            sa.select(OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.payload,
                      OutboxMessage.created_at, OutboxMessage.available_at, OutboxMessage.attempts)
            .where(OutboxMessage.id == message_id)).one()
    # A transient copy rather than the session's instance: it stays readable whatever the session factory's
    # expire_on_commit, and a sender cannot change the row through it.
    return OutboxMessage(id=message_id, kind=row.kind, recipient=row.recipient, payload=row.payload,
                         created_at=row.created_at, available_at=row.available_at, claimed_at=now,
                         claimed_by=worker_id, attempts=row.attempts, last_error="")


def _mark_sent(sessions: sessionmaker[Session], message: OutboxMessage, *, now: datetime) -> bool:
    with session_scope(sessions) as session:
        # Not conditioned on still holding the claim: the message *was* sent, and saying so stops a worker
        # that reclaimed it after a lapsed lease from sending it yet again on its next pass.
        return _rowcount(session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None))
            .values(sent_at=now, last_error="")
            .execution_options(synchronize_session=False))) == 1


def _mark_failed(sessions: sessionmaker[Session], message: OutboxMessage, error: str, *, now: datetime,
                 worker_id: str) -> None:
    failures = message.attempts + 1
    with session_scope(sessions) as session:
        released = _rowcount(session.execute(
            sa.update(OutboxMessage)
            # Only our own claim: if the lease lapsed and another worker holds the row now, it is theirs.
            .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None),
                   OutboxMessage.claimed_by == worker_id, OutboxMessage.claimed_at == message.claimed_at)
            .values(attempts=failures, last_error=error[:ERROR_CHARS], claimed_at=None, claimed_by=None,
                    available_at=now + backoff(failures))
            .execution_options(synchronize_session=False)))
    if released != 1:
        log.warning("outbox #%s: the claim lapsed before the failure could be recorded", message.id)
    elif failures >= MAX_ATTEMPTS:
        log.error("outbox #%s (%s → %s) gave up after %d failed attempts: %s", message.id, message.kind,
                  message.recipient, failures, error)


def deliver_pending(sessions: sessionmaker[Session], sender: Sender, *, now: datetime, worker_id: str,
                    batch: int = 100, lease: timedelta = LEASE, stop: threading.Event | None = None) -> int:
    """Send up to `batch` due messages; return how many were sent (and stamped).

    Each claim and each stamp is its own short transaction, and `send()` runs between them, so a slow
    gateway never holds a lock. A sender's exception schedules a retry after `backoff()`. Setting `stop`
    ends the pass after the message in hand.
    """
    with session_scope(sessions) as session:
        ids = list(session.scalars(due_messages(now, limit=batch, lease=lease)))
    sent = 0
    for message_id in ids:
        if stop is not None and stop.is_set():
            break
        message = _claim(sessions, message_id, now=now, worker_id=worker_id, lease=lease)
        if message is None:
            continue  # another worker has it
        try:
            sender.send(message)
        except Exception as exc:  # any failure of a backend is a reason to retry, not to stop the worker
            log.warning("outbox #%s (%s → %s) failed: %s", message_id, message.kind, message.recipient, exc)
            _mark_failed(sessions, message, f"{type(exc).__name__}: {exc}", now=now, worker_id=worker_id)
            continue
        if _mark_sent(sessions, message, now=now):
            sent += 1
    return sent
