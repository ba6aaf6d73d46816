"""/api/v1/geo on the tiny city of tests/mapworld.py: locating points (WGS-84 and GCJ-02), the territory tree, unit
grids with their patrol areas, and what happens before any map is loaded."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
import shapely.geometry
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.areas import service as area_service
from cityloop.areas.models import Grid, Territory, TerritoryLevel
from cityloop.core.crs import wgs84_to_gcj02
from tests import mapworld
from tests.api.helpers import Api
from tests.conftest import World
from tests.factories import EPOCH

COMMUNITIES = [(d, s, c) for d in mapworld.DISTRICTS for s in (1, 2) for c in (1, 2)]


@pytest.fixture
def city(session: Session, world: World) -> mapworld.MapWorld:
    built = mapworld.build(session)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return built


def locate(client: TestClient, world: World, lon: float, lat: float, expect: int = 200,
           **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/geo/locate", params={"lon": lon, "lat": lat, **params},
                   headers=world["collector"].headers)
    assert r.status_code == expect, r.text
    body: dict[str, Any] = r.json()
    return body


def grids_in(session: Session, community_code: str) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Grid).join(
        Territory, Territory.id == Grid.community_id).where(Territory.code == community_code)) or 0)


# --- locate -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("district", "street", "community"), COMMUNITIES,
                         ids=[f"{d}-{s}-{c}" for d, s, c in COMMUNITIES])
def test_locate_names_every_level_inside_each_community(client: TestClient, world: World,
                                                        city: mapworld.MapWorld, district: str, street: int,
                                                        community: int) -> None:
    lon, lat = mapworld.center(district, street, community)
    body = locate(client, world, lon, lat)
    street_code = f"{district}{street:03d}"
    community_code = f"{street_code}{community:03d}"
    name = mapworld.DISTRICTS[district][0]
    assert body["district"] == {"code": district, "name": name, "synthetic": False}
    assert body["street"] == {"code": street_code, "name": f"{name}{street}街道", "synthetic": False}
    assert body["community"] == {"code": community_code, "name": f"{name}{street}街道{community}社区",
                                 "synthetic": False}
    grid = body["grid"]["code"]
    assert len(grid) == 15
    assert grid.isdigit()
    assert grid.startswith(community_code)
    assert (body["lon"], body["lat"]) == pytest.approx((lon, lat))
    assert body["description"] == f"{name} {name}{street}街道 {name}{street}街道{community}社区 网格{grid}"


def test_neighbouring_points_fall_in_different_grids_of_one_community(client: TestClient, world: World,
                                                                      city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330101", 1, 1)
    here = locate(client, world, lon, lat)["grid"]["code"]
    east = locate(client, world, lon + 0.0015, lat)["grid"]["code"]  # ~145 m east: the next grid but one
    assert here != east
    assert here[:12] == east[:12] == "330101001001"


def test_gcj02_input_is_converted_before_locating(client: TestClient, world: World,
                                                  city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330101", 1, 2)
    wgs = locate(client, world, lon, lat)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    # The GCJ-02 offset here is several hundred metres: read as WGS-84 the same numbers land elsewhere.
    assert locate(client, world, float(g_lon), float(g_lat))["grid"] != wgs["grid"]
    gcj = locate(client, world, float(g_lon), float(g_lat), crs="gcj02")
    assert gcj["grid"] == wgs["grid"]
    assert gcj["community"]["code"] == "330101001002"
    assert (gcj["lon"], gcj["lat"]) == pytest.approx((lon, lat), abs=1e-8)  # answered in WGS-84


def test_a_point_outside_every_district_is_refused_naming_the_field(client: TestClient, world: World,
                                                                    city: mapworld.MapWorld) -> None:
    body = locate(client, world, 120.20, 30.21, expect=422)
    assert body["code"] == "outside_city"
    assert body["field"] == "lon"
    assert "outside the city" in body["message"]


@pytest.mark.parametrize(("params", "field"), [
    ({"lon": 181, "lat": 30.21}, "lon"),
    ({"lon": 120.11, "lat": -91}, "lat"),
    ({"lon": "east", "lat": 30.21}, "lon"),
    ({"lon": 120.11, "lat": 30.21, "crs": "bd09"}, "crs"),
])
def test_coordinates_out_of_range_are_refused(client: TestClient, world: World, city: mapworld.MapWorld,
                                              params: dict[str, Any], field: str) -> None:
    r = client.get("/api/v1/geo/locate", params=params, headers=world["collector"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert r.json()["field"] == field


@pytest.mark.parametrize("path", ["/api/v1/geo/locate?lon=120.11&lat=30.21", "/api/v1/geo/territories",
                                  "/api/v1/geo/territories/330101", "/api/v1/geo/grids/330101001001001"])
def test_the_map_needs_a_signed_in_user(client: TestClient, world: World, city: mapworld.MapWorld,
                                        path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "not_authenticated"


def test_a_citizen_may_read_the_map(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/geo/locate", params=dict(zip(("lon", "lat"), mapworld.center("330101", 2, 2),
                                                           strict=True)),
                   headers=world["citizen"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["community"]["code"] == "330101002002"


# --- the territory tree -------------------------------------------------------------------------------------------

def territories(client: TestClient, world: World, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/geo/territories", params=params, headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()
    return body


def test_territories_by_level(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    [town] = territories(client, world, level="city")
    assert (town["code"], town["parent_code"], town["children"], town["grids"]) == ("330100", None, 2, 0)

    districts = territories(client, world, level="district")
    assert [(d["code"], d["name"], d["level"], d["parent_code"], d["children"], d["grids"]) for d in districts] == [
        ("330101", "甲区", "district", "330100", 2, 0), ("330102", "乙区", "district", "330100", 2, 0)]
    # 0.02° × 0.02° at 30.21° N
    assert districts[0]["area_km2"] == pytest.approx(4.283, rel=2e-3)

    streets = territories(client, world, level="street")
    assert [s["code"] for s in streets] == ["330101001", "330101002", "330102001", "330102002"]
    assert {s["children"] for s in streets} == {2}

    communities = territories(client, world, level="community")
    assert len(communities) == 8
    assert all(c["children"] == 0 for c in communities)


def test_territories_of_one_parent_count_their_grids(client: TestClient, world: World, session: Session,
                                                     city: mapworld.MapWorld) -> None:
    streets = territories(client, world, parent="330102")
    assert [(s["code"], s["level"], s["parent_code"]) for s in streets] == [
        ("330102001", "street", "330102"), ("330102002", "street", "330102")]

    communities = territories(client, world, parent="330102002")
    assert [c["code"] for c in communities] == ["330102002001", "330102002002"]
    for c in communities:
        assert c["grids"] == grids_in(session, c["code"])
        # About a hundred 100 m grids in a 960 m × 1,110 m community.
        assert 80 <= c["grids"] <= 130
    assert territories(client, world, level="community", parent="330101001") == territories(
        client, world, parent="330101001")
    assert territories(client, world, parent="330101001001") == []


def test_a_parent_that_is_not_a_code_is_refused(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/geo/territories", params={"parent": "甲区"}, headers=world["operator"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "parent"
    r = client.get("/api/v1/geo/territories", params={"level": "province"}, headers=world["operator"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "level"


def test_territory_detail(client: TestClient, world: World, session: Session, city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/geo/territories/330101002", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"code": "330101002", "name": "甲区2街道", "level": "street", "parent_code": "330101",
                        "synthetic": False, "area_km2": pytest.approx(2.1415, rel=2e-3), "children": 2,
                        "grids": 0}

    r = client.get("/api/v1/geo/territories/330101002001", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["level"], body["parent_code"], body["children"]) == ("community", "330101002", 0)
    assert body["grids"] == grids_in(session, "330101002001") > 0

    r = client.get("/api/v1/geo/territories/330109", headers=world["operator"].headers)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"


# --- unit grids ---------------------------------------------------------------------------------------------------

def test_grid_detail_has_its_boundary_and_community(client: TestClient, world: World,
                                                    city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330101", 2, 1)
    code = locate(client, world, lon, lat)["grid"]["code"]
    r = client.get(f"/api/v1/geo/grids/{code}", headers=world["collector"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == code
    assert body["community"] == {"code": "330101002001", "name": "甲区2街道1社区", "synthetic": False}
    assert body["patrol_area"] is None
    assert body["geometry"]["type"] == "Polygon"
    shape = shapely.geometry.shape(body["geometry"])
    assert shape.contains(shapely.Point(lon, lat))
    assert shape.contains(shapely.Point(body["center_lon"], body["center_lat"]))
    minx, miny, maxx, maxy = mapworld.community_box("330101", 2, 1)
    assert shapely.box(minx, miny, maxx, maxy).buffer(1e-9).contains(shape)
    assert 9_000 <= body["area_m2"] <= 10_500  # a whole 100 m cell in the middle of the community


def test_grid_detail_shows_its_patrol_area(client: TestClient, world: World, session: Session,
                                           city: mapworld.MapWorld) -> None:
    lon, lat = mapworld.center("330102", 1, 2)
    code = locate(client, world, lon, lat)["grid"]["code"]
    area, count = area_service.set_patrol_area(session, code="P-330102001002", name="乙区1街道2社区责任网格",
                                               collector_id=world["collector_b"].id,
                                               grid_prefixes=["330102001002"], now=EPOCH)
    session.commit()
    assert count == grids_in(session, "330102001002")
    r = client.get(f"/api/v1/geo/grids/{code}", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["patrol_area"] == {"code": "P-330102001002", "name": "乙区1街道2社区责任网格",
                                       "collector_id": world["collector_b"].id, "synthetic": False}
    # A grid of the neighbouring community is in no patrol area.
    other = locate(client, world, *mapworld.center("330102", 1, 1))["grid"]["code"]
    r = client.get(f"/api/v1/geo/grids/{other}", headers=world["operator"].headers)
    assert r.json()["patrol_area"] is None
    assert area.collector_id == world["collector_b"].id


def test_an_unknown_grid_is_not_found(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    r = client.get("/api/v1/geo/grids/330101001001999", headers=world["operator"].headers)
    assert r.status_code == 404, r.text
    assert (r.json()["code"], r.json()["field"]) == ("not_found", "code")


# --- before any map is loaded -------------------------------------------------------------------------------------

def test_without_a_map_cases_open_unlocated(api: Api, world: World) -> None:
    case = api.report()
    assert case["status"] == "reported"
    assert [case[k] for k in ("district_code", "street_code", "community_code", "grid_code")] == [None] * 4
    assert case["location_desc"] == ""
    [event] = api.events(case["id"])
    assert "location" not in event["details"]


def test_without_a_map_locate_answers_no_map(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/geo/locate", params={"lon": 120.11, "lat": 30.21}, headers=world["collector"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "no_map"
    assert r.json()["field"] == "lon"
    assert territories(client, world) == []


def test_a_map_loaded_later_locates_the_next_case(api: Api, world: World, session: Session) -> None:
    before = api.report(lon=mapworld.center("330101", 1, 1)[0], lat=mapworld.center("330101", 1, 1)[1])
    assert before["grid_code"] is None
    mapworld.build(session)
    session.commit()
    lon, lat = mapworld.center("330101", 1, 1)
    after = api.report(lon=lon, lat=lat)
    assert after["community_code"] == "330101001001"
    assert after["location_desc"].startswith("甲区 甲区1街道 甲区1街道1社区 网格330101001001")
    assert api.get(before["id"])["grid_code"] is None  # located cases keep what they had; old ones stay as they were


# --- known bugs ---------------------------------------------------------------------------------------------------

def patrol_of(client: TestClient, world: World, grid_code: str) -> str | None:
    r = client.get(f"/api/v1/geo/grids/{grid_code}", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    patrol = r.json()["patrol_area"]
    return None if patrol is None else str(patrol["code"])


def test_replacing_a_patrol_area_releases_the_grids_it_no_longer_names(client: TestClient, world: World,
                                                                       session: Session,
                                                                       city: mapworld.MapWorld) -> None:
    old = locate(client, world, *mapworld.center("330101", 1, 1))["grid"]["code"]
    new = locate(client, world, *mapworld.center("330102", 2, 2))["grid"]["code"]
    area_service.set_patrol_area(session, code="P1", name="责任网格1", collector_id=world["collector"].id,
                                 grid_prefixes=["330101001"], now=EPOCH)
    area_service.set_patrol_area(session, code="P1", name="责任网格1", collector_id=world["collector"].id,
                                 grid_prefixes=["330102002"], now=EPOCH)
    session.commit()
    assert patrol_of(client, world, new) == "P1"
    assert patrol_of(client, world, old) is None
    assert area_service.collector_for_grid(session, old) is None


def test_regenerating_grids_keeps_them_in_their_patrol_area(client: TestClient, world: World, session: Session,
                                                            city: mapworld.MapWorld) -> None:
    grid = locate(client, world, *mapworld.center("330101", 2, 1))["grid"]["code"]
    area_service.set_patrol_area(session, code="P-330101002", name="甲区2街道责任网格",
                                 collector_id=world["collector_b"].id, grid_prefixes=["330101002"], now=EPOCH)
    # The same communities at the same size: the same lattice, the same grid codes.
    area_service.generate_grids(session, ["330101002"], size_m=100.0, now=EPOCH)
    session.commit()
    assert locate(client, world, *mapworld.center("330101", 2, 1))["grid"]["code"] == grid
    assert area_service.collector_for_grid(session, grid) == world["collector_b"].id
    assert patrol_of(client, world, grid) == "P-330101002"


def test_districts_imported_again_after_the_city_join_it(client: TestClient, world: World,
                                                         session: Session) -> None:
    district = area_service.TerritoryInput("330101", "甲区", TerritoryLevel.DISTRICT,
                                           shapely.box(120.10, 30.20, 120.12, 30.22))
    area_service.upsert_territories(session, [district], now=EPOCH, source="districts")
    area_service.upsert_territories(session, [area_service.TerritoryInput(
        "330100", "测试市", TerritoryLevel.CITY, shapely.box(120.10, 30.20, 120.14, 30.22))], now=EPOCH, source="city")
    assert area_service.upsert_territories(session, [district], now=EPOCH, source="districts") == (0, 1)
    session.commit()
    [town] = territories(client, world, level="city")
    assert town["children"] == 1
    assert [d["code"] for d in territories(client, world, parent="330100")] == ["330101"]
