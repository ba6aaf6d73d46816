"""Filing under a standard fixes the handling deadline on the working calendar; lights, pauses, extensions,
emergencies and timeliness, through the HTTP API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import Category, FilingStandard
from cityloop.core.clock import BUSINESS_TZ, FakeClock
from cityloop.notifications.models import OutboxMessage
from tests.api.helpers import Api


def at(text: str) -> datetime:
    """A wall-clock time in Hangzhou."""
    return datetime.fromisoformat(text).replace(tzinfo=BUSINESS_TZ)


@pytest.fixture
def standards(session: Session) -> dict[str, int]:
    """Filing standard rows on the class 01001 (部件 供水井盖), as a city's 立结案标准 would have them."""
    category = session.scalar(sa.select(Category).where(
        Category.scheme == GBT_47678_2026, Category.kind == Kind.PART, Category.code == "01001"))
    assert category is not None
    rows = {
        "4h": FilingStandard(category_id=category.id, seq=1, filing_criteria="破损超过25c㎡",
                             closing_criteria="更换或修复", deadline_text="4工作时", deadline_amount=4,
                             deadline_unit="工作时"),
        "urgent": FilingStandard(category_id=category.id, seq=2, filing_criteria="缺失、移位，存在安全隐患",
                                 closing_criteria="恢复", deadline_text="2紧急工作时", deadline_amount=2,
                                 deadline_unit="紧急工作时", urgent=True),
        "regional": FilingStandard(category_id=category.id, seq=3, filing_criteria="井框与路面高低差大于2cm",
                                   closing_criteria="修复", deadline_text="5工作日", deadline_amount=5,
                                   deadline_unit="工作日",
                                   region_deadlines={"A": {"amount": 1, "unit": "工作日"}}),
    }
    session.add_all(rows.values())
    session.commit()  # releases the savepoint only
    return {name: row.id for name, row in rows.items()}


def dispatched(api: Api, standard_id: int, **report: Any) -> dict[str, Any]:
    case = api.report(**report)
    api.act(case["id"], "accept")
    api.act(case["id"], "file", filing_standard_id=standard_id)
    return api.act(case["id"], "dispatch")


def clock_of(case: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [d for d in case["deadlines"] if d["kind"] == kind]
    assert len(found) == 1, case["deadlines"]
    return found[0]


def test_filing_a_class_with_rows_requires_one_of_them(api: Api, standards: dict[str, int]) -> None:
    case = api.report()
    api.act(case["id"], "accept")
    r = api.client.post(f"/api/v1/cases/{case['id']}/actions/file", json={},
                        headers=api.world["shift_leader"].headers)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "validation_error", "filing_standard_id")
    r = api.client.post(f"/api/v1/cases/{case['id']}/actions/file", json={"filing_standard_id": 999999},
                        headers=api.world["shift_leader"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "filing_standard_id")
    assert api.get(case["id"])["status"] == "registered"
    filed = api.act(case["id"], "file", filing_standard_id=standards["4h"])
    assert filed["filing_standard_id"] == standards["4h"]
    assert clock_of(filed, "dispatch")["limit"] == {"amount": 1.0, "unit": "工作时"}


def test_the_row_fixes_the_handling_deadline_in_working_time(api: Api, standards: dict[str, int]) -> None:
    # Wednesday 10:00 + 4 工作时: 10–12 and 14–16.
    case = dispatched(api, standards["4h"])
    handle = clock_of(case, "handle")
    assert handle["due_at"] == "2026-11-25T16:00:00+08:00"
    assert (handle["light"], handle["remaining_minutes"], handle["working"]) == ("green", 240, True)


def test_the_deadline_skips_national_day_and_its_holiday_week(api: Api, clock: FakeClock,
                                                             standards: dict[str, int]) -> None:
    clock.set(at("2026-09-30T16:00"))
    handle = clock_of(dispatched(api, standards["4h"]), "handle")
    # 16:00–18:00 on the 30th, then the holiday 1–7 October; Thursday the 8th is a working day.
    assert handle["due_at"] == "2026-10-08T10:00:00+08:00"


def test_a_make_up_saturday_counts_as_a_working_day(api: Api, clock: FakeClock,
                                                     standards: dict[str, int]) -> None:
    clock.set(at("2026-02-13T17:00"))  # Friday before the Spring Festival; Saturday the 14th is 调休 work
    handle = clock_of(dispatched(api, standards["4h"]), "handle")
    assert handle["due_at"] == "2026-02-14T11:00:00+08:00"


def test_suspension_pauses_the_handling_clock_and_resume_continues_it(api: Api, clock: FakeClock,
                                                                      standards: dict[str, int]) -> None:
    case = dispatched(api, standards["4h"])  # due 16:00
    clock.advance(timedelta(hours=1))  # 11:00: 3 working hours left
    api.act(case["id"], "request_suspension")
    parked = api.act(case["id"], "approve_suspension")
    handle = clock_of(parked, "handle")
    assert (handle["state"], handle["due_at"], handle["remaining_minutes"]) == ("paused", None, 180)
    clock.set(at("2026-11-27T09:00"))  # two days later, Friday 09:00
    assert clock_of(api.get(case["id"]), "handle")["remaining_minutes"] == 180  # stood still
    resumed = api.act(case["id"], "resume")
    handle = clock_of(resumed, "handle")
    assert (handle["state"], handle["due_at"]) == ("pending", "2026-11-27T12:00:00+08:00")


def test_an_approved_extension_moves_the_deadline_and_the_count_is_limited(api: Api,
                                                                         standards: dict[str, int]) -> None:
    case = dispatched(api, standards["4h"])  # due Wednesday 16:00
    api.act(case["id"], "request_extension", amount=1, unit="工作日")
    moved = api.act(case["id"], "approve_extension")
    handle = clock_of(moved, "handle")
    assert (handle["due_at"], handle["extensions"]) == ("2026-11-26T16:00:00+08:00", 1)
    api.act(case["id"], "request_extension", amount=2, unit="工作时")
    handle = clock_of(api.act(case["id"], "approve_extension"), "handle")
    # Thursday 16:00 + 2 工作时 ends with the working day: due at 18:00, not at 08:00 next morning.
    assert (handle["due_at"], handle["extensions"]) == ("2026-11-26T18:00:00+08:00", 2)
    r = api.client.post(f"/api/v1/cases/{case['id']}/actions/request_extension",
                        json=api.body("request_extension"), headers=api.world["unit_a_staff"].headers)
    assert (r.status_code, r.json()["code"]) == (409, "extension_limit")


def test_lights_turn_yellow_at_80_percent_and_red_when_overdue(api: Api, clock: FakeClock,
                                                               standards: dict[str, int]) -> None:
    case = dispatched(api, standards["4h"])  # 240 working minutes, due 16:00
    clock.set(at("2026-11-25T15:00"))  # 180 of 240 used: 75 %
    assert clock_of(api.get(case["id"]), "handle")["light"] == "green"
    clock.set(at("2026-11-25T15:12"))  # 192 of 240: 80 %
    assert clock_of(api.get(case["id"]), "handle")["light"] == "yellow"
    clock.set(at("2026-11-25T16:30"))
    handle = clock_of(api.get(case["id"]), "handle")
    assert (handle["light"], handle["remaining_minutes"]) == ("red", -30)
    done = api.act(case["id"], "complete")
    assert done["timeliness"]["handle"] is False
    assert done["timeliness"]["dispatch"] is True


def test_an_urgent_row_makes_an_emergency_on_continuous_time_and_alerts(api: Api, clock: FakeClock,
                                                                       session: Session,
                                                                       standards: dict[str, int]) -> None:
    clock.set(at("2026-11-28T23:10"))  # Saturday night
    case = dispatched(api, standards["urgent"])
    assert case["urgent"] is True
    handle = clock_of(case, "handle")
    assert (handle["due_at"], handle["working"]) == ("2026-11-29T01:10:00+08:00", False)
    recipients = set(session.scalars(sa.select(OutboxMessage.recipient).where(
        OutboxMessage.kind == "case.urgent", OutboxMessage.payload["case_id"].as_integer() == case["id"])))
    assert recipients == {"role:dispatcher", f"unit:{api.world.unit_a}"}


def test_a_region_class_picks_the_rows_regional_deadline(api: Api, standards: dict[str, int]) -> None:
    case = api.report()
    api.act(case["id"], "accept")
    r = api.client.post(f"/api/v1/cases/{case['id']}/actions/file",
                        json={"filing_standard_id": standards["4h"], "region_class": "A"},
                        headers=api.world["shift_leader"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "region_class")
    api.act(case["id"], "file", filing_standard_id=standards["regional"], region_class="A")
    handle = clock_of(api.act(case["id"], "dispatch"), "handle")
    assert (handle["limit"], handle["due_at"]) == ({"amount": 1.0, "unit": "工作日"}, "2026-11-26T10:00:00+08:00")


def test_every_step_has_its_clock_and_closing_records_the_criterion(api: Api, standards: dict[str, int]) -> None:
    case = api.report()
    assert clock_of(case, "accept")["due_at"] == "2026-11-25T11:00:00+08:00"
    case = api.act(case["id"], "accept")
    assert [d["kind"] for d in case["deadlines"]] == ["file"]
    case = api.act(case["id"], "file", filing_standard_id=standards["4h"])
    case = api.act(case["id"], "dispatch")
    case = api.act(case["id"], "complete")
    assert [d["kind"] for d in case["deadlines"]] == ["check"]
    api.act(case["id"], "request_check")
    case = api.act(case["id"], "check")
    assert [d["kind"] for d in case["deadlines"]] == ["close"]
    case = api.act(case["id"], "close")
    assert case["deadlines"] == []
    assert set(case["timeliness"].items()) >= {("accept", True), ("file", True), ("dispatch", True),
                                               ("handle", True), ("check", True), ("close", True)}
    close_event = api.events(case["id"])[-1]
    assert close_event["details"] == {"closing_criteria": "更换或修复", "criteria_met": True}


def test_return_cancels_the_units_clock_and_rework_starts_a_new_round(api: Api, clock: FakeClock,
                                                                     standards: dict[str, int]) -> None:
    case = dispatched(api, standards["4h"])
    api.act(case["id"], "request_return")
    back = api.act(case["id"], "approve_return")
    assert [d["kind"] for d in back["deadlines"]] == ["dispatch"]
    api.act(case["id"], "dispatch")
    api.act(case["id"], "complete")
    api.act(case["id"], "request_check")
    clock.advance(timedelta(hours=1))
    reworked = api.act(case["id"], "check", passed=False)
    handle = clock_of(reworked, "handle")
    # A new round from the failed check at 11:00: 11–12 and 14–17.
    assert (handle["due_at"], handle["extensions"]) == ("2026-11-25T17:00:00+08:00", 0)
    assert reworked["rework_count"] == 1


def test_timeliness_rates_for_a_period(api: Api, client: TestClient, clock: FakeClock,
                                       standards: dict[str, int]) -> None:
    on_time = dispatched(api, standards["4h"])["id"]
    late = dispatched(api, standards["4h"])["id"]
    api.act(on_time, "complete")
    api.act(on_time, "request_check")
    api.act(on_time, "check")
    api.act(on_time, "close")
    clock.set(at("2026-11-25T17:00"))  # the second is an hour overdue and still at the unit
    r = client.get("/api/v1/stats/timeliness", params={"start": "2026-11-25", "end": "2026-11-25"},
                   headers=api.world["leader"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["closing_rate"] == {"numerator": 1, "denominator": 2, "percent": 50.0}
    assert body["resolution_rate"] == {"numerator": 1, "denominator": 2, "percent": 50.0}
    assert body["steps"]["handle"] == {"numerator": 1, "denominator": 2, "percent": 50.0}
    assert body["steps"]["verify"] == {"numerator": 0, "denominator": 0, "percent": None}
    assert late != on_time
    r = client.get("/api/v1/stats/timeliness", params={"start": "2026-11-26", "end": "2026-11-25"},
                   headers=api.world["leader"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "end")
    r = client.get("/api/v1/stats/timeliness", params={"start": "2026-11-25", "end": "2026-11-25"},
                   headers=api.world["unit_a_staff"].headers)
    assert r.status_code == 403

