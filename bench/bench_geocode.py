"""Geocoding and routing benchmark: the demo city's full map in a fresh SQLite file, then `cityloop bench
geocode` against it (bulk locate in points/s over every unit grid, single-locate latency, routing-decision
latency), with the machine it ran on.

Run: `make bench-geocode` (= .venv/bin/python bench/bench_geocode.py [--points N]).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import benchlib
from cityloop import demo, migrations
from cityloop.auth.service import PasswordPolicy
from cityloop.core.clock import SystemClock
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points in the bulk run (default 1000000)")
    parser.add_argument("--single", type=int, default=2000, help="single locates and routing decisions")
    args = parser.parse_args()
    for key, value in benchlib.machine().items():
        print(f"{key}: {value}")
    with benchlib.database(None) as url:
        engine = make_engine(url)
        t0 = time.perf_counter()
        migrations.upgrade(engine)
        policy = PasswordPolicy.from_costs(time_cost=1, memory_kib=8, parallelism=1, demo_mode=True)
        with session_scope(write_sessionmaker(engine)) as session:
            demo.load(session, policy, SystemClock().now(), say=lambda m: print(f"  {m}", flush=True))
        print(f"demo city loaded in {time.perf_counter() - t0:.1f} s")
        engine.dispose()
        env = {**os.environ, "CITYLOOP_DATABASE_URL": url}
        cmd = [str(Path(sys.executable).with_name("cityloop")), "bench", "geocode", "--points", str(args.points),
               "--single", str(args.single)]
        sys.stdout.flush()
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
