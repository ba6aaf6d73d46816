"""Throughput of case reports against the trivial endpoint of the same server.

    .venv/bin/python bench/bench_reports.py [--threads 8] [--duration 10] [--postgres URL]

What it does, all on this machine:

1. creates a temporary database (an SQLite file by default; with --postgres URL a new database next to the one
   URL names, dropped afterwards) and prepares it as `cityloop demo` does: migrations, the demo city and the
   class directory;
2. starts the cityloop app under uvicorn in a subprocess on a free 127.0.0.1 port (one process, demo mode on);
3. logs in as the demo collector, then runs two bounded phases with the same number of client threads:
   (a) POST /api/v1/cases, a full report (token lookup, validation, number upsert, case + event, commit);
   (b) GET /health, which does no more than `SELECT 1`;
4. prints requests/s, p50/p95/p99 latency, the ratio of the two, and the machine it ran on.

Each phase stops after --duration seconds or --max-requests requests, whichever comes first. Client and server
share the machine's cores, so the figures are for the pair, not the server alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

import benchlib
from cityloop import demo, migrations
from cityloop.auth.service import PasswordPolicy
from cityloop.catalog.seed import seed_national_directory
from cityloop.core.clock import SystemClock
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.settings import Settings

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0


# --- the machine -------------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    return benchlib.machine() | {"packages": ", ".join(f"{m.__name__} {m.__version__}" for m in (httpx, sa))}


# --- the database ------------------------------------------------------------------------------------------

def prepare(url: str) -> str:
    """What `cityloop demo` does before it serves: migrate, load the demo city, seed the directory."""
    settings = Settings(database_url=url, demo_mode=True)
    policy = PasswordPolicy.from_costs(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                                       parallelism=settings.argon2_parallelism, demo_mode=True)
    engine = make_engine(url)
    try:
        migrations.upgrade(engine)
        with session_scope(write_sessionmaker(engine)) as session:
            demo.load(session, policy, SystemClock().now())
            seed_national_directory(session)
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql(
                "SELECT version()" if engine.dialect.name == "postgresql" else "SELECT sqlite_version()").scalar())
    finally:
        engine.dispose()
    return version


def count_cases(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM cases").scalar_one())
    finally:
        engine.dispose()


# --- the server ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(url: str, log_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CITYLOOP_DATABASE_URL": url, "CITYLOOP_DEMO_MODE": "true"}
    cmd = [sys.executable, "-m", "uvicorn", "cityloop.main:create_app", "--factory", "--host", HOST,
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    base = f"http://{HOST}:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the server exited with {proc.returncode}:\n{log_path.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server did not come up in {STARTUP_TIMEOUT_S:.0f} s")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def login(base: str, username: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD},
                   timeout=30)
    r.raise_for_status()
    return str(r.json()["access_token"])


# --- the load ------------------------------------------------------------------------------------------------

Request = Callable[[httpx.Client, int], httpx.Response]


@dataclass
class Phase:
    name: str
    expect: int
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, q: int) -> float:
        """The q-th percentile latency in milliseconds."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


def run_phase(name: str, expect: int, base: str, headers: dict[str, str], request: Request, *, threads: int,
              duration: float, max_requests: int, warmup: int) -> Phase:
    phase = Phase(name, expect)
    lock = threading.Lock()
    issued = 0
    start_barrier = threading.Barrier(threads + 1)
    stop_at = 0.0

    def take() -> int | None:
        nonlocal issued
        with lock:
            if issued >= max_requests or time.perf_counter() >= stop_at:
                return None
            issued += 1
            return issued

    def worker(w: int) -> None:
        latencies: list[float] = []
        errors: dict[str, int] = {}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for i in range(warmup):  # connection set-up and first-call costs stay out of the figures
                request(client, -1 - w * warmup - i)
            start_barrier.wait()
            while (n := take()) is not None:
                t0 = time.perf_counter()
                try:
                    r = request(client, n)
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                dt = time.perf_counter() - t0
                if status == str(expect):
                    latencies.append(dt)
                else:
                    errors[status] = errors.get(status, 0) + 1
        with lock:
            phase.latencies.extend(latencies)
            for k, v in errors.items():
                phase.errors[k] = phase.errors.get(k, 0) + v

    pool = [threading.Thread(target=worker, args=(w,), name=f"{name}-{w}") for w in range(threads)]
    for t in pool:
        t.start()
    # Workers read stop_at only after the barrier, so it is set before any of them takes a request.
    stop_at = time.perf_counter() + duration
    t_start = time.perf_counter()
    start_barrier.wait()
    for t in pool:
        t.join()
    phase.elapsed = time.perf_counter() - t_start
    return phase


PLACES = (  # (kind, class code, description): classes of the demo city's adopted directory (运城 codes)
    ("part", "0101", "上水井盖缺失"), ("part", "0137", "路灯不亮"), ("event", "0110", "暴露生活垃圾"),
    ("event", "0401", "流动摊贩无照经营"), ("part", "0402", "行道树枝干折断"),
)


def report(client: httpx.Client, n: int) -> httpx.Response:
    rnd = random.Random(n)
    kind, code, text = rnd.choice(PLACES)
    body = {"kind": kind, "category_code": code, "description": f"{text}（压测 #{n}）",
            "lat": round(30.25 + rnd.random() * 0.04, 6), "lon": round(120.12 + rnd.random() * 0.05, 6),
            "address": "西湖区（压测数据）"}
    return client.post("/api/v1/cases", json=body)


def health(client: httpx.Client, _n: int) -> httpx.Response:
    return client.get("/health")


# --- main ------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="cap per phase (default 50000)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per thread first (default 5)")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on PostgreSQL: a new database is created next to the one URL names")
    args = parser.parse_args()
    if not (1 <= args.threads <= 64 and 0 < args.duration <= 300 and 1 <= args.max_requests <= 1_000_000):
        parser.error("keep it bounded: 1-64 threads, at most 300 s and 1 000 000 requests per phase")

    info = machine()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print("cityloop benchmark: POST /api/v1/cases (reports) against GET /health, one uvicorn process")
    for key, value in info.items():
        print(f"  {key:<9} {value}")

    with benchlib.database(args.postgres) as url, tempfile.TemporaryDirectory(prefix="cityloop-bench-log-") as logs:
        t0 = time.perf_counter()
        db_version = prepare(url)
        print(f"  database  {backend} ({db_version.split(',')[0]}); prepared in {time.perf_counter() - t0:.1f} s")
        before = count_cases(url)
        with server(url, Path(logs) / "server.log") as base:
            headers = {"Authorization": f"Bearer {login(base, 'collector')}"}
            print(f"  load      {args.threads} client threads, {args.duration:g} s or {args.max_requests} "
                  f"requests per phase, {args.warmup} warm-up requests per thread\n")
            phases = [
                run_phase("reports", 201, base, headers, report, threads=args.threads, duration=args.duration,
                          max_requests=args.max_requests, warmup=args.warmup),
                run_phase("health", 200, base, {}, health, threads=args.threads, duration=args.duration,
                          max_requests=args.max_requests, warmup=args.warmup),
            ]
        created = count_cases(url) - before

    print(f"{'phase':<8} {'ok':>7} {'errors':>7} {'seconds':>8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8}")
    for p in phases:
        errors = sum(p.errors.values())
        print(f"{p.name:<8} {p.ok:>7} {errors:>7} {p.elapsed:>8.1f} {p.rps:>9.1f} {p.pct(50):>8.1f} "
              f"{p.pct(95):>8.1f} {p.pct(99):>8.1f}")
        if p.errors:
            print(f"         errors by status: {p.errors}")
    reports, trivial = phases
    ratio = trivial.rps / reports.rps if reports.rps else float("inf")
    print(f"\nreports run at {reports.rps / trivial.rps:.2f}x the trivial endpoint's rate "
          f"(health/reports = {ratio:.2f})" if trivial.rps else "")
    expected = reports.ok + args.threads * args.warmup
    print(f"cases written during the run: {created} (expected {expected}: timed + warm-up reports)")
    if created != expected or any(p.errors for p in phases):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
