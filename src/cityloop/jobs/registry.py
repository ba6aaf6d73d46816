"""What the worker runs, in which order and how often. Each job is a plain function over a session factory;
the runner owns the loop, the clock and the signals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from cityloop.cases import jobs as case_jobs
from cityloop.notifications import jobs as notification_jobs
from cityloop.notifications.senders import Sender
from cityloop.settings import Settings


@dataclass(frozen=True)
class Context:
    """What every job may use. `stop` is set on SIGTERM/SIGINT; jobs check it between units of work."""

    sessions: sessionmaker[Session]
    settings: Settings
    sender: Sender
    worker_id: str
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Job:
    name: str
    # The least time between two runs; 0 runs the job on every tick of the worker.
    interval_s: float
    run: Callable[[Context, datetime], int]


def _breaches(ctx: Context, now: datetime) -> int:
    return case_jobs.sweep_breaches(ctx.sessions, now=now, settings=ctx.settings, stop=ctx.stop)


def _warnings(ctx: Context, now: datetime) -> int:
    return case_jobs.sweep_warnings(ctx.sessions, now=now, stop=ctx.stop)


def _deliver(ctx: Context, now: datetime) -> int:
    """Drain the due part of the outbox, a batch at a time, rather than leave the rest for the next tick."""
    total = 0
    while not ctx.stop.is_set():
        sent = notification_jobs.deliver_pending(ctx.sessions, ctx.sender, now=now, worker_id=ctx.worker_id,
                                                 batch=DELIVERY_BATCH, stop=ctx.stop)
        total += sent
        if sent < DELIVERY_BATCH:  # a short batch: nothing due is left (failures wait for their backoff)
            break
    return total


DELIVERY_BATCH = 100

# Order matters: breaches before warnings, so a deadline that passed its yellow and its red time between two
# ticks gets the red only; delivery last, so what the sweeps queued goes out in the same tick.
JOBS: tuple[Job, ...] = (
    Job("breaches", 0.0, _breaches),
    # A yellow light is advice, not a stamp: once a minute is soon enough.
    Job("warnings", 60.0, _warnings),
    Job("outbox", 0.0, _deliver),
)
