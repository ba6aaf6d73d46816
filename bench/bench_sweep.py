"""How long the worker's deadline sweeps take over a city's worth of running clocks.

    .venv/bin/python bench/bench_sweep.py [--cases 100000] [--overdue 0.10] [--yellow 0.10] [--postgres URL]

What it does, all on this machine:

1. creates a temporary database (an SQLite file by default; with --postgres URL a new database next to the one
   URL names, dropped afterwards), migrates it and loads the national class directory and 20 handling units;
2. bulk-inserts --cases open cases (处置中, each with a unit), each with one running handling deadline: a share
   --overdue already past due, a share --yellow past its warning time but not yet due, the rest green
   (core INSERTs in batches; on PostgreSQL followed by ANALYZE, as autovacuum would do in production);
3. times, with the clock fixed at one instant:
   (a) sweep_breaches over them: one claim transaction per overdue deadline with its event and two messages;
   (b) the same sweep again, which finds nothing left to do;
   (c) sweep_warnings, then (c') again, which finds nothing to do;
   (d) deliver_pending until the outbox is drained, with a sender that does nothing (the database side
       of delivery only);
4. checks the counts against what was inserted, and prints seconds and rows/s per phase, the query plans of
   the two sweep queries, and the machine it ran on.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import benchlib
from cityloop import migrations
from cityloop.cases import jobs as case_jobs
from cityloop.cases.models import Case, Source
from cityloop.cases.workflow import Status
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.catalog.seed import seed_national_directory
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.deadlines.models import Deadline, DeadlineKind, DeadlineState
from cityloop.notifications import jobs as notification_jobs
from cityloop.notifications.models import OutboxMessage
from cityloop.settings import Settings
from cityloop.units import service as unit_service
from cityloop.units.models import UnitLevel

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # 16:00 in Asia/Shanghai: the clock every phase reads
INSERT_BATCH = 5_000
UNITS = 20
LIMIT_MINUTES = 8 * 60  # 1 工作日


# --- the machine ---------------------------------------------------------------------------------------------

def machine(db_version: str) -> dict[str, str]:
    return benchlib.machine() | {"database": db_version}


# --- the data ------------------------------------------------------------------------------------------------

def prepare(engine: sa.Engine) -> tuple[int, list[int]]:
    """Schema, class directory and units; returns a category id and the unit ids."""
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        seed_national_directory(session)
        category_id = session.scalars(sa.select(Category.id).where(Category.kind == Kind.PART,
                                                                   Category.code == "01001")).one()
        units = [unit_service.create_unit(session, code=f"U{i:02d}", name=f"处置单位{i:02d}",
                                          level=UnitLevel.DISTRICT, now=NOW) for i in range(UNITS)]
        session.flush()  # flush: the unit ids
        return category_id, [u.id for u in units]


def due_times(n: int, overdue: float, yellow: float, rng: random.Random) -> list[tuple[datetime, datetime]]:
    """(due_at, warn_at) per deadline: overdue ones up to 3 days late, yellow ones due within the last fifth of
    their limit, the rest due later; warn_at four fifths of the way (settings.deadline_yellow_at = 0.8)."""
    out = []
    for i in range(n):
        share = (i % 1000) / 1000  # exact shares, spread evenly over the ids
        if share < overdue:
            due = NOW - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        elif share < overdue + yellow:
            due = NOW + timedelta(minutes=rng.randint(1, LIMIT_MINUTES // 5 - 1))
        else:
            due = NOW + timedelta(minutes=rng.randint(LIMIT_MINUTES // 5 + 1, 5 * 24 * 60))
        out.append((due, due - timedelta(minutes=LIMIT_MINUTES // 5)))
    return out


def insert_cases(engine: sa.Engine, n: int, category_id: int, unit_ids: list[int],
                 times: list[tuple[datetime, datetime]]) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, n, INSERT_BATCH):
            ids = range(start + 1, min(start + INSERT_BATCH, n) + 1)
            # Explicit ids, so each deadline can name its case without reading the cases back.
            conn.execute(sa.insert(Case), [{
                "id": i, "number": f"B{i:011d}", "kind": Kind.PART, "category_id": category_id,
                "category_code": "01001", "description": "井盖缺失", "lat": 30.259, "lon": 120.1519, "address": "",
                "source": Source.COLLECTOR, "reporter_id": None, "urgent": False, "self_handled": False,
                "status": Status.DISPATCHED, "unit_id": unit_ids[i % len(unit_ids)], "rework_count": 0,
                "supervised": False, "version": 1, "created_at": NOW - timedelta(days=1),
                "updated_at": NOW - timedelta(days=1)} for i in ids])
            conn.execute(sa.insert(Deadline), [{
                "case_id": i, "kind": DeadlineKind.HANDLE, "state": DeadlineState.PENDING, "limit_amount": 1.0,
                "limit_unit": "工作日", "working": True, "total_minutes": LIMIT_MINUTES,
                "started_at": NOW - timedelta(days=1), "due_at": times[i - 1][0], "warn_at": times[i - 1][1],
                "extensions": 0} for i in ids])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
            # Explicit ids leave the sequences behind; the sweeps only insert events and messages, but keep
            # the database consistent for anyone who looks at it afterwards.
            conn.exec_driver_sql("SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))")
    return time.perf_counter() - started


def plan(engine: sa.Engine, query: case_jobs.CandidateQuery) -> str:
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + sql).all()
    return " | ".join(str(r[-1]).strip() for r in rows)


# --- the phases ------------------------------------------------------------------------------------------------

class NullSender:
    def send(self, message: OutboxMessage) -> None:
        pass


def timed(label: str, run: Callable[[], int], rows_label: str) -> tuple[int, float]:
    started = time.perf_counter()
    n = run()
    seconds = time.perf_counter() - started
    rate = f"{n / seconds:,.0f} {rows_label}/s" if n else "-"
    print(f"  {label:<34} {n:>8,} {rows_label:<10} {seconds:>8.3f} s   {rate}", flush=True)
    return n, seconds


def drain(sessions: Any) -> int:
    total = 0
    while (sent := notification_jobs.deliver_pending(sessions, NullSender(), now=NOW, worker_id="bench")) > 0:
        total += sent
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="open cases, one running deadline each")
    parser.add_argument("--overdue", type=float, default=0.10, help="share already past due (default 0.10)")
    parser.add_argument("--yellow", type=float, default=0.10, help="share past the warning time (default 0.10)")
    parser.add_argument("--supervise", action="store_true", help="run with supervise_on_breach (自动督办)")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on a new PostgreSQL database created next to the one URL names")
    args = parser.parse_args()
    if not 0 <= args.overdue + args.yellow <= 1:
        parser.error("--overdue plus --yellow must lie between 0 and 1")

    settings = Settings(supervise_on_breach=args.supervise)
    with benchlib.database(args.postgres) as url:
        engine = make_engine(url)
        try:
            category_id, unit_ids = prepare(engine)
            with engine.connect() as conn:
                version = str(conn.exec_driver_sql(
                    "SELECT version()" if engine.dialect.name == "postgresql" else "SELECT sqlite_version()"
                ).scalar())
            times = due_times(args.cases, args.overdue, args.yellow, random.Random(47678))
            expect_breach = sum(due <= NOW for due, _ in times)
            expect_warn = sum(warn <= NOW < due for due, warn in times)
            print(f"cityloop deadline sweep — {engine.dialect.name}, {args.cases:,} running deadlines "
                  f"({expect_breach:,} overdue, {expect_warn:,} yellow), supervise_on_breach={args.supervise}")
            print(f"  {'bulk insert (cases + deadlines)':<34} {args.cases:>8,} cases      "
                  f"{insert_cases(engine, args.cases, category_id, unit_ids, times):>8.3f} s")

            sessions = write_sessionmaker(engine)
            breached, _ = timed("(a) breach sweep",
                                lambda: case_jobs.sweep_breaches(sessions, now=NOW, settings=settings), "deadlines")
            again, _ = timed("(b) breach sweep again", lambda: case_jobs.sweep_breaches(
                sessions, now=NOW, settings=settings), "deadlines")
            warned, _ = timed("(c) warning sweep", lambda: case_jobs.sweep_warnings(sessions, now=NOW), "deadlines")
            warned_again, _ = timed("(c') warning sweep again", lambda: case_jobs.sweep_warnings(
                sessions, now=NOW), "deadlines")
            sent, _ = timed("(d) outbox delivery (no-op sender)", lambda: drain(sessions), "messages")

            print("query plans:")
            print(f"  breach:  {plan(engine, case_jobs.overdue(NOW))}")
            print(f"  warning: {plan(engine, case_jobs.warnable(NOW))}")
            print("machine:")
            for key, value in machine(version).items():
                print(f"  {key:<10} {value}")

            with engine.connect() as conn:
                queued = conn.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar_one()
            # Every case has a unit: two messages per breach and per warning.
            problems = [f"{name}: {got} != {want}" for name, got, want in (
                ("breached", breached, expect_breach), ("second sweep", again, 0), ("warned", warned, expect_warn),
                ("second warning sweep", warned_again, 0),
                ("messages", queued, 2 * (expect_breach + expect_warn)), ("sent", sent, queued)) if got != want]
        finally:
            engine.dispose()
    if problems:
        sys.exit("count mismatch: " + "; ".join(problems))


if __name__ == "__main__":
    main()
