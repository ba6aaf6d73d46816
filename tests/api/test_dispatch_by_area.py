"""Dispatching by place on the tiny city of tests/mapworld.py: the suggestion a dispatch follows or overrides,
automatic dispatch, district command centres (一级监督、两级指挥), collectors chosen by patrol area (责任网格), and
where a case may be opened."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.areas import service as area_service
from cityloop.auth.permissions import Role
from cityloop.cases.models import Case
from cityloop.core.crs import wgs84_to_gcj02
from tests import factories, mapworld
from tests.api.helpers import Api
from tests.api.test_routing_api import city, dispatch_event, report_at
from tests.conftest import Persona, World
from tests.factories import EPOCH

__all__ = ["city"]  # a fixture, used by name


def filed(api: Api, where: tuple[str, int, int], kind: str = "event", code: str = "06010") -> dict[str, Any]:
    case = report_at(api, where, kind, code)
    for action in ("accept", "file"):
        case = api.act(case["id"], action)
    assert case["status"] == "filed"
    return case


def set_policy(client: TestClient, world: World, kind: str, code: str, level: str, auto: bool = False) -> None:
    r = client.put(f"/api/v1/routing/policies/{kind}/{code}", json={"command_level": level, "auto_dispatch": auto},
                   headers=world["admin"].headers)
    assert r.status_code == 200, r.text


def case_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0)


# --- following or overriding the suggestion -------------------------------------------------------------------

def test_dispatch_without_a_unit_follows_the_suggestion(api: Api, city: mapworld.MapWorld) -> None:
    case = filed(api, ("330102", 1, 2))
    dispatched = api.act(case["id"], "dispatch", unit_id=None)
    hw = city.unit("330102001-HW")
    assert (dispatched["status"], dispatched["unit_id"]) == ("dispatched", hw.id)
    event = dispatch_event(api, case["id"])
    assert (event["role"], event["actor_id"], event["unit_id"], event["unit"]) == (
        "dispatcher", api.world["dispatcher"].id, hw.id, "乙区1街道环卫所")
    details = event["details"]
    assert details["followed_suggestion"] is True
    assert (details["unit_id"], details["unit_code"], details["command_level"]) == (hw.id, "330102001-HW", "district")
    assert details["routing"]["unit"]["code"] == "330102001-HW"
    assert details["routing"]["rule_name"] == "暴露垃圾 → 街道环卫所"
    assert "乙区1街道环卫所" in details["routing"]["explanation"]


def test_dispatch_to_another_unit_needs_a_note(api: Api, city: mapworld.MapWorld) -> None:
    case = filed(api, ("330101", 2, 1))
    other = city.unit("330101-SZ")
    refused = api.act(case["id"], "dispatch", expect=422, unit_id=other.id)
    assert (refused["code"], refused["field"]) == ("validation_error", "note")
    assert "甲区2街道环卫所" in refused["message"]
    assert api.act(case["id"], "dispatch", expect=422, unit_id=other.id, note="   ")["field"] == "note"
    assert api.get(case["id"])["status"] == "filed"  # nothing happened

    dispatched = api.act(case["id"], "dispatch", unit_id=other.id, note="垃圾在市政道路隔离带内，由区市政清运")
    assert dispatched["unit_id"] == other.id
    event = dispatch_event(api, case["id"])
    assert event["note"] == "垃圾在市政道路隔离带内，由区市政清运"
    assert event["details"]["followed_suggestion"] is False
    assert event["details"]["unit_code"] == "330101-SZ"
    # The event keeps what was suggested, so the override can be reviewed.
    assert event["details"]["routing"]["unit"]["code"] == "330101002-HW"


def test_naming_the_suggested_unit_is_following_it(api: Api, city: mapworld.MapWorld) -> None:
    case = filed(api, ("330101", 1, 1), "event", "08001")
    zj = city.unit("CITY-ZJ")
    assert api.act(case["id"], "dispatch", unit_id=zj.id)["unit_id"] == zj.id
    assert dispatch_event(api, case["id"])["details"]["followed_suggestion"] is True


def test_without_rules_the_dispatcher_must_name_the_unit(api: Api, session: Session, world: World) -> None:
    mapworld.build(session, rules=False)
    session.commit()
    case = filed(api, ("330101", 1, 1))
    refused = api.act(case["id"], "dispatch", expect=422, unit_id=None)
    assert refused["field"] == "unit_id"
    assert "没有规则匹配" in refused["message"]
    # With nothing suggested, naming a unit needs no reason.
    dispatched = api.act(case["id"], "dispatch", unit_id=world.unit_a)
    assert dispatched["unit_id"] == world.unit_a
    details = dispatch_event(api, case["id"])["details"]
    assert (details["followed_suggestion"], details["routing"]["unit"]) == (False, None)


# --- automatic dispatch -------------------------------------------------------------------------------------------

def test_filing_an_auto_dispatch_class_dispatches_at_once(api: Api, client: TestClient, world: World,
                                                          city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", "06010", "district", auto=True)
    case = report_at(api, ("330101", 2, 2), "event", "06010")
    api.act(case["id"], "accept")
    after = api.act(case["id"], "file")
    hw = city.unit("330101002-HW")
    assert (after["status"], after["unit_id"]) == ("dispatched", hw.id)
    events = api.events(case["id"])
    assert [e["action"] for e in events] == ["report", "accept", "file", "dispatch"]
    auto = events[-1]
    assert (auto["role"], auto["actor_id"], auto["unit_id"], auto["note"]) == ("system", None, hw.id, "自动派遣")
    assert auto["details"]["auto"] is True
    assert auto["details"]["followed_suggestion"] is True
    assert auto["details"]["routing"]["unit"]["code"] == "330101002-HW"
    assert auto["details"]["command_level"] == "district"
    assert events[-2]["role"] == "shift_leader"


def test_auto_dispatch_by_major_and_only_for_its_classes(api: Api, client: TestClient, world: World,
                                                         city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", "08", "city", auto=True)
    construction = filed_or_dispatched(api, ("330102", 2, 2), "08004")
    assert (construction["status"], construction["unit_id"]) == ("dispatched", city.unit("CITY-ZJ").id)
    other = filed_or_dispatched(api, ("330102", 2, 2), "06011")
    assert (other["status"], other["unit_id"]) == ("filed", None)


def filed_or_dispatched(api: Api, where: tuple[str, int, int], code: str) -> dict[str, Any]:
    case = report_at(api, where, "event", code)
    api.act(case["id"], "accept")
    return api.act(case["id"], "file")


def test_auto_dispatch_without_a_suggestion_leaves_the_case_filed(api: Api, client: TestClient, session: Session,
                                                                  world: World) -> None:
    mapworld.build(session, rules=False)
    session.commit()
    set_policy(client, world, "event", "06010", "district", auto=True)
    case = filed(api, ("330101", 1, 2))
    assert case["unit_id"] is None
    assert [e["action"] for e in api.events(case["id"])][-1] == "file"


# --- district command centres -------------------------------------------------------------------------------------

def area_persona(session: Session, username: str, area_code: str, role: Role = Role.DISPATCHER) -> Persona:
    user = factories.make_user(session, username, [role])
    user.area_code = area_code
    session.flush()
    persona = Persona(user, factories.token_for(session, user))
    session.commit()
    return persona


def test_a_district_dispatcher_sees_and_dispatches_its_district_only(api: Api, client: TestClient,
                                                                      session: Session,
                                                                      city: mapworld.MapWorld) -> None:
    district = area_persona(session, "xiqu_dispatcher", "330101")
    mine = filed(api, ("330101", 2, 2))
    theirs = filed(api, ("330102", 1, 1))

    listed = client.get("/api/v1/cases", headers=district.headers).json()
    assert (listed["total"], [c["id"] for c in listed["items"]]) == (1, [mine["id"]])
    assert listed["items"][0]["district_code"] == "330101"
    queue = client.get("/api/v1/queue", headers=district.headers).json()
    assert [c["id"] for c in queue["items"]] == [mine["id"]]
    city_wide = client.get("/api/v1/cases", headers=api.world["dispatcher"].headers).json()
    assert {mine["id"], theirs["id"]} <= {c["id"] for c in city_wide["items"]}

    assert client.get(f"/api/v1/cases/{mine['id']}", headers=district.headers).status_code == 200
    r = client.get(f"/api/v1/cases/{theirs['id']}", headers=district.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert client.get(f"/api/v1/cases/{theirs['id']}/events", headers=district.headers).status_code == 404
    r = client.post(f"/api/v1/cases/{theirs['id']}/actions/dispatch", json={}, headers=district.headers)
    assert r.status_code == 404, r.text

    r = client.post(f"/api/v1/cases/{mine['id']}/actions/dispatch", json={}, headers=district.headers)
    assert r.status_code == 200, r.text
    assert r.json()["unit_id"] == city.unit("330101002-HW").id
    event = dispatch_event(api, mine["id"])
    assert (event["actor_id"], event["role"], event["details"]["command_level"]) == (
        district.id, "dispatcher", "district")
    assert api.get(theirs["id"])["status"] == "filed"


def test_a_street_scoped_user_sees_its_street_only(api: Api, client: TestClient, session: Session,
                                                   city: mapworld.MapWorld) -> None:
    street = area_persona(session, "street_dispatcher", "330101002")
    inside = filed(api, ("330101", 2, 1))
    filed(api, ("330101", 1, 1))
    listed = client.get("/api/v1/cases", headers=street.headers).json()
    assert [c["id"] for c in listed["items"]] == [inside["id"]]


def test_city_level_classes_are_dispatched_by_the_city_centre_only(api: Api, client: TestClient,
                                                                   session: Session, world: World,
                                                                   city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", "08", "city")
    district = area_persona(session, "xiqu_dispatcher", "330101")
    case = filed(api, ("330101", 1, 1), "event", "08002")
    assert client.get(f"/api/v1/cases/{case['id']}", headers=district.headers).json()["routing"][
        "command_level"] == "city"
    r = client.post(f"/api/v1/cases/{case['id']}/actions/dispatch", json={}, headers=district.headers)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "city_dispatch_only"
    r = client.post(f"/api/v1/cases/{case['id']}/actions/dispatch", json={"unit_id": city.unit("330101-SZ").id,
                                                                            "note": "区里先处理"},
                    headers=district.headers)
    assert (r.status_code, r.json()["code"]) == (403, "city_dispatch_only")
    assert api.get(case["id"])["status"] == "filed"

    dispatched = api.act(case["id"], "dispatch", unit_id=None)
    assert dispatched["unit_id"] == city.unit("CITY-ZJ").id
    assert dispatch_event(api, case["id"])["details"]["command_level"] == "city"


def test_a_class_policy_overrides_its_major(api: Api, client: TestClient, session: Session, world: World,
                                            city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", "08", "city")
    set_policy(client, world, "event", "08005", "district")
    district = area_persona(session, "xiqu_dispatcher", "330101")
    case = filed(api, ("330101", 2, 2), "event", "08005")
    r = client.post(f"/api/v1/cases/{case['id']}/actions/dispatch", json={}, headers=district.headers)
    assert r.status_code == 200, r.text
    assert r.json()["unit_id"] == city.unit("CITY-ZJ").id


# --- collectors by patrol area ------------------------------------------------------------------------------------

def test_verification_and_check_go_to_the_patrol_areas_collector(api: Api, session: Session, world: World,
                                                                 city: mapworld.MapWorld) -> None:
    area_service.set_patrol_area(session, code="P-330101001", name="甲区1街道责任网格",
                                 collector_id=world["collector_b"].id, grid_prefixes=["330101001"], now=EPOCH)
    session.commit()
    case = report_at(api, ("330101", 1, 2), "event", "06010")
    sent = api.act(case["id"], "request_verification", collector_id=None)
    assert sent["status"] == "verifying"
    assert sent["open_task"]["collector_id"] == world["collector_b"].id
    assert api.events(case["id"])[-1]["details"]["collector_id"] == world["collector_b"].id
    # The patrol area's collector may verify; the other collector may not.
    api.act(case["id"], "verify", who="collector", expect=403)
    api.act(case["id"], "verify", who="collector_b")
    api.act(case["id"], "file")
    api.act(case["id"], "dispatch", unit_id=world.unit_a, note="测试：交处置单位A")
    api.act(case["id"], "complete")
    # Named explicitly, the operator's choice wins over the patrol area.
    checking = api.act(case["id"], "request_check", collector_id=world["collector"].id)
    assert checking["open_task"]["collector_id"] == world["collector"].id
    api.act(case["id"], "check", who="collector", passed=False)
    recheck = api.act(case["id"], "complete")
    assert recheck["status"] == "handled"
    checking = api.act(case["id"], "request_check", collector_id=None)
    assert checking["open_task"]["collector_id"] == world["collector_b"].id
    assert api.act(case["id"], "check", who="collector_b")["status"] == "checked"


def test_without_a_patrol_area_the_operator_names_the_collector(api: Api, session: Session, world: World,
                                                                city: mapworld.MapWorld) -> None:
    area_service.set_patrol_area(session, code="P-330101001", name="甲区1街道责任网格",
                                 collector_id=world["collector_b"].id, grid_prefixes=["330101001"], now=EPOCH)
    session.commit()
    case = report_at(api, ("330102", 2, 1), "event", "06010")
    refused = api.act(case["id"], "request_verification", expect=422, collector_id=None)
    assert refused["field"] == "collector_id"
    assert case["grid_code"] in refused["message"]
    assert api.get(case["id"])["status"] == "reported"
    api.act(case["id"], "accept")
    api.act(case["id"], "file")
    api.act(case["id"], "dispatch", unit_id=world.unit_a, note="测试：交处置单位A")
    api.act(case["id"], "complete")
    assert api.act(case["id"], "request_check", expect=422, collector_id=None)["field"] == "collector_id"
    assert api.act(case["id"], "request_check", collector_id=world["collector"].id)["status"] == "checking"


def test_without_a_map_the_operator_names_the_collector(api: Api) -> None:
    case = api.report()
    refused = api.act(case["id"], "request_verification", expect=422, collector_id=None)
    assert refused["field"] == "collector_id"
    assert "no grid" in refused["message"]


def test_a_patrol_area_without_a_collector_does_not_choose_one(api: Api, session: Session, world: World,
                                                               city: mapworld.MapWorld) -> None:
    area_service.set_patrol_area(session, code="P-VACANT", name="空缺责任网格", collector_id=None,
                                 grid_prefixes=["330102001"], now=EPOCH)
    session.commit()
    case = report_at(api, ("330102", 1, 1), "event", "06010")
    assert api.act(case["id"], "request_verification", expect=422, collector_id=None)["field"] == "collector_id"


# --- where a case may be opened -----------------------------------------------------------------------------------

def test_a_case_outside_the_city_is_refused_and_not_stored(api: Api, session: Session,
                                                           city: mapworld.MapWorld) -> None:
    before = case_count(session)
    refused = api.report(expect=422, kind="event", category_code="06010", lon=120.16, lat=30.21)
    assert (refused["code"], refused["field"]) == ("outside_city", "lon")
    # The helper's default point, by the West Lake, is outside this tiny city too.
    assert api.report(expect=422)["code"] == "outside_city"
    assert case_count(session) == before


def test_an_unknown_part_code_is_refused(api: Api, session: Session, city: mapworld.MapWorld) -> None:
    before = case_count(session)
    lon, lat = mapworld.center("330101", 1, 1)
    refused = api.report(expect=422, lon=lon, lat=lat, part_code="33010101001000099")
    assert (refused["code"], refused["field"]) == ("validation_error", "part_code")
    assert "33010101001000099" in refused["message"]
    assert api.report(expect=422, lon=lon, lat=lat, part_code="0100100001")["field"] == "part_code"
    assert case_count(session) == before


def test_a_located_case_stores_its_codes_and_description(api: Api, city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330102", 2, 2)
    case = report_at(api, ("330102", 2, 2), "event", "06010")
    assert (case["district_code"], case["street_code"], case["community_code"]) == (
        "330102", "330102002", "330102002002")
    assert case["grid_code"].startswith("330102002002")
    assert len(case["grid_code"]) == 15
    assert case["location_desc"] == f"乙区 乙区2街道 乙区2街道2社区 网格{case['grid_code']}"
    assert (case["lon"], case["lat"]) == pytest.approx((lon, lat))
    [event] = api.events(case["id"])
    assert event["details"]["location"] == {"district": "330102", "street": "330102002",
                                            "community": "330102002002", "grid": case["grid_code"]}
    assert "reported_crs" not in event["details"]


def test_a_gcj02_report_is_stored_in_wgs84(api: Api, session: Session, city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330101", 2, 2)
    g_lon, g_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    case = api.report(kind="event", category_code="06010", description="测试", lon=g_lon, lat=g_lat, crs="gcj02")
    assert case["lon"] == pytest.approx(lon, abs=1e-8)
    assert case["lat"] == pytest.approx(lat, abs=1e-8)
    assert case["grid_code"] == area_index.locate(session, lon, lat).grid_code
    assert case["community_code"] == "330101002002"
    [event] = api.events(case["id"])
    assert event["details"]["reported_crs"] == {"crs": "gcj02", "lon": g_lon, "lat": g_lat}
    stored = session.scalar(sa.select(Case).where(Case.id == case["id"]))
    assert stored is not None
    assert (stored.lon, stored.lat) == pytest.approx((lon, lat), abs=1e-8)


def test_an_unknown_crs_is_refused(api: Api, city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330101", 2, 2)
    assert api.report(expect=422, lon=lon, lat=lat, crs="bd09")["field"] == "crs"
