"""The issue's "done when" end to end, on the tiny map of tests/mapworld.py: a report lands in its district,
street, community and grid, gets an explained unit suggestion, and reaches that unit's queue on dispatch; the case
list filters by territory at any level."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth.models import UnitMembership
from tests import mapworld
from tests.api.helpers import Api
from tests.conftest import World


def test_a_report_is_located_suggested_dispatched_and_queued(session: Session, api: Api, client: TestClient,
                                                            world: World) -> None:
    city = mapworld.build(session)
    street_office = city.unit("330102002-SD")
    # unit_a_staff joins the street office that the suggestion will name.
    session.add(UnitMembership(user_id=world["unit_a_staff"].id, unit_id=street_office.id))
    session.commit()  # the test's savepoint only
    lon, lat = mapworld.center("330102", 2, 1)
    case = api.report(kind="event", category_code="06001", description="道路不洁", lon=lon, lat=lat)

    assert (case["district_code"], case["street_code"], case["community_code"]) == (
        "330102", "330102002", "330102002001")
    assert case["grid_code"].startswith("330102002001")
    assert len(case["grid_code"]) == 15
    assert case["location_desc"] == f"乙区 乙区2街道 乙区2街道1社区 网格{case['grid_code']}"
    suggestion = case["routing"]["suggestion"]
    assert suggestion["unit"] == {"id": street_office.id, "code": "330102002-SD", "name": "乙区2街道办"}
    assert suggestion["basis"] == "territory"
    assert (suggestion["matched_level"], suggestion["matched_territory"]) == ("street", "330102002")
    assert "事件 → 街道办" in suggestion["explanation"]
    assert "乙区2街道办" in suggestion["explanation"]

    api.act(case["id"], "accept")
    api.act(case["id"], "file")
    dispatched = api.act(case["id"], "dispatch", unit_id=None)
    assert dispatched["unit_id"] == street_office.id
    queue = client.get("/api/v1/queue", headers=world["unit_a_staff"].headers).json()
    assert [c["id"] for c in queue["items"]] == [case["id"]]
    assert queue["items"][0]["grid_code"] == case["grid_code"]


def test_the_case_list_filters_by_territory_at_every_level(session: Session, api: Api, client: TestClient) -> None:
    mapworld.build(session)
    session.commit()
    ids = {}
    for district, street, community in (("330101", 1, 1), ("330101", 2, 2), ("330102", 1, 1)):
        lon, lat = mapworld.center(district, street, community)
        ids[(district, street, community)] = api.report(lon=lon, lat=lat)["id"]
    first = api.get(ids[("330101", 1, 1)])

    def listed(area: str) -> list[int]:
        r = client.get("/api/v1/cases", params={"area": area}, headers=api.world["operator"].headers)
        assert r.status_code == 200, r.text
        return sorted(c["id"] for c in r.json()["items"])

    assert listed("330101") == sorted([ids[("330101", 1, 1)], ids[("330101", 2, 2)]])
    assert listed("330101002") == [ids[("330101", 2, 2)]]
    assert listed("330102001001") == [ids[("330102", 1, 1)]]
    assert listed(first["grid_code"]) == [first["id"]]
    r = client.get("/api/v1/cases", params={"area": "3301"}, headers=api.world["operator"].headers)
    assert r.status_code == 422
    assert "area" in r.text
