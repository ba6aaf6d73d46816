"""The SQLite write queue hands the lock out in arrival order, and a waiter that gives up loses only its turn."""

from __future__ import annotations

import threading
import time

from cityloop.db.engine import FairLock


def test_turns_are_granted_in_arrival_order_even_to_a_thread_that_asks_again() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[str] = []

    def waiter(name: str) -> None:
        assert lock.acquire(timeout=5)
        order.append(name)
        lock.release()

    threads = []
    for name in ("a", "b", "c"):
        t = threading.Thread(target=waiter, args=(name,))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # arrive one after the other
    lock.release()
    assert lock.acquire(timeout=5)  # the releasing thread asks again at once: it queues behind a, b and c
    order.append("main")
    lock.release()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c", "main"]


def test_a_waiter_that_times_out_gives_up_its_turn_without_blocking_the_next() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert lock.acquire(timeout=0.05) is False  # gives up while the lock is held
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=5)))
    t.start()
    time.sleep(0.05)
    lock.release()
    t.join(5)
    assert got == [True]
    lock.release()
    assert lock.acquire(timeout=0.1)
