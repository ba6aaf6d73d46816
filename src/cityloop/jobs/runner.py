"""The worker loop (`cityloop worker`): every tick, run the due jobs of the registry in order.

Each job commits its own small units of work (one claim, one message), so stopping is safe at any point
between two of them: SIGTERM or SIGINT sets a flag, the unit in hand finishes and commits, and the loop exits
instead of starting the next one. Nothing is lost by stopping mid-sweep; the next worker picks up the rest.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from cityloop.core.clock import Clock
from cityloop.jobs.registry import JOBS, Context, Job
from cityloop.notifications.senders import Sender
from cityloop.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_worker_id() -> str:
    """Host, process and a random tail: unique per process, and readable in `outbox.claimed_by`."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Tick:
    number: int
    counts: dict[str, int] = field(default_factory=dict)  # job name → rows handled, for the jobs that ran
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        done = " ".join(f"{name}={n}" for name, n in self.counts.items()) or "nothing due"
        failed = f" FAILED: {', '.join(self.failed)}" if self.failed else ""
        return f"tick {self.number}: {done} in {self.seconds:.2f} s{failed}"


class Worker:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, *, clock: Clock, sender: Sender,
                 jobs: Sequence[Job] = JOBS, worker_id: str | None = None) -> None:
        self.ctx = Context(sessions, settings, sender, worker_id or default_worker_id())
        self.clock = clock
        self.jobs = tuple(jobs)
        self._last_run: dict[str, float] = {}
        self._ticks = 0

    @property
    def stop(self) -> threading.Event:
        return self.ctx.stop

    def tick(self) -> Tick:
        """Run each job that is due, in registry order. A failing job is logged and the others still run."""
        self._ticks += 1
        report = Tick(self._ticks)
        started = time.monotonic()
        for job in self.jobs:
            if self.stop.is_set():
                break
            last = self._last_run.get(job.name)
            if last is not None and time.monotonic() - last < job.interval_s:
                continue
            self._last_run[job.name] = time.monotonic()
            try:
                # Each job reads the clock afresh, so delivery sees the messages the sweeps just queued.
                report.counts[job.name] = job.run(self.ctx, self.clock.now())
            except Exception:
                log.exception("job %s failed", job.name)
                report.failed.append(job.name)
        report.seconds = time.monotonic() - started
        log.info("%s", report.summary())
        return report

    def run(self, *, interval_s: float, once: bool = False) -> list[Tick]:
        """Tick every `interval_s` seconds until `stop` is set (or once). Returns the ticks' reports."""
        reports: list[Tick] = []
        log.info("worker %s started (%s, every %.1f s)", self.ctx.worker_id, "once" if once else "loop",
                 interval_s)
        while not self.stop.is_set():
            reports.append(self.tick())
            # wait() returns as soon as a signal sets the flag, so stopping never waits out an interval.
            if once or self.stop.wait(interval_s):
                break
        log.info("worker %s stopped after %d tick(s)", self.ctx.worker_id, len(reports))
        return reports


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into `stop.set()` for the duration, then restore the previous handlers.

    Signal handlers can only be installed from the main thread; elsewhere (a test's thread) this does
    nothing and the caller sets `stop` itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the current unit of work, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(sessions: sessionmaker[Session], settings: Settings, *, clock: Clock, sender: Sender,
               interval_s: float | None = None, once: bool = False, jobs: Sequence[Job] = JOBS) -> list[Tick]:
    """The `cityloop worker` loop: signal-safe, every `interval_s` (default settings.worker_interval_s)."""
    worker = Worker(sessions, settings, clock=clock, sender=sender, jobs=jobs)
    with stop_on_signals(worker.stop):
        return worker.run(interval_s=settings.worker_interval_s if interval_s is None else interval_s, once=once)
