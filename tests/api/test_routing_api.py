"""/api/v1/routing on the tiny city of tests/mapworld.py: rule and policy edits with their permissions and
validation, what-if suggestions, the suggestion a case shows, and the national precedence (domain.md §5.2) end to
end: 事件 先属地、后属主, 部件 先属主、后属地."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.parts.models import Part, PartStatus
from cityloop.routing.models import RoutingRule
from tests import mapworld
from tests.api.helpers import Api
from tests.conftest import World
from tests.factories import EPOCH

DL_CREDIT = "91330100DL0000001X"  # 市供电公司's 统一社会信用代码 in mapworld
WATER_CREDIT = "91330100SW0000002Y"  # a 水务集团 in the inventory that is no handling unit


@pytest.fixture
def city(session: Session, world: World) -> mapworld.MapWorld:
    built = mapworld.build(session)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return built


def rule_id(session: Session, name: str) -> int:
    found = session.scalar(sa.select(RoutingRule.id).where(RoutingRule.name == name))
    assert found is not None, name
    return found


def report_at(api: Api, where: tuple[str, int, int], kind: str, category_code: str, **fields: Any) -> dict[str, Any]:
    lon, lat = mapworld.center(*where)
    return api.report(kind=kind, category_code=category_code, lon=lon, lat=lat, description="测试", **fields)


def dispatch_event(api: Api, case_id: int) -> dict[str, Any]:
    [event] = [e for e in api.events(case_id) if e["action"] == "dispatch"]
    return event


def add_part(session: Session, seq: int, category_code: str, where: tuple[str, int, int], *,
             maintainer: tuple[str, str] = ("", ""), owner: tuple[str, str] = ("", ""),
             competent: tuple[str, str] = ("", "")) -> str:
    """A 部件 row in the inventory at the centre of a mapworld community; returns its 17-digit code."""
    lon, lat = mapworld.center(*where)
    located = area_index.locate(session, lon, lat)
    assert located.grid_code is not None
    assert located.street is not None
    assert located.community is not None
    code = f"{where[0]}{category_code}{seq:06d}"
    session.add(Part(
        code=code, category_code=category_code, name=f"测试部件{seq}", competent_code=competent[0],
        competent_name=competent[1], owner_code=owner[0], owner_name=owner[1], maintainer_code=maintainer[0],
        maintainer_name=maintainer[1], grid_code=located.grid_code, street_code=located.street.code,
        street_name=located.street.name, community_code=located.community.code,
        community_name=located.community.name, status=PartStatus.INTACT, surveyed_on=date(2026, 3, 1),
        data_source="tests", lon=lon, lat=lat, created_at=EPOCH))
    session.commit()
    return code


# --- rules: permissions and validation ----------------------------------------------------------------------------

RULE = {"name": "甲区园林设施 → 甲区市政", "kind": "part", "category_code": "04", "territory_code": "330101",
        "unit_code": "330101-SZ", "priority": 5}


def test_admin_creates_reads_and_updates_a_rule(client: TestClient, world: World,
                                                city: mapworld.MapWorld) -> None:
    admin = world["admin"].headers
    r = client.post("/api/v1/routing/rules", json=RULE, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in ("name", "kind", "category_code", "territory_code", "unit_code", "priority",
                                     "active", "synthetic", "target_level", "target_industry", "owner_code")} == {
        **RULE, "active": True, "synthetic": False, "target_level": None, "target_industry": None,
        "owner_code": None}
    assert created["unit_id"] == city.unit("330101-SZ").id

    r = client.get(f"/api/v1/routing/rules/{created['id']}", headers=world["dispatcher"].headers)
    assert r.status_code == 200, r.text
    assert r.json() == created

    relative = {"name": "甲区园林设施 → 街道办", "kind": "part", "category_code": "04", "territory_code": "330101",
                "target_level": "street", "target_industry": "属地", "active": False}
    r = client.put(f"/api/v1/routing/rules/{created['id']}", json=relative, headers=admin)
    assert r.status_code == 200, r.text
    updated = r.json()
    assert (updated["unit_id"], updated["unit_code"], updated["target_level"], updated["target_industry"],
            updated["priority"], updated["active"]) == (None, None, "street", "属地", 0, False)

    listed = client.get("/api/v1/routing/rules", headers=admin).json()
    assert created["id"] not in [r["id"] for r in listed]  # inactive rules are left out …
    assert len(listed) == 5
    everything = client.get("/api/v1/routing/rules", params={"include_inactive": True}, headers=admin).json()
    assert [r["id"] for r in everything][-1] == created["id"]  # … unless asked for
    assert len(everything) == 6


def test_mapworld_rules_are_listed_with_their_targets(client: TestClient, world: World,
                                                      city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/routing/rules", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    rows = {x["name"]: x for x in r.json()}
    assert (rows["施工管理 → 市住建"]["unit_code"], rows["施工管理 → 市住建"]["priority"]) == ("CITY-ZJ", 10)
    assert (rows["暴露垃圾 → 街道环卫所"]["target_level"], rows["暴露垃圾 → 街道环卫所"]["target_industry"],
            rows["暴露垃圾 → 街道环卫所"]["unit_id"]) == ("street", "环卫", None)


@pytest.mark.parametrize(("who", "method", "expect"), [
    ("dispatcher", "post", 403), ("dispatcher", "put", 403), ("shift_leader", "post", 403),
    ("citizen", "get", 403), ("citizen", "get_one", 403), ("unit_a_staff", "get", 200),
    ("collector", "get_one", 200), ("leader", "get", 200),
])
def test_who_may_read_and_edit_rules(client: TestClient, world: World, session: Session,
                                     city: mapworld.MapWorld, who: str, method: str, expect: int) -> None:
    existing = rule_id(session, "部件 → 区市政")
    headers = world[who].headers
    match method:
        case "post":
            r = client.post("/api/v1/routing/rules", json=RULE, headers=headers)
        case "put":
            r = client.put(f"/api/v1/routing/rules/{existing}", json=RULE, headers=headers)
        case "get":
            r = client.get("/api/v1/routing/rules", headers=headers)
        case _:
            r = client.get(f"/api/v1/routing/rules/{existing}", headers=headers)
    assert r.status_code == expect, r.text
    if expect == 403:
        assert r.json()["code"] == "forbidden"
    # A refused edit changed nothing.
    session.expire_all()
    assert session.get(RoutingRule, existing).name == "部件 → 区市政"  # type: ignore[union-attr]
    assert session.scalar(sa.select(sa.func.count()).select_from(RoutingRule)) == 5


def test_unknown_rule_is_404(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/routing/rules/999999", headers=world["admin"].headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = client.put("/api/v1/routing/rules/999999", json=RULE, headers=world["admin"].headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(("change", "field"), [
    ({"category_code": "401"}, "category_code"),
    ({"category_code": "0400a"}, "category_code"),
    ({"territory_code": "3301011"}, "territory_code"),
    ({"territory_code": "33010100"}, "territory_code"),
    ({"target_level": "street", "target_industry": "属地"}, "unit_code"),  # both a unit and a relative target
    ({"unit_code": None}, "unit_code"),  # neither
    ({"unit_code": "NO-SUCH-UNIT"}, "unit_code"),
    ({"unit_code": None, "target_level": "street"}, "target_industry"),
    ({"unit_code": None, "target_level": "province", "target_industry": "属地"}, "target_level"),
    ({"name": "  "}, "name"),
    ({"kind": "thing"}, "kind"),
    ({"priority": 5000}, "priority"),
    ({"owner_code": "9" * 19}, "owner_code"),
    ({"colour": "red"}, "colour"),
])
def test_rule_validation_names_the_field(client: TestClient, world: World, session: Session,
                                         city: mapworld.MapWorld, change: dict[str, Any], field: str) -> None:
    body = {**RULE, **change}
    r = client.post("/api/v1/routing/rules", json=body, headers=world["admin"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    existing = rule_id(session, "部件 → 区市政")
    r = client.put(f"/api/v1/routing/rules/{existing}", json=body, headers=world["admin"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(RoutingRule)) == 5
    assert session.get(RoutingRule, existing).name == "部件 → 区市政"  # type: ignore[union-attr]


# --- a rule edit and the cases around it --------------------------------------------------------------------------

def test_a_rule_edit_applies_to_later_cases_and_not_to_a_dispatched_one(api: Api, client: TestClient,
                                                                        session: Session,
                                                                        city: mapworld.MapWorld) -> None:
    before = report_at(api, ("330101", 1, 1), "event", "06010")
    for action in ("accept", "file"):
        api.act(before["id"], action)
    api.act(before["id"], "dispatch", unit_id=None)
    hw = city.unit("330101001-HW")
    assert api.get(before["id"])["unit_id"] == hw.id
    waiting = report_at(api, ("330101", 1, 1), "event", "06010")
    assert api.get(waiting["id"])["routing"]["suggestion"]["unit"]["code"] == "330101001-HW"

    edited = rule_id(session, "暴露垃圾 → 街道环卫所")
    r = client.put(f"/api/v1/routing/rules/{edited}", headers=api.world["admin"].headers, json={
        "name": "暴露垃圾 → 区市政", "kind": "event", "category_code": "06010", "territory_code": "330101",
        "unit_code": "330101-SZ"})
    assert r.status_code == 200, r.text

    # The case already dispatched stays with its unit, and its dispatch event keeps the routing of its day.
    assert api.get(before["id"])["unit_id"] == hw.id
    old = dispatch_event(api, before["id"])["details"]
    assert (old["routing"]["unit"]["code"], old["routing"]["rule_id"], old["routing"]["rule_name"]) == (
        "330101001-HW", edited, "暴露垃圾 → 街道环卫所")
    assert old["unit_code"] == "330101001-HW"

    # A case routed after the edit, opened before it or after, follows the new rule.
    after = report_at(api, ("330101", 2, 2), "event", "06010")
    sz = city.unit("330101-SZ")
    for case in (waiting, after):
        suggestion = api.get(case["id"])["routing"]["suggestion"]
        assert (suggestion["unit"]["code"], suggestion["rule_name"], suggestion["basis"],
                suggestion["matched_level"], suggestion["matched_territory"]) == (
            "330101-SZ", "暴露垃圾 → 区市政", "territory", "district", "330101")
        for action in ("accept", "file"):
            api.act(case["id"], action)
        assert api.act(case["id"], "dispatch", unit_id=None)["unit_id"] == sz.id
    # Outside the edited rule's territory the generic 事件 rule now applies.
    elsewhere = report_at(api, ("330102", 1, 1), "event", "06010")
    assert api.get(elsewhere["id"])["routing"]["suggestion"]["unit"]["code"] == "330102001-SD"


def test_a_deactivated_rule_no_longer_routes(api: Api, client: TestClient, session: Session,
                                             city: mapworld.MapWorld) -> None:
    rid = rule_id(session, "施工管理 → 市住建")
    r = client.put(f"/api/v1/routing/rules/{rid}", headers=api.world["admin"].headers, json={
        "name": "施工管理 → 市住建", "kind": "event", "category_code": "08", "unit_code": "CITY-ZJ",
        "priority": 10, "active": False})
    assert r.status_code == 200, r.text
    case = report_at(api, ("330102", 2, 2), "event", "08001")
    assert api.get(case["id"])["routing"]["suggestion"]["unit"]["code"] == "330102002-SD"


# --- dispatch policies --------------------------------------------------------------------------------------------

def test_policies_are_set_and_listed(api: Api, client: TestClient, city: mapworld.MapWorld) -> None:
    admin = api.world["admin"].headers
    r = client.put("/api/v1/routing/policies/event/08", json={"command_level": "city"}, headers=admin)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("kind", "category_code", "command_level", "auto_dispatch")} == {
        "kind": "event", "category_code": "08", "command_level": "city", "auto_dispatch": False}
    r = client.put("/api/v1/routing/policies/event/06010", json={"command_level": "district", "auto_dispatch": True},
                   headers=admin)
    assert r.status_code == 200, r.text
    # Setting it again replaces it rather than adding a second row.
    r = client.put("/api/v1/routing/policies/event/08", json={"command_level": "city", "auto_dispatch": True},
                   headers=admin)
    assert r.status_code == 200, r.text

    r = client.get("/api/v1/routing/policies", headers=api.world["dispatcher"].headers)
    assert r.status_code == 200, r.text
    assert [(p["kind"], p["category_code"], p["command_level"], p["auto_dispatch"]) for p in r.json()] == [
        ("event", "06010", "district", True), ("event", "08", "city", True)]

    # The case detail shows the class's own policy, else its major's, else the district default.
    routing = api.get(report_at(api, ("330101", 1, 1), "event", "08001")["id"])["routing"]
    assert (routing["command_level"], routing["auto_dispatch"], routing["policy_matched"]) == ("city", True, "08")
    routing = api.get(report_at(api, ("330101", 1, 1), "event", "06011")["id"])["routing"]
    assert (routing["command_level"], routing["auto_dispatch"], routing["policy_matched"]) == (
        "district", False, None)


@pytest.mark.parametrize(("who", "path", "body", "expect", "field"), [
    ("dispatcher", "event/08", {"command_level": "city"}, 403, None),
    ("citizen", "event/08", {"command_level": "city"}, 403, None),
    ("admin", "event/8", {"command_level": "city"}, 422, "category_code"),
    ("admin", "event/080", {"command_level": "city"}, 422, "category_code"),
    ("admin", "thing/08", {"command_level": "city"}, 422, "kind"),
    ("admin", "event/08", {"command_level": "province"}, 422, "command_level"),
    ("admin", "event/08", {}, 422, "command_level"),
])
def test_policy_edits_are_refused(client: TestClient, world: World, city: mapworld.MapWorld, who: str, path: str,
                                  body: dict[str, Any], expect: int, field: str | None) -> None:
    r = client.put(f"/api/v1/routing/policies/{path}", json=body, headers=world[who].headers)
    assert r.status_code == expect, r.text
    assert r.json().get("field") == field
    assert client.get("/api/v1/routing/policies", headers=world["admin"].headers).json() == []


def test_citizens_do_not_read_policies(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    assert client.get("/api/v1/routing/policies", headers=world["citizen"].headers).status_code == 403


# --- what-if suggestions ------------------------------------------------------------------------------------------

def suggest(client: TestClient, world: World, expect: int = 200, who: str = "dispatcher",
            **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/routing/suggest", json=body, headers=world[who].headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


def test_suggest_for_a_point(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330102", 1, 2)
    body = suggest(client, world, kind="event", category_code="06010", lon=lon, lat=lat)
    assert body["location"]["community"]["code"] == "330102001002"
    assert body["location"]["grid"]["code"].startswith("330102001002")
    unit = city.unit("330102001-HW")
    assert body["unit"] == {"id": unit.id, "code": "330102001-HW", "name": "乙区1街道环卫所"}
    assert body["rule_name"] == "暴露垃圾 → 街道环卫所"
    assert body["precedence"] == "事件：先属地、后属主"
    assert "暴露垃圾 → 街道环卫所" in body["explanation"]
    assert "乙区1街道环卫所" in body["explanation"]


def test_suggest_refuses_a_point_outside_and_citizens(client: TestClient, world: World,
                                                     city: mapworld.MapWorld) -> None:
    body = suggest(client, world, 422, kind="event", category_code="06010", lon=120.30, lat=30.21)
    assert (body["code"], body["field"]) == ("outside_city", "lon")
    body = suggest(client, world, 422, kind="event", category_code="601", lon=120.11, lat=30.21)
    assert body["field"] == "category_code"
    lon, lat = mapworld.center("330101", 1, 1)
    suggest(client, world, 403, who="citizen", kind="event", category_code="06010", lon=lon, lat=lat)


def test_suggest_with_a_part_follows_its_owner(client: TestClient, world: World, session: Session,
                                               city: mapworld.MapWorld) -> None:
    code = add_part(session, 1, "01028", ("330101", 2, 1), maintainer=(DL_CREDIT, "市供电公司"))
    lon, lat = mapworld.center("330101", 2, 1)
    body = suggest(client, world, kind="part", category_code="01028", lon=lon, lat=lat, part_code=code)
    assert (body["unit"]["code"], body["basis"], body["rule_id"]) == ("CITY-DL", "owner", None)
    without = suggest(client, world, kind="part", category_code="01028", lon=lon, lat=lat)
    assert without["unit"]["code"] == "330101-SZ"
    # A part the inventory does not hold is refused, as opening a case with it would be.
    unknown = suggest(client, world, 422, kind="part", category_code="01028", lon=lon, lat=lat,
                      part_code="33010101028999999")
    assert unknown["field"] == "part_code"


# --- the suggestion a case shows, and the precedence end to end ------------------------------------------------

def test_case_detail_explains_its_suggestion(api: Api, session: Session, city: mapworld.MapWorld) -> None:
    case = report_at(api, ("330101", 2, 2), "event", "06010")
    routing = api.get(case["id"])["routing"]
    suggestion = routing["suggestion"]
    unit = city.unit("330101002-HW")
    rid = rule_id(session, "暴露垃圾 → 街道环卫所")
    assert suggestion["unit"] == {"id": unit.id, "code": "330101002-HW", "name": "甲区2街道环卫所"}
    # A city-wide rule with a relative target is territorial: the case's street picks the unit.
    assert (suggestion["basis"], suggestion["rule_id"], suggestion["rule_name"], suggestion["matched_level"],
            suggestion["matched_territory"]) == ("territory", rid, "暴露垃圾 → 街道环卫所", "street", "330101002")
    assert f"#{rid}" in suggestion["explanation"]
    assert "暴露垃圾 → 街道环卫所" in suggestion["explanation"]
    assert "甲区2街道环卫所" in suggestion["explanation"]
    assert (routing["command_level"], routing["auto_dispatch"], routing["policy_matched"]) == (
        "district", False, None)
    # Once the case is closed for good there is nothing left to route.
    api.act(case["id"], "reject")
    assert api.get(case["id"])["routing"] is None


def test_no_matching_rule_says_so(api: Api, session: Session, world: World) -> None:
    mapworld.build(session, rules=False)
    session.commit()
    case = report_at(api, ("330101", 1, 1), "event", "06010")
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"], suggestion["basis"], suggestion["rule_id"]) == (None, None, None)
    assert "没有规则匹配类别 06010" in suggestion["explanation"]
    assert "手动选择" in suggestion["explanation"]


PRECEDENCE = [
    # 事件 06010: the exact class beats the generic 事件 rule; the street's 环卫所 of wherever the case is.
    ("event", "06010", ("330102", 2, 1), "330102002-HW", "暴露垃圾 → 街道环卫所", "territory"),
    # Another 06 event has no rule of its own: the generic 事件 rule, the street office.
    ("event", "06011", ("330102", 2, 1), "330102002-SD", "事件 → 街道办", "territory"),
    # 08 施工管理: priority 10 sends it to the city 住建 (its competent authority) whatever the street.
    ("event", "08001", ("330101", 1, 2), "CITY-ZJ", "施工管理 → 市住建", "authority"),
    # 部件 04 园林: the major's rule beats the generic 部件 rule.
    ("part", "04002", ("330101", 2, 2), "330101-YL", "园林设施 → 区园林", "territory"),
    ("part", "01001", ("330102", 1, 1), "330102-SZ", "部件 → 区市政", "territory"),
]


@pytest.mark.parametrize(("kind", "code", "where", "unit_code", "rule_name", "basis"), PRECEDENCE,
                         ids=[f"{p[0]}-{p[1]}" for p in PRECEDENCE])
def test_precedence_end_to_end(api: Api, city: mapworld.MapWorld, kind: str, code: str,
                               where: tuple[str, int, int], unit_code: str, rule_name: str, basis: str) -> None:
    case = report_at(api, where, kind, code)
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"]["code"], suggestion["rule_name"], suggestion["basis"]) == (unit_code, rule_name, basis)
    assert suggestion["precedence"] == ("部件：先属主、后属地" if kind == "part" else "事件：先属地、后属主")
    for action in ("accept", "file"):
        api.act(case["id"], action)
    dispatched = api.act(case["id"], "dispatch", unit_id=None)
    assert dispatched["unit_id"] == city.unit(unit_code).id


def test_a_part_whose_maintainer_is_a_unit_goes_to_it_first(api: Api, session: Session,
                                                            city: mapworld.MapWorld) -> None:
    # 先属主: a 行道树 would go to the district 园林 by territory, but its 养护单位 is a handling unit.
    code = add_part(session, 7, "04002", ("330101", 1, 2), maintainer=(DL_CREDIT, "市供电公司"),
                    competent=("11330100002494888X", "杭州市园林文物局"))
    case = report_at(api, ("330101", 1, 2), "part", "04002", part_code=code)
    assert case["part_code"] == code
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"]["code"], suggestion["basis"], suggestion["rule_id"]) == ("CITY-DL", "owner", None)
    assert suggestion["owner"] == {"role": "养护单位", "code": DL_CREDIT, "name": "市供电公司", "part_code": code}
    assert code in suggestion["explanation"]
    assert "养护单位" in suggestion["explanation"]
    for action in ("accept", "file"):
        api.act(case["id"], action)
    assert api.act(case["id"], "dispatch", unit_id=None)["unit_id"] == city.unit("CITY-DL").id
    details = dispatch_event(api, case["id"])["details"]
    assert (details["routing"]["basis"], details["followed_suggestion"]) == ("owner", True)


def test_an_owner_rule_routes_a_part_whose_owner_is_no_unit(api: Api, client: TestClient, session: Session,
                                                            city: mapworld.MapWorld) -> None:
    r = client.post("/api/v1/routing/rules", headers=api.world["admin"].headers, json={
        "name": "水务集团的井盖 → 乙区市政", "kind": "part", "owner_code": WATER_CREDIT, "unit_code": "330102-SZ"})
    assert r.status_code == 201, r.text
    code = add_part(session, 8, "01001", ("330101", 1, 1), owner=(WATER_CREDIT, "市水务集团"))
    case = report_at(api, ("330101", 1, 1), "part", "01001", part_code=code)
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"]["code"], suggestion["basis"], suggestion["rule_id"]) == (
        "330102-SZ", "owner", r.json()["id"])
    assert suggestion["owner"]["role"] == "权属单位"


def test_a_part_of_unknown_ownership_falls_back_to_the_territory(api: Api, session: Session,
                                                                 city: mapworld.MapWorld) -> None:
    # 不明部件: no owner code at all, so 后属地.
    code = add_part(session, 9, "01023", ("330102", 2, 2))
    case = report_at(api, ("330102", 2, 2), "part", "01023", part_code=code)
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"]["code"], suggestion["basis"], suggestion["rule_name"], suggestion["owner"],
            suggestion["matched_territory"]) == ("330102-SZ", "territory", "部件 → 区市政", None, "330102")
    assert f"部件 {code} 权属不明" in suggestion["explanation"]


def test_a_part_whose_owners_are_no_units_falls_back_to_the_territory(api: Api, session: Session,
                                                                      city: mapworld.MapWorld) -> None:
    code = add_part(session, 10, "04002", ("330101", 2, 1), maintainer=(WATER_CREDIT, "市水务集团"))
    case = report_at(api, ("330101", 2, 1), "part", "04002", part_code=code)
    suggestion = api.get(case["id"])["routing"]["suggestion"]
    assert (suggestion["unit"]["code"], suggestion["rule_name"]) == ("330101-YL", "园林设施 → 区园林")
    assert "属主均无可用处置单位" in suggestion["explanation"]
    assert [c["rule_id"] for c in suggestion["considered"]] == [None]
    assert WATER_CREDIT in suggestion["considered"][0]["reason"]
