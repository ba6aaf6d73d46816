"""The worker loop (jobs/runner.py, jobs/registry.py) and the `cityloop worker` command."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cityloop.auth.permissions import Role
from cityloop.cli import app as cli_app
from cityloop.core.clock import FakeClock
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.deadlines.models import Deadline
from cityloop.jobs import registry
from cityloop.jobs.registry import JOBS, Context, Job
from cityloop.jobs.runner import Worker, run_worker
from cityloop.notifications import outbox
from cityloop.settings import Settings
from tests import factories
from tests.conftest import World
from tests.dbutil import fresh_database_url, prepared_engine
from tests.integration.test_worker import (
    DUE,
    LATE_SWEEP,
    T0,
    RecordingSender,
    add_deadline,
    fresh,
    messages,
    new_case,
)


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """conftest's session_factory in the shape the jobs take: savepoints on the test's rolled-back connection."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


# --- the worker loop ------------------------------------------------------------------------------------------

def test_a_tick_runs_the_sweeps_then_delivers_what_they_queued(
        session: Session, sessions: sessionmaker[Session], world: World, settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    case_id = new_case(session, world["collector"].user)
    add_deadline(session, case_id, due_at=DUE, warn_at=T0)
    add_deadline(session, case_id, due_at=LATE_SWEEP + timedelta(hours=1), warn_at=T0)
    session.commit()
    sender, clock = RecordingSender(), FakeClock(LATE_SWEEP)
    worker = Worker(sessions, settings, clock=clock, sender=sender, worker_id="w1")

    with caplog.at_level(logging.INFO, logger="cityloop.jobs.runner"):
        first = worker.tick()
        second = worker.tick()

    assert (first.counts, first.failed) == ({"breaches": 1, "warnings": 1, "outbox": 2}, [])
    assert [m.kind for m in sender.sent] == ["deadline.breached", "deadline.warning"]
    # The warning sweep runs at most once a minute; the others on every tick.
    assert second.counts == {"breaches": 0, "outbox": 0}
    assert "tick 1: breaches=1 warnings=1 outbox=2 in " in caplog.text
    assert "tick 2: breaches=0 outbox=0 in " in caplog.text
    assert all(m.sent_at == LATE_SWEEP for m in messages(fresh(session), "deadline.breached"))


def test_a_tick_drains_the_outbox_batch_by_batch(
        session: Session, sessions: sessionmaker[Session], settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        outbox.enqueue(session, "case.urgent", "role:dispatcher", {"case_id": i}, now=T0)
    session.commit()
    monkeypatch.setattr(registry, "DELIVERY_BATCH", 2)
    sender = RecordingSender()

    delivery = [job for job in JOBS if job.name == "outbox"]

    tick = Worker(sessions, settings, clock=FakeClock(T0), sender=sender, jobs=delivery).tick()

    assert tick.counts == {"outbox": 5}
    assert sorted(m.payload["case_id"] for m in sender.sent) == [0, 1, 2, 3, 4]


def test_a_failing_job_is_logged_and_the_others_still_run(
        sessions: sessionmaker[Session], settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken(_ctx: Context, _now: datetime) -> int:
        raise RuntimeError("boom")

    def fine(_ctx: Context, _now: datetime) -> int:
        ran.append("fine")
        return 3

    worker = Worker(sessions, settings, clock=FakeClock(T0), sender=RecordingSender(),
                    jobs=[Job("broken", 0, broken), Job("fine", 0, fine)])
    with caplog.at_level(logging.INFO, logger="cityloop.jobs.runner"):
        tick = worker.tick()

    assert (tick.counts, tick.failed, ran) == ({"fine": 3}, ["broken"], ["fine"])
    assert "job broken failed" in caplog.text
    assert "RuntimeError: boom" in caplog.text
    assert "FAILED: broken" in tick.summary()


def test_sigterm_lets_the_current_job_finish_then_stops_the_loop(sessions: sessionmaker[Session],
                                                                  settings: Settings) -> None:
    ran: list[str] = []
    before = signal.getsignal(signal.SIGTERM)

    def terminated(_ctx: Context, _now: datetime) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # as systemd or `docker stop` would
        ran.append("terminated")  # the handler only set a flag: this unit of work still completes
        return 1

    def later(_ctx: Context, _now: datetime) -> int:
        ran.append("later")
        return 0

    ticks = run_worker(sessions, settings, clock=FakeClock(T0), sender=RecordingSender(), interval_s=3600,
                       jobs=[Job("terminated", 0, terminated), Job("later", 0, later)])

    # One tick, not an hour's wait for the next: the stop flag ends the wait at once.
    assert [t.counts for t in ticks] == [{"terminated": 1}]
    assert ran == ["terminated"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_registry_runs_breaches_before_warnings_before_delivery() -> None:
    assert [job.name for job in JOBS] == ["breaches", "warnings", "outbox"]


# --- cityloop worker ---------------------------------------------------------------------------------------------

@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with fresh_database_url(tmp_path) as url:
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
        monkeypatch.delenv("CITYLOOP_SUPERVISE_ON_BREACH", raising=False)
        engine = prepared_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_cityloop_worker_once_breaches_and_prints_the_messages(cli_database: Engine,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    # The command reads the system clock, so this deadline is due an hour before the real now.
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with session_scope(write_sessionmaker(cli_database)) as session:
        reporter = factories.make_user(session, "collector", [Role.COLLECTOR])
        case_id = new_case(session, reporter)
        deadline_id = add_deadline(session, case_id, due_at=due)

    with caplog.at_level(logging.INFO, logger="cityloop"):
        result = CliRunner().invoke(cli_app, ["worker", "--once"])

    assert result.exit_code == 0, (result.output, result.exception)
    [line] = result.stdout.splitlines()
    assert line.startswith("[outbox #")
    assert " deadline.breached → role:dispatcher {" in line
    assert f'"deadline_id": {deadline_id}' in line
    assert '"label": "处置"' in line  # not \u5904\u7f6e
    assert "tick 1: breaches=1 warnings=0 outbox=1 in " in caplog.text
    with Session(cli_database) as s:
        assert s.get_one(Deadline, deadline_id).breached_at == due
        [message] = messages(s, "deadline.breached")
        assert message.sent_at is not None
        assert message.claimed_by is not None


def test_cityloop_worker_once_exits_non_zero_when_a_job_fails(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty database (never migrated): every job fails on the missing tables.
    with fresh_database_url(tmp_path) as url:
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
        result = CliRunner().invoke(cli_app, ["worker", "--once", "--interval", "1"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout == ""
