"""Machine collection (智能采集): a device's batch of detections in, one outcome per event out.

Per event: validate → replay if its id was seen → locate → band by confidence (auto / review / drop), or a
sensor's alarm → join an open case of the class nearby, else open and file one (auto), or queue it for an
operator (review), or count it (drop). Everything is read in bulk: one query for replays, one per class for
dedup candidates, one vectorised locate for all points.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.cases import service as cases
from cityloop.cases.models import Case, Source
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.db import bulk
from cityloop.intake import dedup, rules
from cityloop.intake.models import PENDING_REVIEW, Channel, Device, DeviceType, Outcome, Report, Review
from cityloop.intake.schemas import EventIn, EventResult
from cityloop.intake.service import bump_cases, case_in, dedup_key, lock, open_candidates

_IN_CHUNK = 500
_BATCH = TypeAdapter(list[EventIn])
_REPORTS = cast(sa.Table, Report.__table__)
_COLUMNS = ["channel", "origin", "external_id", "device_id", "api_key_id", "kind", "category_code", "confidence",
            "algorithm", "lat", "lon", "description", "occurred_at", "received_at", "review_note", "extra", "case_id",
            "parent_id", "review", "outcome"]
# Device clocks drift; an event a little ahead of ours is not refused.
_FUTURE_SLACK = timedelta(minutes=5)


@dataclass
class _Event:
    i: int
    ev: EventIn
    lat: float
    lon: float
    category: Category | None = None
    # Where the bulk locate put it: the Location itself is built only for the events that open a case.
    located: tuple[area_index.AreaIndex, area_index.BulkLocation, int] | None = None
    band: str = "drop"  # auto | review | drop | alarm


def _reason(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e.get("loc", ())) or "event"
        parts.append(f"{field}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def algorithm_of(device: Device) -> str:
    return f"{device.algorithm}@{device.algorithm_version}" if device.algorithm_version else device.algorithm


def submit_events(session: Session, device: Device, raw: list[Any], *, now: datetime) -> list[EventResult]:
    """Every event of the batch, in one transaction."""
    results, _consumed = submit_events_until(session, device, raw, now=now, max_new_cases=None)
    return results


def submit_events_until(session: Session, device: Device, raw: list[Any], *, now: datetime,
                        max_new_cases: int | None) -> tuple[list[EventResult], int]:
    """The events of `raw` up to the one that would open case number max_new_cases + 1: their results, and how
    many of `raw` they are. The caller commits and sends the rest again; the first event always goes through."""
    results: list[EventResult | None] = [None] * len(raw)
    events: list[_Event] = []
    first_of: dict[str, int] = {}
    try:  # the whole batch in one call into pydantic-core; one by one only to say which events are bad
        parsed: list[EventIn | Any] = _BATCH.validate_python(raw)
    except ValidationError:
        parsed = raw
    for i, item in enumerate(parsed):
        try:
            ev = item if isinstance(item, EventIn) else EventIn.model_validate(item)
        except ValidationError as exc:
            ident = item.get("device_event_id") if isinstance(item, dict) else None
            results[i] = EventResult(device_event_id=ident if isinstance(ident, str) else None,
                                     outcome=Outcome.REJECTED, reason=_reason(exc))
            continue
        if ev.device_event_id in first_of:  # the same event twice in one call: one report, answered twice
            continue
        first_of[ev.device_event_id] = i
        if (ev.lat is None) != (ev.lon is None):  # half a position is a broken event, not "use the device's"
            missing = "lon" if ev.lon is None else "lat"
            results[i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.REJECTED,
                                     reason=f"{missing}: give both lat and lon, or neither (the device's place)")
            continue
        if ev.lat is None or ev.lon is None:
            if device.lat is None or device.lon is None:
                results[i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.REJECTED,
                                         reason="lat: required (the device has no fixed location)")
                continue
            events.append(_Event(i, ev, device.lat, device.lon))
        else:
            events.append(_Event(i, ev, ev.lat, ev.lon))

    origin = f"device:{device.id}"
    lock(session, [origin])
    events = _replay(session, origin, events, results)
    policy = rules.load(session)
    events = _classify(session, device, policy, events, results, now)
    # The class each event files under: a sensor's alarm takes the device's alarm class, not the one it sent.
    lock(session, [dedup_key(e.category.kind, e.category.code) for e in events if e.band != "drop" and e.category])
    cut = _place(session, device, policy, events, results, now, max_new_cases)
    consumed = len(raw) if cut is None else cut

    for j, item in enumerate(raw[:consumed]):  # repeats inside the call answer what their first occurrence got
        if results[j] is None and isinstance(item, dict):
            first = first_of.get(str(item.get("device_event_id")))
            if first is not None and results[first] is not None:
                results[j] = results[first]
    return [r if r is not None else EventResult(device_event_id=None, outcome=Outcome.REJECTED, reason="event")
            for r in results[:consumed]], consumed


def _replay(session: Session, origin: str, events: list[_Event], results: list[EventResult | None]) -> list[_Event]:
    ids = [e.ev.device_event_id for e in events]
    seen: dict[str, tuple[Outcome, int | None]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(sa.select(Report.external_id, Report.outcome, Report.case_id)
                               .where(Report.origin == origin, Report.external_id.in_(ids[start:start + _IN_CHUNK])))
        for ext, outcome, case_id in rows:
            if ext is not None:
                seen[ext] = (outcome, case_id)
    fresh = []
    for e in events:
        if e.ev.device_event_id in seen:
            outcome, case_id = seen[e.ev.device_event_id]
            results[e.i] = EventResult(device_event_id=e.ev.device_event_id, outcome=outcome, case_id=case_id)
        else:
            fresh.append(e)
    return fresh


def _classify(session: Session, device: Device, policy: rules.IntakeRules, events: list[_Event],
              results: list[EventResult | None], now: datetime) -> list[_Event]:
    """Class, place and band of each event; the invalid ones are answered here."""
    known: dict[tuple[Kind, str], Category | None] = {}
    index = area_index.get_index(session)
    lons = np.array([e.lon for e in events], dtype=np.float64)
    lats = np.array([e.lat for e in events], dtype=np.float64)
    found = index.locate_many(lons, lats) if events and not index.empty else None
    kept = []
    for k, e in enumerate(events):
        ev = e.ev
        code = device.alarm_category_code if _is_alarm(device, ev) and device.alarm_category_code else ev.category_code
        key = (ev.kind, code)
        if key not in known:
            category = catalog_queries.find(session, ev.kind, code)
            known[key] = category if category is not None and category.active else None
        e.category = known[key]
        if e.category is None:
            results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.REJECTED,
                                       reason=f"category_code: {code} is not a {ev.kind.value} class of the "
                                              "adopted directory")
            continue
        if ev.occurred_at > now + _FUTURE_SLACK:
            results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.REJECTED,
                                       reason="occurred_at: lies in the future")
            continue
        if found is not None:
            e.located = (index, found, k)
            if found.district[k] < 0:
                results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.REJECTED,
                                           reason=f"lat/lon: ({e.lat}, {e.lon}) lies outside the city")
                continue
        if _is_alarm(device, ev):
            e.band = "alarm"
        elif device.alarm_threshold is not None and ev.value is not None:
            e.band = "drop"  # a sensor reading below its alarm level is no problem
        else:
            band = policy.band(e.category.code, device.algorithm or rules.ANY)
            e.band = "auto" if ev.confidence >= band.auto_at else "review" if ev.confidence >= band.review_at \
                else "drop"
        kept.append(e)
    return kept



def _is_alarm(device: Device, ev: EventIn) -> bool:
    return (device.type is DeviceType.IOT_SENSOR and device.alarm_threshold is not None and ev.value is not None
            and ev.value >= device.alarm_threshold)


def _place(session: Session, device: Device, policy: rules.IntakeRules, events: list[_Event],
           results: list[EventResult | None], now: datetime, max_new: int | None) -> int | None:
    """Join, open, queue or drop each event, in the order the device sent them; stop before the event that would
    open one case more than `max_new`, and say where (its index in the call), else None."""
    algorithm = algorithm_of(device)
    by_class: dict[tuple[Kind, str], list[_Event]] = defaultdict(list)
    for e in events:
        assert e.category is not None
        if e.band != "drop":
            by_class[(e.category.kind, e.category.code)].append(e)
    open_cases: dict[tuple[Kind, str], dedup.Candidates] = {}
    pending: dict[tuple[Kind, str], dedup.Candidates] = {}
    for (kind, code), group in by_class.items():
        rule = policy.dedup(code)
        earliest = min(e.ev.occurred_at for e in group)
        lats, lons = [e.lat for e in group], [e.lon for e in group]
        open_cases[(kind, code)] = open_candidates(session, kind, code, lats, lons, earliest, rule)
        if any(e.band == "review" for e in group):
            pending[(kind, code)] = _pending_candidates(session, kind, code, lats, lons, earliest, rule)

    rows: list[dict[str, Any]] = []
    joined: dict[int, tuple[int, datetime]] = {}
    opened, cut = 0, None
    for e in events:
        ev, category = e.ev, e.category
        assert category is not None
        key = (category.kind, category.code)
        row = _row(device, algorithm, e, now)
        if e.band == "drop":
            row["outcome"] = Outcome.DROPPED
            rows.append(row)
            results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.DROPPED)
            continue
        rule = policy.dedup(category.code)
        case_id = open_cases[key].nearest(e.lat, e.lon, ev.occurred_at, rule)
        if case_id is not None:
            open_cases[key].touch(case_id, ev.occurred_at)
            n, latest = joined.get(case_id, (0, ev.occurred_at))
            joined[case_id] = (n + 1, max(latest, ev.occurred_at))
            row |= {"outcome": Outcome.MERGED, "case_id": case_id}
            rows.append(row)
            results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.MERGED, case_id=case_id)
            continue
        if e.band == "review":
            parent = pending[key].nearest(e.lat, e.lon, ev.occurred_at, rule)
            row |= {"outcome": Outcome.QUEUED, "review": Review.PENDING}
            if parent is not None:
                pending[key].touch(parent, ev.occurred_at)
                rows.append(row | {"parent_id": parent})
            else:
                report = Report(**row)
                session.add(report)
                session.flush()
                pending[key].add(report.id, e.lat, e.lon, ev.occurred_at)
            results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.QUEUED)
            continue
        if max_new is not None and opened >= max_new:
            cut = e.i
            break
        opened += 1
        case = _open(session, device, e, now)
        open_cases[key].add(case.id, e.lat, e.lon, ev.occurred_at)
        rows.append(row | {"outcome": Outcome.CREATED, "case_id": case.id})
        results[e.i] = EventResult(device_event_id=ev.device_event_id, outcome=Outcome.CREATED, case_id=case.id)
    # The driver's executemany: a thousand rows through the ORM's bulk path cost more than the rest of the batch.
    bulk.insert(session.connection(), _REPORTS, _COLUMNS, [tuple(r[c] for c in _COLUMNS) for r in rows])
    bump_cases(session, joined)
    return cut


def _row(device: Device, algorithm: str, e: _Event, now: datetime) -> dict[str, Any]:
    ev, category = e.ev, e.category
    assert category is not None
    extra = {k: v for k, v in (("snapshot_url", ev.snapshot_url), ("value", ev.value)) if v is not None}
    return {"channel": Channel.DEVICE, "origin": f"device:{device.id}", "external_id": ev.device_event_id,
            "device_id": device.id, "api_key_id": device.api_key_id, "kind": category.kind,
            "category_code": category.code, "confidence": ev.confidence, "algorithm": algorithm or None,
            "lat": e.lat, "lon": e.lon, "description": ev.description, "occurred_at": ev.occurred_at,
            "received_at": now, "review_note": "", "extra": extra or None, "case_id": None, "parent_id": None,
            "review": None}


def describe(device: Device, category: Category, confidence: float | None, value: float | None) -> str:
    what = f"{device.name}发现{category.name}"
    if value is not None:
        what += f"（读数{value:g}）"
    elif confidence is not None:
        what += f"（置信度{confidence:.2f}）"
    return what


def _open(session: Session, device: Device, e: _Event, now: datetime) -> Case:
    ev, category = e.ev, e.category
    assert category is not None
    alarm = e.band == "alarm"
    data = case_in(category, e.lon, e.lat, description=ev.description or describe(device, category, ev.confidence,
                                                                                  ev.value), urgent=alarm)
    case = cases.open_case(session, data, source=Source.DEVICE, reporter_id=None, actor=None, now=now,
                           where=e.located[0].location(e.located[1], e.located[2], e.lon, e.lat) if e.located else None,
                           reported_at=ev.occurred_at)
    note = "物联感知超阈值，紧急立案并派遣" if alarm else f"智能采集置信度{ev.confidence:.2f}达到自动立案阈值"
    cases.system_file(session, case, now=now, note=note, dispatch=alarm)
    return case


def _pending_candidates(session: Session, kind: Kind, code: str, lats: list[float], lons: list[float],
                        earliest: datetime, rule: dedup.Rule) -> dedup.Candidates:
    """Reports of the class waiting for review near the points, seen within the window."""
    min_lat, max_lat, min_lon, max_lon = dedup.bbox(lats, lons, rule.radius_m)
    rows = session.execute(
        sa.select(Report.id, Report.lat, Report.lon, Report.occurred_at)
        .where(PENDING_REVIEW, Report.category_code == code, Report.kind == kind,
               Report.parent_id.is_(None), Report.occurred_at >= earliest - rule.window,
               Report.lat.between(min_lat, max_lat), Report.lon.between(min_lon, max_lon)))
    found = dedup.Candidates()
    for r in rows:
        found.add(r.id, r.lat, r.lon, r.occurred_at)
    return found
