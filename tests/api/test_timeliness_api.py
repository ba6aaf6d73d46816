"""Timeliness figures count each case in exactly one period: on time where it was done, late where it fell due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cityloop.cases.workflow import Status
from cityloop.core.clock import BUSINESS_TZ, FakeClock
from cityloop.stats.evaluation import Rate
from tests.api.helpers import Api


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUSINESS_TZ)


def rates(api: Api, start: str, end: str) -> dict[str, Any]:
    r = api.client.get("/api/v1/stats/timeliness", params={"start": start, "end": end},
                       headers=api.world["leader"].headers)
    assert r.status_code == 200, r.text
    return r.json()


def fraction(rate: dict[str, Any]) -> tuple[int, int]:
    return rate["numerator"], rate["denominator"]


def test_cases_count_where_they_were_done_on_time_or_fell_due(api: Api, clock: FakeClock) -> None:
    # Wednesday 25 November 10:00. The class has no filing-standard rows: the handling limit is 1 工作日.
    on_time = api.case_at(Status.CLOSED)["id"]
    late = api.case_at(Status.DISPATCHED)["id"]  # due Thu 10:00
    forced = api.case_at(Status.DISPATCHED)["id"]
    api.act(forced, "force_close")
    rejected = api.report()["id"]
    api.act(rejected, "reject")
    still_open = api.case_at(Status.DISPATCHED)["id"]  # due Thu 10:00

    clock.set(at("2026-11-26T11:00"))  # an hour late
    api.act(late, "complete")
    api.act(late, "request_check")
    api.act(late, "check")
    api.act(late, "close")
    clock.set(at("2026-11-27T09:00"))
    assert api.get(still_open)["deadlines"][0]["light"] == "red"

    wed, thu, both = rates(api, "2026-11-25", "2026-11-25"), rates(api, "2026-11-26", "2026-11-26"), \
        rates(api, "2026-11-25", "2026-11-26")
    # 按期结案: Wednesday holds the on-time close and the forced close; Thursday the two that fell due late.
    assert fraction(wed["closing_rate"]) == (1, 2)
    assert fraction(thu["closing_rate"]) == (0, 2)
    assert fraction(both["closing_rate"]) == (1, 4)
    assert thu["closing_rate"]["percent"] == 0.0
    # 及时解决: the forced close never had its problem solved nor fell due, so it counts nowhere.
    assert fraction(wed["resolution_rate"]) == (1, 1)
    assert fraction(thu["resolution_rate"]) == (0, 2)
    # 按期处置: handling rounds; the forced close's round was cancelled.
    assert fraction(wed["steps"]["handle"]) == (1, 1)
    assert fraction(thu["steps"]["handle"]) == (0, 2)
    assert fraction(wed["steps"]["accept"]) == (5, 5)
    # A period with nothing due is not applicable, not 0 % and not 100 %.
    empty = rates(api, "2026-12-01", "2026-12-02")
    assert empty["closing_rate"] == {"numerator": 0, "denominator": 0, "percent": None}
    assert api.get(on_time)["timeliness"]["close"] is True
    assert api.get(late)["timeliness"]["handle"] is False
    assert api.get(rejected)["timeliness"]["accept"] is True  # rejected in time, then out of every rate


def test_a_suspended_case_does_not_fall_due_while_parked(api: Api, clock: FakeClock) -> None:
    parked = api.case_at(Status.SUSPENDED)["id"]
    clock.advance(timedelta(days=10))
    assert api.get(parked)["deadlines"][0]["state"] == "paused"
    assert fraction(rates(api, "2026-11-25", "2026-12-05")["closing_rate"]) == (0, 0)


def test_rates_round_half_up_only_at_the_end() -> None:
    assert Rate(2, 3).value == 66.67
    assert Rate(1, 8).value == 12.5
    assert Rate(1, 200).value == 0.5
    assert Rate(1, 400).value == 0.25
    assert Rate(1, 800).value == 0.13  # 0.125 → 0.13, half-up
    assert Rate(0, 0).value is None
    assert Rate(3, 3).as_dict() == {"numerator": 3, "denominator": 3, "percent": 100.0}
