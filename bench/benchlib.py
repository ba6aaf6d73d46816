"""What every benchmark shares: the description of the machine it ran on and a throw-away database."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from cityloop.db.scratch import scratch_database


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def machine() -> dict[str, str]:
    return {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical (usable by this process: {len(os.sched_getaffinity(0))})",
        "memory": memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
    }


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    """A fresh, empty database URL for this run (SQLite, or PostgreSQL next to `postgres`), removed after."""
    with tempfile.TemporaryDirectory(prefix="cityloop-bench-") as tmp, \
            scratch_database(Path(tmp), postgres, prefix="cityloop_bench") as url:
        yield url
