"""The case API around the loop: create-case validation, sources, numbers, datetimes, versions, lists, queues,
the citizen's view of the timeline and allowed_actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityloop.cases.workflow import Status
from cityloop.core.clock import FakeClock
from tests.api.helpers import Api

CASES = "/api/v1/cases"
GOOD: dict[str, Any] = {"kind": "part", "category_code": "01001", "description": "供水井盖缺失",
                        "lat": 30.2590, "lon": 120.1519}
ISO_0800 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")


def listing(client: TestClient, api: Api, query: str = "", who: str = "operator") -> dict[str, Any]:
    r = client.get(f"{CASES}?{query}", headers=api.world[who].headers)
    assert r.status_code == 200, r.text
    return r.json()


def queue_ids(client: TestClient, api: Api, who: str) -> list[int]:
    r = client.get("/api/v1/queue", headers=api.world[who].headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


# --- create-case validation ---------------------------------------------------------------------------------

BAD_INPUTS = [
    pytest.param({"lat": 91}, "lat", id="lat-91"),
    pytest.param({"lon": -181}, "lon", id="lon-minus-181"),
    pytest.param({"lat": "abc"}, "lat", id="lat-not-a-number"),
    pytest.param({"description": None}, "description", id="description-missing"),
    pytest.param({"description": "x" * 2001}, "description", id="description-too-long"),
    pytest.param({"kind": "thing"}, "kind", id="unknown-kind"),
    pytest.param({"category_code": "99999"}, "category_code", id="code-not-in-directory"),
    pytest.param({"category_code": "abcde"}, "category_code", id="code-not-digits"),
    # 06001 私搭乱建 is an event (管理事项) class only; no 部件 has that code
    pytest.param({"kind": "part", "category_code": "06001"}, "category_code", id="event-code-as-part"),
    pytest.param({"kind": "event", "category_code": "01999"}, "category_code", id="unknown-event-code"),
    pytest.param({"colour": "red"}, "colour", id="extra-unknown-field"),
    pytest.param({"urgent": "maybe"}, "urgent", id="urgent-not-a-bool"),
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUTS)
def test_bad_case_input_is_422_naming_the_field_and_stores_nothing(
        api: Api, client: TestClient, change: dict[str, Any], field: str) -> None:
    before = listing(client, api)["total"]
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    r = client.post(CASES, json=body, headers=api.world["collector"].headers)
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["field"]) == ("validation_error", field)
    assert listing(client, api)["total"] == before
    # the failed request did not use up a case number either
    assert api.report()["number"].endswith("000001")


def test_same_code_is_accepted_as_part_and_as_event(api: Api) -> None:
    assert api.report(kind="part", category_code="01001")["kind"] == "part"
    assert api.report(kind="event", category_code="01001")["kind"] == "event"


def test_unknown_action_url_is_404_json(api: Api, client: TestClient) -> None:
    cid = api.report()["id"]
    r = client.post(f"{CASES}/{cid}/actions/teleport", json={}, headers=api.world["operator"].headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert r.json()["message"]


def test_malformed_json_is_422_and_stores_nothing(api: Api, client: TestClient) -> None:
    h = {**api.world["collector"].headers, "Content-Type": "application/json"}
    r = client.post(CASES, content=b'{"kind": "part",', headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert listing(client, api)["total"] == 0


def test_forbidden_report_stores_nothing(api: Api, client: TestClient) -> None:
    api.report(who="citizen", expect=403, source="media")
    api.report(who="operator", expect=403, self_handled=True)
    assert listing(client, api)["total"] == 0


# --- sources, numbers, datetimes, versions ------------------------------------------------------------------

def test_source_defaults_to_the_reporters_channel(api: Api) -> None:
    expected = {"collector": "collector", "citizen": "citizen", "operator": "hotline", "leader": "leader"}
    for who, source in expected.items():
        case = api.report(who=who)
        assert case["source"] == source, who
        assert api.events(case["id"])[0]["details"]["source"] == source


def test_only_operator_and_leader_may_name_the_source(api: Api) -> None:
    assert api.report(who="operator", source="media")["source"] == "media"
    assert api.report(who="leader", source="video")["source"] == "video"
    for who in ("collector", "citizen"):
        err = api.report(who=who, expect=403, source="hotline")
        assert (err["code"], err["field"]) == ("forbidden", "source")
    err = api.report(who="operator", expect=422, source="carrier_pigeon")
    assert err["field"] == "source"


def test_case_numbers_follow_the_shanghai_business_day(api: Api, clock: FakeClock) -> None:
    first = api.report()["number"]  # 2026-11-25 10:00 +08:00
    clock.set(datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC))  # 23:59:59 in Shanghai, same day
    second = api.report()["number"]
    clock.set(datetime(2026, 11, 25, 16, 30, tzinfo=UTC))  # 2026-11-26 00:30 +08:00
    third, fourth = api.report()["number"], api.report()["number"]
    assert [first, second, third, fourth] == ["20261125000001", "20261125000002", "20261126000001",
                                              "20261126000002"]
    assert all(re.fullmatch(r"\d{14}", n) for n in (first, second, third, fourth))


def test_case_numbers_are_unique_and_increasing(api: Api) -> None:
    numbers = [api.report()["number"] for _ in range(12)]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 12
    assert numbers[-1] == "20261125000012"


def test_datetimes_are_iso_8601_with_the_business_offset(api: Api, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 25, 16, 30, tzinfo=UTC))
    case = api.case_at(Status.CHECKING)
    assert case["created_at"] == "2026-11-26T00:30:00+08:00"
    assert ISO_0800.match(case["updated_at"])
    assert ISO_0800.match(case["open_task"]["assigned_at"])
    case = api.act(case["id"], "force_close")
    assert case["closed_at"] == "2026-11-26T00:30:00+08:00"
    assert all(ISO_0800.match(e["at"]) for e in api.events(case["id"]))
    assert all(ISO_0800.match(c["created_at"]) for c in api.client.get(
        CASES, headers=api.world["operator"].headers).json()["items"])


def test_expected_version_guards_against_stale_writes(api: Api) -> None:
    case = api.report()
    assert case["version"] == 1
    err = api.act(case["id"], "accept", expected_version=2, expect=409)
    assert (err["code"], err["field"]) == ("stale_version", "expected_version")
    assert api.get(case["id"])["status"] == "reported"
    case = api.act(case["id"], "accept", expected_version=1)
    assert (case["status"], case["version"]) == ("registered", 2)
    err = api.act(case["id"], "file", expected_version=1, expect=409)
    assert err["code"] == "stale_version"
    assert api.act(case["id"], "file", expected_version=2)["version"] == 3


# --- lists and paging ---------------------------------------------------------------------------------------

def test_case_list_filters(api: Api, client: TestClient) -> None:
    w = api.world
    filed = api.case_at(Status.FILED)["id"]
    at_a = api.case_at(Status.DISPATCHED)["id"]
    at_b = api.report()["id"]
    for action in ("accept", "file"):
        api.act(at_b, action)
    api.act(at_b, "dispatch", unit_id=w.unit_b)
    event = api.report(kind="event", category_code="06001", urgent=True)
    reported = api.report()["id"]

    def ids(query: str) -> list[int]:
        return [c["id"] for c in listing(client, api, query)["items"]]

    assert ids("status=filed") == [filed]
    assert ids("status=filed,dispatched") == [filed, at_a, at_b]
    assert ids("status=filed&status=reported") == [event["id"], filed, reported]
    assert ids(f"unit_id={w.unit_b}") == [at_b]
    assert ids("kind=event") == [event["id"]]
    assert ids("urgent=true") == [event["id"]]
    assert ids("urgent=false") == [filed, at_a, at_b, reported]
    assert ids(f"number={event['number']}") == [event["id"]]
    assert ids("status=dispatched&unit_id=" + str(w.unit_a)) == [at_a]
    r = client.get(f"{CASES}?status=bogus", headers=w["operator"].headers)
    assert r.status_code == 422
    assert r.json()["field"].startswith("status")


def test_case_list_paging(api: Api, client: TestClient) -> None:
    ids = [api.report()["id"] for _ in range(5)]
    page = listing(client, api, "limit=2&offset=1")
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [c["id"] for c in page["items"]] == ids[1:3]
    assert [c["id"] for c in listing(client, api, "limit=2&offset=4")["items"]] == ids[4:]
    assert listing(client, api, "offset=5")["items"] == []
    for bad in ("limit=0", "limit=501"):
        r = client.get(f"{CASES}?{bad}", headers=api.world["operator"].headers)
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("validation_error", "limit")
    r = client.get(f"{CASES}?offset=-1", headers=api.world["operator"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "offset")


def test_urgent_cases_head_the_list_and_the_queue(api: Api, client: TestClient) -> None:
    normal = [api.report()["id"] for _ in range(2)]
    urgent = api.report(urgent=True)["id"]
    assert [c["id"] for c in listing(client, api)["items"]] == [urgent, *normal]
    assert queue_ids(client, api, "operator") == [urgent, *normal]
    assert queue_ids(client, api, "leader") == [urgent]


def test_list_is_scoped_to_what_the_caller_may_see(api: Api, client: TestClient) -> None:
    mine = api.report(who="citizen")["id"]
    api.report(who="collector")
    assert [c["id"] for c in listing(client, api, who="citizen")["items"]] == [mine]
    assert listing(client, api, who="unit_a_staff")["total"] == 0


# --- queues -------------------------------------------------------------------------------------------------

def test_each_role_sees_its_own_work_queue(api: Api, client: TestClient) -> None:
    w = api.world
    at = {s: api.case_at(s)["id"] for s in Status}
    citizens = api.report(who="citizen")["id"]
    citizens_closed = api.case_at(Status.CLOSED, who="citizen")["id"]
    urgent = api.report(who="operator", urgent=True)["id"]
    supervised = api.case_at(Status.FILED)["id"]
    api.act(supervised, "supervise")
    pending = api.case_at(Status.DISPATCHED)["id"]
    api.act(pending, "request_extension")
    at_b = api.case_at(Status.FILED)["id"]
    api.act(at_b, "dispatch", unit_id=w.unit_b)

    assert queue_ids(client, api, "operator") == [urgent, at[Status.REPORTED], at[Status.HANDLED], citizens]
    assert queue_ids(client, api, "shift_leader") == [at[Status.REGISTERED], at[Status.CHECKED]]
    assert queue_ids(client, api, "dispatcher") == [at[Status.FILED], at[Status.SUSPENDED], supervised,
                                                     pending]
    assert queue_ids(client, api, "unit_a_staff") == [at[Status.DISPATCHED], pending]
    assert queue_ids(client, api, "unit_b_staff") == [at_b]
    assert queue_ids(client, api, "collector") == [at[Status.VERIFYING], at[Status.CHECKING]]
    assert queue_ids(client, api, "collector_b") == []
    assert queue_ids(client, api, "leader") == [urgent, supervised]
    assert queue_ids(client, api, "citizen") == [citizens]
    assert citizens_closed not in queue_ids(client, api, "citizen")
    assert queue_ids(client, api, "admin") == []
    r = client.get("/api/v1/queue?limit=1", headers=w["operator"].headers)
    assert (r.json()["total"], len(r.json()["items"])) == (4, 1)


# --- what each caller sees of one case ----------------------------------------------------------------------

def test_citizen_timeline_hides_who_did_it_and_internal_notes(api: Api) -> None:
    cid = api.report(who="citizen", description="路灯不亮")["id"]
    api.act(cid, "comment", note="内部：疑似重复上报")
    api.act(cid, "accept", note="受理")
    api.act(cid, "comment", "citizen", note="还没修好")
    staff = api.events(cid, "operator")
    public = api.events(cid, "citizen")
    assert [e["action"] for e in public] == [e["action"] for e in staff] == ["report", "comment", "accept",
                                                                            "comment"]
    assert [(e["from_status"], e["to_status"], e["at"]) for e in public] == [
        (e["from_status"], e["to_status"], e["at"]) for e in staff]
    assert all(e["actor"] is None and e["actor_id"] is None and e["details"] == {} for e in public)
    # Their own words stay theirs to read; the city's internal notes do not reach them.
    assert [e["note"] for e in public] == ["", "", "", "还没修好"]
    assert [e["actor"] for e in staff] == ["citizen", "operator", "operator", "citizen"]
    assert [e["note"] for e in staff] == ["", "内部：疑似重复上报", "受理", "还没修好"]
    assert staff[0]["details"]["source"] == "citizen"


def test_citizens_and_other_units_cannot_see_cases_that_are_not_theirs(api: Api, client: TestClient) -> None:
    cid = api.case_at(Status.DISPATCHED)["id"]
    for who in ("citizen", "unit_b_staff", "collector_b"):
        r = client.get(f"{CASES}/{cid}/events", headers=api.world[who].headers)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (404, "not_found", "case_id")
        api.get(cid, who, expect=404)
    assert api.get(cid, "unit_a_staff")["id"] == cid


def test_allowed_actions_list_exactly_what_the_caller_may_do(api: Api) -> None:
    filed = api.case_at(Status.FILED)["id"]
    assert api.get(filed, "dispatcher")["allowed_actions"] == ["dispatch", "comment"]
    assert api.get(filed, "shift_leader")["allowed_actions"] == ["void", "force_close", "comment"]
    assert api.get(filed, "leader")["allowed_actions"] == ["supervise", "comment"]
    api.get(filed, "unit_b_staff", expect=404)

    reported = api.report(who="citizen")["id"]
    assert api.get(reported, "operator")["allowed_actions"] == ["accept", "reject", "request_verification",
                                                               "comment"]
    assert api.get(reported, "citizen")["allowed_actions"] == ["comment"]

    dispatched = api.case_at(Status.DISPATCHED)["id"]
    assert api.get(dispatched, "unit_a_staff")["allowed_actions"] == [
        "request_return", "request_extension", "request_suspension", "complete", "comment"]
    api.act(dispatched, "request_return")
    assert api.get(dispatched, "unit_a_staff")["allowed_actions"] == [
        "request_extension", "request_suspension", "complete", "comment"]
    assert api.get(dispatched, "dispatcher")["allowed_actions"] == ["approve_return", "deny_return", "comment"]
    assert api.get(dispatched, "admin")["allowed_actions"] == ["force_close", "comment"]

    checking = api.case_at(Status.CHECKING)["id"]
    assert api.get(checking, "collector")["allowed_actions"] == ["check", "comment"]
    api.get(checking, "collector_b", expect=404)
    assert api.get(api.case_at(Status.CLOSED)["id"], "shift_leader")["allowed_actions"] == ["comment"]
