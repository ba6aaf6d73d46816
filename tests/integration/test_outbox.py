"""Outbox delivery (notifications/jobs.py): claim, send outside the transaction, stamp or retry with backoff."""

from __future__ import annotations

import io
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.notifications import jobs, outbox
from cityloop.notifications.models import OutboxMessage
from cityloop.notifications.senders import ConsoleSender
from tests import factories

T0 = factories.EPOCH
WORKER = "host:1:aaaaaa"


class RecordingSender:
    """Records what it is given; fails the first `failures` calls as a gateway that is down would."""

    def __init__(self, failures: int = 0, on_send: Callable[[OutboxMessage], None] | None = None) -> None:
        self.sent: list[OutboxMessage] = []
        self.calls = 0
        self.failures = failures
        self.on_send = on_send
        self._lock = threading.Lock()

    def send(self, message: OutboxMessage) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise ConnectionError("SMS gateway unreachable")
            self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """conftest's session_factory in the shape the jobs take: savepoints on the test's rolled-back connection."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


def queue(session: Session, n: int = 1, *, at: datetime = T0, kind: str = "deadline.breached") -> list[int]:
    rows = [outbox.enqueue(session, kind, "role:dispatcher", {"case_id": i, "note": "井盖缺失"}, now=at)
            for i in range(n)]
    session.commit()
    return [m.id for m in rows]


def row(session: Session, message_id: int) -> OutboxMessage:
    session.expire_all()  # the job wrote through other sessions on the same connection
    return session.get_one(OutboxMessage, message_id)


def test_due_messages_are_sent_in_order_and_stamped(session: Session, sessions: sessionmaker[Session]) -> None:
    later = queue(session, at=T0 + timedelta(minutes=1))[0]
    first, second = queue(session, 2)
    sender = RecordingSender()

    assert jobs.deliver_pending(sessions, sender, now=T0 + timedelta(seconds=30), worker_id=WORKER) == 2

    assert [m.id for m in sender.sent] == [first, second]
    assert (sender.sent[0].kind, sender.sent[0].recipient, sender.sent[0].payload) == (
        "deadline.breached", "role:dispatcher", {"case_id": 0, "note": "井盖缺失"})
    sent = row(session, first)
    assert (sent.sent_at, sent.claimed_by, sent.attempts, sent.last_error) == (
        T0 + timedelta(seconds=30), WORKER, 0, "")
    waiting = row(session, later)
    assert (waiting.sent_at, waiting.claimed_at) == (None, None)

    # Nothing is sent twice; the later message goes once it is due.
    assert jobs.deliver_pending(sessions, sender, now=T0 + timedelta(seconds=30), worker_id=WORKER) == 0
    assert jobs.deliver_pending(sessions, sender, now=T0 + timedelta(minutes=1), worker_id=WORKER) == 1
    assert [m.id for m in sender.sent] == [first, second, later]


def test_a_failed_send_is_retried_with_growing_backoff(session: Session, sessions: sessionmaker[Session],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    [message_id] = queue(session)
    sender = RecordingSender(failures=2)

    with caplog.at_level(logging.WARNING, logger="cityloop.notifications.jobs"):
        assert jobs.deliver_pending(sessions, sender, now=T0, worker_id=WORKER) == 0
    assert f"outbox #{message_id} (deadline.breached → role:dispatcher) failed: SMS gateway unreachable" in caplog.text
    failed = row(session, message_id)
    assert (failed.attempts, failed.last_error, failed.sent_at) == (
        1, "ConnectionError: SMS gateway unreachable", None)
    assert (failed.claimed_at, failed.claimed_by, failed.available_at) == (None, None, T0 + timedelta(seconds=30))

    # Not before its backoff has passed.
    assert jobs.deliver_pending(sessions, sender, now=T0 + timedelta(seconds=29), worker_id=WORKER) == 0
    assert sender.calls == 1

    retry = T0 + timedelta(seconds=30)
    assert jobs.deliver_pending(sessions, sender, now=retry, worker_id=WORKER) == 0
    assert (row(session, message_id).attempts, row(session, message_id).available_at) == (
        2, retry + timedelta(minutes=1))

    assert jobs.deliver_pending(sessions, sender, now=retry + timedelta(minutes=1), worker_id=WORKER) == 1
    done = row(session, message_id)
    assert (done.sent_at, done.attempts, done.last_error) == (retry + timedelta(minutes=1), 2, "")
    assert [m.id for m in sender.sent] == [message_id]


def test_backoff_doubles_from_thirty_seconds_up_to_an_hour() -> None:
    assert [jobs.backoff(n).total_seconds() for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600]
    assert jobs.backoff(1000) == timedelta(hours=1)


def test_after_the_last_attempt_the_message_stays_unsent_with_its_error(
        session: Session, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture) -> None:
    [message_id] = queue(session)
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == message_id)
                    .values(attempts=jobs.MAX_ATTEMPTS - 1))
    session.commit()
    sender = RecordingSender(failures=99)

    with caplog.at_level(logging.ERROR, logger="cityloop.notifications.jobs"):
        assert jobs.deliver_pending(sessions, sender, now=T0, worker_id=WORKER) == 0
    assert f"gave up after {jobs.MAX_ATTEMPTS} failed attempts" in caplog.text
    dead = row(session, message_id)
    assert (dead.attempts, dead.sent_at, dead.last_error) == (
        jobs.MAX_ATTEMPTS, None, "ConnectionError: SMS gateway unreachable")

    # Long after any backoff, it is no longer tried.
    assert jobs.deliver_pending(sessions, sender, now=T0 + timedelta(days=1), worker_id=WORKER) == 0
    assert sender.calls == 1


def test_a_claim_older_than_the_lease_is_taken_over(session: Session, sessions: sessionmaker[Session]) -> None:
    abandoned, busy = queue(session, 2)
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == abandoned)
                    .values(claimed_at=T0 - jobs.LEASE - timedelta(seconds=1), claimed_by="crashed"))
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == busy)
                    .values(claimed_at=T0 - timedelta(minutes=1), claimed_by="slow-but-alive"))
    session.commit()
    sender = RecordingSender()

    assert jobs.deliver_pending(sessions, sender, now=T0, worker_id=WORKER) == 1

    assert [m.id for m in sender.sent] == [abandoned]
    taken = row(session, abandoned)
    assert (taken.claimed_by, taken.claimed_at, taken.sent_at) == (WORKER, T0, T0)
    held = row(session, busy)
    assert (held.claimed_by, held.sent_at) == ("slow-but-alive", None)


def test_a_failure_after_the_claim_was_taken_over_leaves_the_new_claim_alone(
        session: Session, sessions: sessionmaker[Session]) -> None:
    [message_id] = queue(session)
    taken_at = T0 + timedelta(minutes=6)

    def lease_lapses_meanwhile(_message: OutboxMessage) -> None:
        # While this worker hung in send(), its lease ran out and another worker claimed the message.
        with session_scope(sessions) as s:
            s.execute(sa.update(OutboxMessage).where(OutboxMessage.id == message_id)
                      .values(claimed_at=taken_at, claimed_by="other"))
        raise TimeoutError("gateway timed out")

    class HangingSender:
        def send(self, message: OutboxMessage) -> None:
            lease_lapses_meanwhile(message)

    assert jobs.deliver_pending(sessions, HangingSender(), now=T0, worker_id=WORKER) == 0

    kept = row(session, message_id)
    assert (kept.claimed_by, kept.claimed_at, kept.attempts, kept.available_at) == ("other", taken_at, 0, T0)


def test_stop_ends_the_pass_after_the_message_in_hand(session: Session, sessions: sessionmaker[Session]) -> None:
    ids = queue(session, 3)
    stop = threading.Event()
    sender = RecordingSender(on_send=lambda _m: stop.set())  # a SIGTERM arrives during the first send

    assert jobs.deliver_pending(sessions, sender, now=T0, worker_id=WORKER, stop=stop) == 1

    assert row(session, ids[0]).sent_at == T0
    assert [(row(session, i).sent_at, row(session, i).claimed_at) for i in ids[1:]] == [(None, None)] * 2


def test_the_console_sender_writes_one_readable_line() -> None:
    stream = io.StringIO()
    message = OutboxMessage(id=7, kind="deadline.breached", recipient="unit:3",
                            payload={"label": "处置", "case_id": 12})

    ConsoleSender(stream).send(message)

    assert stream.getvalue() == '[outbox #7] deadline.breached → unit:3 {"case_id": 12, "label": "处置"}\n'


# --- two workers at once, real commits ------------------------------------------------------------------------

RACE_MESSAGES = 40


def test_two_workers_delivering_at_once_send_each_message_exactly_once(committed: Engine) -> None:
    sessions = write_sessionmaker(committed)
    with session_scope(sessions) as session:
        for i in range(RACE_MESSAGES):
            outbox.enqueue(session, "deadline.breached", "role:dispatcher", {"case_id": i}, now=T0)
    sender = RecordingSender()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def work(worker_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(jobs.deliver_pending(sessions, sender, now=T0, worker_id=worker_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    assert sum(results) == RACE_MESSAGES
    assert Counter(m.payload["case_id"] for m in sender.sent) == dict.fromkeys(range(RACE_MESSAGES), 1)
    with Session(committed) as s:
        rows = s.execute(sa.select(OutboxMessage.sent_at, OutboxMessage.claimed_by)).all()
        assert len(rows) == RACE_MESSAGES
        assert all(sent_at == T0 for sent_at, _ in rows)
        assert {by for _, by in rows} <= {"w0", "w1"}
