"""Query and form parameters as the spec reads them (doc §2.5, §2.6, §7, §13.1). Pure.

One normaliser drops empty values before anything looks at them, so `status=` or `jurisdiction_id=` behave
exactly as if they were not sent (FixMyStreet once had to stop sending an empty jurisdiction_id because a
city server mishandled it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cityloop.open311 import errors
from cityloop.open311.timefmt import parse_dt

MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000
STATUSES = ("open", "closed")


class Params:
    """Parameters with blank values dropped. Names are case-sensitive; unknown ones are simply never read."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            if isinstance(value, str) and value.strip():
                self._values.setdefault(name, []).append(value)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def names(self) -> list[str]:
        return list(self._values)

    def get(self, name: str) -> str | None:
        """The last value, trimmed; None when absent or blank."""
        values = self._values.get(name)
        return values[-1].strip() if values else None

    def raw(self, name: str) -> str | None:
        """The last value untrimmed (free text keeps its own spacing)."""
        values = self._values.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def csv(self, name: str) -> list[str]:
        """A comma list, also when repeated: split, trimmed, blanks dropped, duplicates dropped (order kept)."""
        seen: dict[str, None] = {}
        for value in self._values.get(name, []):
            for part in value.split(","):
                if part.strip():
                    seen.setdefault(part.strip(), None)
        return list(seen)

    def items(self) -> list[tuple[str, list[str]]]:
        return [(k, list(v)) for k, v in self._values.items()]


def check_jurisdiction(params: Params, configured: str) -> None:
    """One jurisdiction: absent, blank or ours is fine; any other value is 404 (doc §2.6)."""
    given = params.get("jurisdiction_id")
    if given is not None and given != configured:
        raise errors.not_found(errors.JURISDICTION_NOT_FOUND)


def statuses(params: Params) -> frozenset[str] | None:
    """`status` as a set of open/closed (matched case-insensitively); None = both."""
    values = [v.lower() for v in params.csv("status")]
    bad = [v for v in values if v not in STATUSES]
    if bad:
        raise errors.bad_request(f"status must be open, closed or open,closed; got '{bad[0]}'")
    return frozenset(values) or None


def datetime_param(params: Params, name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return parse_dt(value)
    except ValueError as exc:
        raise errors.bad_request(f"{name}: {exc}") from None


def date_window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The requested_datetime window, both ends inclusive (doc §7): 90 days at most, the last 90 by default."""
    if start is None and end is None:
        return now - MAX_SPAN, now
    if end is None:
        assert start is not None
        return start, min(start + MAX_SPAN, now)
    if start is None:
        return end - MAX_SPAN, end
    if end < start:
        raise errors.bad_request("end_date is before start_date")
    if end - start > MAX_SPAN:
        raise errors.bad_request("date range exceeds 90 days")
    return start, end


@dataclass(frozen=True)
class Paging:
    """Rows [offset, offset + limit). `style` says which extension the client used, so Link headers answer in
    the same words: "page" (page/page_size), "offset" (limit/offset) or "none" (the core's first 1 000)."""

    offset: int
    limit: int
    style: str

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


def _int(params: Params, name: str, low: int, high: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    ok = value.isdigit() and int(value) >= low and (high is None or int(value) <= high)
    if not ok:
        upper = f" to {high}" if high is not None else " or more"
        raise errors.bad_request(f"{name} must be an integer from {low}{upper}")
    return int(value)


def paging(params: Params) -> Paging:
    """page/page_size (1-based; page_size 1…1000, default 1000) or their aliases limit/offset (doc §13.1)."""
    size = _int(params, "page_size", 1, MAX_ROWS)
    limit = _int(params, "limit", 1, MAX_ROWS)
    page = _int(params, "page", 1, None)
    offset = _int(params, "offset", 0, None)
    if offset is not None or (limit is not None and page is None and size is None):
        return Paging(offset or 0, limit or size or MAX_ROWS, "offset")
    if page is not None or size is not None or limit is not None:
        per_page = size or limit or MAX_ROWS
        return Paging(((page or 1) - 1) * per_page, per_page, "page")
    return Paging(0, MAX_ROWS, "none")
