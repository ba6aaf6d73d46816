"""Intake under concurrency, with real commits on a database of the test's own: retries of one batch racing
each other store every event once, and reports of one thing racing from several senders open one case.

Each thread calls the intake services in its own write session and commits, as the routes do.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityloop.cases.models import Case
from cityloop.catalog.enums import Kind
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.intake import devices, machine, service
from cityloop.intake.models import Channel, Device, DeviceType, Outcome, Report
from cityloop.intake.schemas import DeviceIn, EventResult, ReportIn
from tests.dbutil import race
from tests.factories import EPOCH

pytestmark = pytest.mark.real_commits

N = 8
LAT, LON = 30.2590, 120.1519
GARBAGE = "06010"   # 暴露垃圾
SNOW = "10001"      # 道路积雪、结冰
M_PER_DEG = 111_320.0


def _devices(engine: Engine, n: int, **fields: Any) -> list[int]:
    with session_scope(write_sessionmaker(engine)) as session:
        made = [devices.add(session, DeviceIn.model_validate({"name": f"摄像头{i}", "type": "video_ai",
                                                              "algorithm": "det", **fields}), now=EPOCH)[0]
                for i in range(n)]
        return [d.id for d in made]


def _send(engine: Engine, device_id: int, events: list[dict[str, Any]]) -> list[EventResult]:
    with session_scope(write_sessionmaker(engine)) as session:
        device = session.get(Device, device_id)
        assert device is not None
        return machine.submit_events(session, device, events, now=EPOCH)


def _event(ident: str, north_m: float = 0.0, confidence: float = 0.95, code: str = GARBAGE,
           **extra: Any) -> dict[str, Any]:
    return {"device_event_id": ident, "occurred_at": EPOCH.isoformat(), "kind": "event", "category_code": code,
            "confidence": confidence, "lat": LAT + north_m / M_PER_DEG, "lon": LON, **extra}


def _cases(engine: Engine) -> list[tuple[int, str, int]]:
    with Session(engine) as session:
        return [(c.id, c.category_code, c.report_count)
                for c in session.scalars(sa.select(Case).order_by(Case.id))]


def _reports(engine: Engine) -> list[Report]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(Report).order_by(Report.id)))


def test_one_batch_sent_by_many_retries_at_once_is_stored_once(committed: Engine) -> None:
    [device_id] = _devices(committed, 1)
    batch = [_event("a1", 0), _event("a2", 10),            # hotspot A
             _event("b1", 500), _event("b2", 505),         # hotspot B
             _event("c1", 1000), _event("c2", 1020),       # hotspot C
             _event("q1", 2000, confidence=0.7),           # queued
             _event("d1", 3000, confidence=0.1)]           # dropped

    answers = race(N, lambda _i: _send(committed, device_id, batch))

    # Every retry got the answer the first one did.
    first = [(r.device_event_id, r.outcome, r.case_id) for r in answers[0]]
    for other in answers[1:]:
        assert [(r.device_event_id, r.outcome, r.case_id) for r in other] == first
    assert [o for _, o, _ in first] == [Outcome.CREATED, Outcome.MERGED] * 3 + [Outcome.QUEUED, Outcome.DROPPED]
    stored = _reports(committed)
    assert sorted(r.external_id or "" for r in stored) == sorted(e["device_event_id"] for e in batch)
    cases = _cases(committed)
    assert [(code, count) for _, code, count in cases] == [(GARBAGE, 2)] * 3
    assert {case_id for _, _, case_id in first if case_id is not None} == {case_id for case_id, _, _ in cases}


def test_events_of_one_spot_from_many_devices_at_once_open_one_case(committed: Engine) -> None:
    device_ids = _devices(committed, N)

    answers = race(N, lambda i: _send(committed, device_ids[i], [_event(f"e{i}", north_m=i)]))

    outcomes = Counter(r.outcome for [r] in answers)
    assert outcomes == {Outcome.CREATED: 1, Outcome.MERGED: N - 1}
    [(case_id, _code, count)] = _cases(committed)
    assert count == N
    assert {r.case_id for [r] in answers} == {case_id}
    assert len(_reports(committed)) == N


def test_sensor_alarms_and_camera_events_of_one_class_at_once_open_one_case(committed: Engine) -> None:
    """An alarm files under the sensor's alarm class, whatever class the reading was sent as: it must be
    serialised with events sent as that class."""
    sensors = _devices(committed, N // 2, type=DeviceType.IOT_SENSOR.value, alarm_threshold=5.0,
                       alarm_category_code=SNOW)
    cameras = _devices(committed, N - N // 2)

    def work(i: int) -> list[EventResult]:
        if i % 2:
            return _send(committed, cameras[i // 2], [_event(f"c{i}", north_m=i, code=SNOW)])
        return _send(committed, sensors[i // 2], [_event(f"s{i}", north_m=i, code=GARBAGE, value=9.0)])

    answers = race(N, work)

    assert Counter(r.outcome for [r] in answers) == {Outcome.CREATED: 1, Outcome.MERGED: N - 1}
    [(_case_id, code, count)] = _cases(committed)
    assert (code, count) == (SNOW, N)


def _report_in(i: int, **fields: Any) -> ReportIn:
    return ReportIn.model_validate({"kind": Kind.EVENT, "category_code": GARBAGE, "description": f"第{i}位市民",
                                    "lat": LAT + i / M_PER_DEG, "lon": LON, **fields})


def test_citizens_reporting_one_thing_at_once_open_one_case(committed: Engine) -> None:
    def work(i: int) -> tuple[Outcome, int | None]:
        with session_scope(write_sessionmaker(committed)) as session:
            done = service.submit_report(session, service.Sender(Channel.PUBLIC, "public"), _report_in(i), now=EPOCH,
                                         issue_token=True)
            return done.outcome, done.case.id if done.case else None

    answers = race(N, work)

    assert Counter(o for o, _ in answers) == {Outcome.CREATED: 1, Outcome.MERGED: N - 1}
    [(case_id, _code, count)] = _cases(committed)
    assert count == N
    assert {c for _, c in answers} == {case_id}


def test_one_hotline_order_pushed_many_times_at_once_is_one_report(committed: Engine) -> None:
    def work(i: int) -> tuple[bool, int | None]:
        with session_scope(write_sessionmaker(committed)) as session:
            done = service.submit_report(session, service.Sender(Channel.HOTLINE, "key:1"),
                                         _report_in(i, external_id="GD1"), now=EPOCH)
            return done.replayed, done.case.id if done.case else None

    answers = race(N, work)

    assert Counter(replayed for replayed, _ in answers) == {False: 1, True: N - 1}
    [(case_id, _code, count)] = _cases(committed)
    assert count == 1
    assert {c for _, c in answers} == {case_id}
    assert [(r.external_id, r.case_id) for r in _reports(committed)] == [("GD1", case_id)]
