"""Engine factory: one place that knows how SQLite and PostgreSQL differ."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

WRITE_OPTION = "cityloop_write"
WRITE_QUEUE_TIMEOUT_S = 30
_HOLDS_QUEUE = "cityloop_holds_write_queue"


class FairLock:
    """A lock granted in arrival order. threading.Lock is not: a thread that releases and at once asks again
    (a device batch committing one slice and starting the next) can win every time while another waits out
    its timeout."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()  # tickets whose holders stopped waiting

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            if not self._cond.wait_for(lambda: self._serving == ticket, timeout=timeout):
                # Give the turn up: the holder's release will skip it (see release).
                self._abandoned.add(ticket)
                self._skip()
                return False
            return True

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._skip()
            self._cond.notify_all()

    def _skip(self) -> None:
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("cityloop needs an SQLite *file*: every connection to :memory: is a new database")
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # sqlite3's legacy mode emits no BEGIN before SELECT, DDL or SAVEPOINT, so savepoints would escape
        # the outer transaction; we take over transaction control and issue BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    # Writers of this process queue on a lock before asking SQLite for its write lock. SQLite's own busy
    # handler retries with growing sleeps, so under contention some writers waited a second or more while
    # others went first; the queue keeps waits close to the work ahead (docs/PERFORMANCE.md). Other
    # processes (a worker, the CLI) still meet at SQLite's lock, with the busy timeout.
    queue = FairLock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front, so a command never fails half-way on a lock upgrade
        # (which SQLite reports as SQLITE_BUSY without waiting); readers run beside them under WAL.
        if not conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not queue.acquire(timeout=WRITE_QUEUE_TIMEOUT_S):
            raise TimeoutError(f"no turn to write within {WRITE_QUEUE_TIMEOUT_S} s")
        conn.info[_HOLDS_QUEUE] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _leave_queue(conn)
            raise

    def _leave_queue(conn: Any) -> None:
        if conn.info.pop(_HOLDS_QUEUE, False):
            queue.release()

    # Both fire for every end of a transaction begun above, whether it commits, fails or is abandoned.
    event.listen(engine, "commit", _leave_queue)
    event.listen(engine, "rollback", _leave_queue)


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite transactions start with the write lock."""
    return engine.execution_options(**{WRITE_OPTION: True})
