"""Where outbox messages go. The worker calls `send()` outside any transaction; a sender reports failure by
raising, and the worker then schedules a retry (notifications/jobs.py)."""

from __future__ import annotations

import json
import sys
import threading
from typing import Protocol, TextIO

from cityloop.notifications.models import OutboxMessage


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> None:
        """Deliver one message or raise. It may be called again for the same message (at-least-once)."""
        ...


def render(message: OutboxMessage) -> str:
    """One readable line: kind, recipient and the payload as JSON (Chinese left as it is)."""
    payload = json.dumps(message.payload, ensure_ascii=False, sort_keys=True, default=str)
    return f"[outbox #{message.id}] {message.kind} → {message.recipient} {payload}"


class ConsoleSender:
    """The default backend (development, demos, an intranet without gateways): one line per message."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # None means "sys.stdout at the time of sending", so a redirected stdout (CliRunner, a daemon's
        # log file swapped in after start) is honoured.
        self._stream = stream
        # Two workers in one process must not interleave halves of their lines.
        self._lock = threading.Lock()

    def send(self, message: OutboxMessage) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(render(message) + "\n")
            stream.flush()
