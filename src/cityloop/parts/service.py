"""Commands on the 部件 inventory. Never commits: the caller's transaction holds a whole import or none of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.clock import to_business
from cityloop.parts.models import Part, PartStatus

Progress = Callable[[str, int, int], None]  # (phase, done, total)

_DB_CHUNK = 5_000      # rows per INSERT / UPDATE executemany
_LOOKUP_CHUNK = 5_000  # codes per IN (…), written inline
_PROGRESS_EVERY = 10_000
# An export writes 8 decimals (≈1 mm); a point re-imported within this of the stored one is the same point.
SAME_POINT_DEG = 1e-7


class PartRecord(TypedDict):
    """One checked part, in the parts table's column names (WGS-84 lon/lat)."""

    code: str
    category_code: str
    name: str
    competent_code: str
    competent_name: str
    owner_code: str
    owner_name: str
    maintainer_code: str
    maintainer_name: str
    grid_code: str
    street_code: str
    street_name: str
    community_code: str
    community_name: str
    status: PartStatus
    surveyed_on: date
    changed_on: date | None
    data_source: str
    note: str
    lon: float
    lat: float
    synthetic: bool


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int  # already stored with the same attributes: left alone, BGRQ untouched


# Compared to decide whether a stored part changed; changed_on only when the file gives one, lon/lat with slack.
_COMPARED = ("category_code", "name", "competent_code", "competent_name", "owner_code", "owner_name",
             "maintainer_code", "maintainer_name", "grid_code", "street_code", "street_name", "community_code",
             "community_name", "status", "surveyed_on", "data_source", "note", "synthetic")


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _table() -> sa.Table:
    return cast(sa.Table, Part.__table__)


def _stored(session: Session, codes: list[str]) -> dict[str, tuple[Any, ...]]:
    """code → (id, changed_on, lon, lat, *_COMPARED) of the stored parts among `codes`."""
    t = _table()
    columns = [t.c.id, t.c.changed_on, t.c.lon, t.c.lat, *(t.c[c] for c in _COMPARED), t.c.code]
    found: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(codes, _LOOKUP_CHUNK):
        # Codes inline (literal_execute), not as 5,000 bound parameters: psycopg prepares a statement it has run
        # five times, and PostgreSQL's generic plan then compares each row with every parameter in turn (minutes
        # for 100,000 rows, against a hashed lookup over literals). SQLAlchemy quotes each literal.
        in_chunk = t.c.code.in_(sa.bindparam("codes", list(chunk), expanding=True, literal_execute=True))
        # Plain tuples by position: attribute access on 100,000 result rows cost more than the query.
        for row in session.execute(sa.select(*columns).where(in_chunk)):
            found[row[-1]] = tuple(row[:-1])
    return found


def _same(new: PartRecord, old: tuple[Any, ...]) -> bool:
    _, changed_on, lon, lat, *compared = old
    fields: Mapping[str, object] = new
    if [fields[c] for c in _COMPARED] != compared:
        return False
    if new["changed_on"] is not None and new["changed_on"] != changed_on:
        return False
    return abs(new["lon"] - lon) <= SAME_POINT_DEG and abs(new["lat"] - lat) <= SAME_POINT_DEG


def upsert_parts(session: Session, records: Sequence[PartRecord], *, now: datetime,
                 progress: Progress | None = None) -> UpsertCounts:
    """Insert new codes and update stored ones whose attributes differ. An update without a BGRQ of its own gets
    the business day of `now` as 变更日期. Codes must be unique within `records` (the import checks)."""
    today = to_business(now).date()
    stored = _stored(session, [r["code"] for r in records])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for record in records:
        old = stored.get(record["code"])
        if old is None:
            inserts.append({**record, "created_at": now})
        elif _same(record, old):
            unchanged += 1
        else:
            updates.append({**record, "part_id": old[0], "changed_on": record["changed_on"] or today})
    # Core statements on the table: the ORM's bulk paths build per-row bookkeeping that made a 100,000-row import
    # take 1.7 times as long, and these rows have no relationships or events for the ORM to serve.
    table = _table()
    update = sa.update(table).where(table.c.id == sa.bindparam("part_id"))
    done, total, next_report = 0, len(inserts) + len(updates), _PROGRESS_EVERY
    for statement, batch in ((sa.insert(table), inserts), (update, updates)):
        for chunk in _chunks(batch, _DB_CHUNK):
            # A list of dicts is one executemany per chunk; an UPDATE sets the columns the dicts name.
            session.execute(statement, chunk)
            done += len(chunk)
            if progress and (done >= next_report or done == total):
                progress("write", done, total)
                next_report = done + _PROGRESS_EVERY
    return UpsertCounts(len(inserts), len(updates), unchanged)
