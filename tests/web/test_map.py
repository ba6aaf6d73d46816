"""The live map (/map) and its GeoJSON, on the tiny city of tests/mapworld.py: who may read it, what each case
looks like on it (colour by deadline light, popup), the GCJ-02 datum, bbox checks, boundaries, grids and the
case page's mini-map."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth.permissions import Role
from cityloop.core.clock import FakeClock
from cityloop.core.crs import wgs84_to_gcj02
from cityloop.deadlines.models import Deadline, DeadlineState
from cityloop.web import mapdata
from tests import factories, mapworld
from tests.api.helpers import Api
from tests.conftest import Persona, World
from tests.web.helpers import Web, text_of

A1 = ("330101", 1, 1)  # district A, street 1, community 1
B1 = ("330102", 1, 1)  # district B


@pytest.fixture
def city(session: Session, world: World) -> mapworld.MapWorld:
    built = mapworld.build(session)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return built


@pytest.fixture
def api(client: TestClient, world: World) -> Api:
    return Api(client, world)


def report(api: Api, where: tuple[str, int, int], *, dx: float = 0.0, **fields: Any) -> dict[str, Any]:
    lon, lat = mapworld.center(*where)
    body = {"kind": "event", "category_code": "06001", "description": "道路不洁", **fields}
    return api.report(lon=lon + dx, lat=lat, **body)


def get_json(client: TestClient, persona: Persona | None, url: str, expect: int = 200) -> Any:
    r = Web(client, persona).get(url)
    assert r.status_code == expect, r.text
    assert r.headers["content-type"].startswith(("application/json", "application/geo+json")), r.headers
    return r.json()


def features(client: TestClient, persona: Persona, url: str) -> dict[int, dict[str, Any]]:
    body = get_json(client, persona, url)
    assert body["type"] == "FeatureCollection"
    return {f["properties"]["id"]: f for f in body["features"]}


def metres(a: list[float], b: list[float]) -> float:
    x = math.radians(b[0] - a[0]) * math.cos(math.radians(a[1]))
    return math.hypot(x, math.radians(b[1] - a[1])) * 6_371_000


def to_closed(api: Api, case_id: int) -> None:
    for action in ("accept", "file"):
        api.act(case_id, action)
    api.act(case_id, "dispatch", note="测试：派往单位A")
    for action in ("complete", "request_check", "check", "close"):
        api.act(case_id, action)


# --- the page -------------------------------------------------------------------------------------------------

def test_the_page_renders_for_staff_with_the_map_and_its_config(client: TestClient, world: World) -> None:
    r = Web(client, world["dispatcher"]).get("/map?status=overdue&urgent=1&kind=part")
    assert r.status_code == 200
    html = r.text
    assert 'id="live-map"' in html
    assert "data-live-map=" in html
    assert 'class="map big' in html
    assert "/map/cases.geojson" in html
    assert "/map/grids.geojson" in html
    assert "/map.js" in html
    assert 'id="map-config"' in html  # the tiles (or none) app.js reads
    text = text_of(html)
    assert "实时地图" in text
    assert "已超时或紧急" in text
    assert "单元网格" in text
    # The filters show what was asked for.
    assert '<option value="overdue" selected>' in html
    assert '<option value="part" selected>' in html
    assert 'name="urgent" value="1" checked' in html


def test_unknown_filters_fall_back_to_the_default_view(client: TestClient, world: World) -> None:
    r = Web(client, world["operator"]).get("/map?status=bogus&kind=x")
    assert r.status_code == 200
    assert '<option value="open" selected>' in r.text


def test_signed_out_goes_to_login_and_a_citizen_is_refused(client: TestClient, world: World) -> None:
    r = Web(client).get("/map")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/map")
    r = Web(client, world["citizen"]).get("/map")
    assert r.status_code == 403
    assert "没有权限" in text_of(r.text)


# --- case points ----------------------------------------------------------------------------------------------

def test_cases_are_points_with_status_popup_and_colour(client: TestClient, world: World, api: Api,
                                                      city: mapworld.MapWorld) -> None:
    case = report(api, A1, address="<script>alert(1)</script>湖滨路")
    urgent = report(api, B1, urgent=True)
    found = features(client, world["operator"], "/map/cases.geojson")
    assert set(found) == {case["id"], urgent["id"]}
    f = found[case["id"]]
    assert f["geometry"] == {"type": "Point", "coordinates": [case["lon"], case["lat"]]}
    p = f["properties"]
    assert (p["number"], p["status"], p["status_label"], p["urgent"], p["supervised"]) == (
        case["number"], "reported", "待受理", False, False)
    assert p["color"] == "blue"
    assert f'href="/cases/{case["id"]}"' in p["popup"]
    assert case["number"] in p["popup"]
    assert "待受理" in p["popup"]
    assert "<script>" not in p["popup"]
    assert "&lt;script&gt;" in p["popup"]
    assert found[urgent["id"]]["properties"]["color"] == "red"  # urgent
    assert found[urgent["id"]]["properties"]["urgent"] is True


def test_gcj02_moves_points_by_the_published_offset(client: TestClient, world: World, api: Api,
                                                    city: mapworld.MapWorld) -> None:
    case = report(api, A1)
    wgs = features(client, world["operator"], "/map/cases.geojson")[case["id"]]["geometry"]["coordinates"]
    gcj = features(client, world["operator"], "/map/cases.geojson?crs=gcj02")[case["id"]]["geometry"]["coordinates"]
    lon, lat = wgs84_to_gcj02([case["lon"]], [case["lat"]])
    assert gcj == pytest.approx([float(lon[0]), float(lat[0])], abs=1e-9)
    assert 200 < metres(wgs, gcj) < 1000  # Hangzhou: about 500 m


def test_deadline_lights_colour_cases_in_one_query(client: TestClient, world: World, api: Api, session: Session,
                                                   clock: FakeClock, city: mapworld.MapWorld) -> None:
    late = report(api, A1)
    warned = report(api, A1, dx=0.001)
    calm = report(api, A1, dx=0.002)
    now = clock.now()
    # Move the running clocks by hand: one past due, one past its warning time only.
    session.execute(sa.update(Deadline).where(Deadline.case_id == late["id"], Deadline.state == DeadlineState.PENDING)
                    .values(due_at=now - timedelta(minutes=5), warn_at=now - timedelta(minutes=30)))
    session.execute(sa.update(Deadline).where(Deadline.case_id == warned["id"],
                                              Deadline.state == DeadlineState.PENDING)
                    .values(due_at=now + timedelta(hours=1), warn_at=now - timedelta(minutes=1)))
    session.commit()
    found = features(client, world["operator"], "/map/cases.geojson")
    assert {i: (found[i]["properties"]["color"], found[i]["properties"]["light"])
            for i in (late["id"], warned["id"], calm["id"])} == {
        late["id"]: ("red", "red"), warned["id"]: ("yellow", "yellow"), calm["id"]: ("blue", None)}
    assert set(features(client, world["operator"], "/map/cases.geojson?status=overdue")) == {late["id"]}


def test_filters_by_status_group_urgency_kind_and_bbox(client: TestClient, world: World, api: Api,
                                                       clock: FakeClock, city: mapworld.MapWorld) -> None:
    closed = report(api, A1)
    to_closed(api, closed["id"])
    event = report(api, A1, dx=0.001)
    part = report(api, B1, kind="part", category_code="01001", description="井盖缺失", urgent=True)
    op = world["operator"]
    assert set(features(client, op, "/map/cases.geojson")) == {event["id"], part["id"]}
    closed_view = features(client, op, "/map/cases.geojson?status=closed")
    assert set(closed_view) == {closed["id"]}
    assert closed_view[closed["id"]]["properties"]["color"] == "grey"
    assert set(features(client, op, "/map/cases.geojson?status=all")) == {closed["id"], event["id"], part["id"]}
    assert set(features(client, op, "/map/cases.geojson?urgent=1")) == {part["id"]}
    assert set(features(client, op, "/map/cases.geojson?kind=event")) == {event["id"]}
    # District A only.
    assert set(features(client, op, "/map/cases.geojson?bbox=120.10,30.20,120.12,30.22")) == {event["id"]}
    # Closed long ago is off the map.
    clock.advance(timedelta(days=mapdata.CLOSED_RECENT.days + 1))
    assert set(features(client, op, "/map/cases.geojson?status=closed")) == set()


def test_the_cap_keeps_the_newest_and_says_so(session: Session, world: World, api: Api, clock: FakeClock,
                                              city: mapworld.MapWorld) -> None:
    ids = [report(api, A1, dx=0.0005 * i)["id"] for i in range(3)]
    body = mapdata.cases_collection(session, world["operator"].principal(), mapdata.CaseQuery(), clock.now(),
                                    "wgs84", cap=2)
    assert body["capped"] is True
    assert [f["properties"]["id"] for f in body["features"]] == sorted(ids, reverse=True)[:2]


def test_each_principal_sees_only_its_cases(client: TestClient, session: Session, world: World, api: Api,
                                            city: mapworld.MapWorld) -> None:
    in_a = report(api, A1)
    in_b = report(api, B1)
    for action in ("accept", "file"):
        api.act(in_a["id"], action)
    api.act(in_a["id"], "dispatch", note="测试：派往单位A")
    assert set(features(client, world["unit_a_staff"], "/map/cases.geojson")) == {in_a["id"]}
    assert set(features(client, world["unit_b_staff"], "/map/cases.geojson")) == set()
    assert get_json(client, world["unit_b_staff"], "/map/heat.json") == []
    # A district command centre sees its district only.
    user = factories.make_user(session, "district_a", [Role.DISPATCHER])
    user.area_code = "330101"
    session.flush()
    district = Persona(user, factories.token_for(session, user))
    session.commit()
    assert set(features(client, district, "/map/cases.geojson")) == {in_a["id"]}
    assert set(features(client, world["dispatcher"], "/map/cases.geojson")) == {in_a["id"], in_b["id"]}
    # A citizen may not read the map at all; nobody signed in is told to sign in (in JSON, for the script).
    assert get_json(client, world["citizen"], "/map/cases.geojson", expect=403)["code"] == "forbidden"
    assert get_json(client, None, "/map/cases.geojson", expect=401)["code"] == "not_authenticated"
    mini = get_json(client, world["citizen"], f"/map/case/{in_a['id']}.geojson", expect=403)
    assert mini["code"] == "forbidden"


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "120.2,30.2,120.1,30.3", "120,30,200,31", "nan,1,2,3"])
def test_a_malformed_bbox_is_422_naming_bbox(client: TestClient, world: World, bbox: str) -> None:
    for url in ("/map/cases.geojson", "/map/grids.geojson"):
        body = get_json(client, world["operator"], f"{url}?bbox={bbox}", expect=422)
        assert body["field"] == "bbox", body


def test_grids_need_a_small_bbox(client: TestClient, world: World) -> None:
    body = get_json(client, world["operator"], "/map/grids.geojson?bbox=120.0,30.0,120.5,30.1", expect=422)
    assert body["field"] == "bbox"
    assert "zoom in" in body["message"]
    assert get_json(client, world["operator"], "/map/grids.geojson", expect=422)["field"] == "bbox"


# --- boundaries and grids ---------------------------------------------------------------------------------------

def test_territories_by_level(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    op = world["operator"]
    body = get_json(client, op, "/map/territories.geojson")
    assert body["type"] == "FeatureCollection"
    assert {f["properties"]["code"]: f["properties"]["name"] for f in body["features"]} == {
        "330101": "甲区", "330102": "乙区"}
    district_a = next(f for f in body["features"] if f["properties"]["code"] == "330101")
    assert district_a["geometry"]["type"] == "Polygon"
    ring = district_a["geometry"]["coordinates"][0]
    assert min(p[0] for p in ring) == pytest.approx(120.10)
    assert max(p[1] for p in ring) == pytest.approx(30.22)
    streets = get_json(client, op, "/map/territories.geojson?level=street")["features"]
    assert sorted(f["properties"]["code"] for f in streets) == ["330101001", "330101002", "330102001", "330102002"]
    communities = get_json(client, op, "/map/territories.geojson?level=community")["features"]
    assert len(communities) == 8
    gcj = get_json(client, op, "/map/territories.geojson?crs=gcj02")["features"]
    gcj_a = next(f for f in gcj if f["properties"]["code"] == "330101")["geometry"]["coordinates"][0]
    assert 200 < metres(ring[0], gcj_a[0]) < 1000
    assert get_json(client, op, "/map/territories.geojson?level=city", expect=422)["field"] == "level"


def test_grids_in_the_visible_box(client: TestClient, world: World, session: Session,
                                  city: mapworld.MapWorld) -> None:
    minx, miny, maxx, maxy = mapworld.community_box(*A1)
    # The inner part of one community: grids around it, all of the community's own included.
    bbox = f"{minx + 0.002},{miny + 0.002},{maxx - 0.002},{maxy - 0.002}"
    body = get_json(client, world["operator"], f"/map/grids.geojson?bbox={bbox}")
    assert body["type"] == "FeatureCollection"
    assert body["capped"] is False
    codes = [f["properties"]["code"] for f in body["features"]]
    assert codes
    assert all(c.startswith("330101001001") and len(c) == 15 for c in codes)
    for f in body["features"]:
        assert f["geometry"]["type"] == "Polygon"
        xs = [p[0] for p in f["geometry"]["coordinates"][0]]
        ys = [p[1] for p in f["geometry"]["coordinates"][0]]
        # Every grid returned reaches into (or touches) the box, give or take the lookup margin.
        assert max(xs) >= minx + 0.002 - 0.0011
        assert min(xs) <= maxx - 0.002 + 0.0011
        assert max(ys) >= miny + 0.002 - 0.0011
        assert min(ys) <= maxy - 0.002 + 0.0011
    # Outside the city: nothing.
    assert get_json(client, world["operator"], "/map/grids.geojson?bbox=121,31,121.01,31.01")["features"] == []
    # The cap holds and says so.
    capped = mapdata.grids_collection(session, mapdata.BBox(minx, miny, maxx, maxy), "wgs84", cap=5)
    assert capped["capped"] is True
    assert len(capped["features"]) == 5


def test_a_gcj02_bbox_selects_the_same_grids(client: TestClient, world: World, city: mapworld.MapWorld) -> None:
    minx, miny, maxx, maxy = mapworld.community_box(*A1)
    box = (minx + 0.003, miny + 0.003, maxx - 0.003, maxy - 0.003)
    lons, lats = wgs84_to_gcj02([box[0], box[2]], [box[1], box[3]])
    wgs = get_json(client, world["operator"], "/map/grids.geojson?bbox=" + ",".join(map(str, box)))
    gcj = get_json(client, world["operator"],
                   f"/map/grids.geojson?crs=gcj02&bbox={lons[0]},{lats[0]},{lons[1]},{lats[1]}")
    assert [f["properties"]["code"] for f in gcj["features"]] == [f["properties"]["code"] for f in wgs["features"]]


# --- heat and the case page's mini-map ----------------------------------------------------------------------------

def test_heat_points_are_open_cases_lat_first(client: TestClient, world: World, api: Api,
                                              city: mapworld.MapWorld) -> None:
    open_case = report(api, A1)
    urgent = report(api, B1, urgent=True)
    closed = report(api, A1, dx=0.001)
    to_closed(api, closed["id"])
    points = get_json(client, world["operator"], "/map/heat.json")
    assert sorted(points) == sorted([[round(open_case["lat"], 6), round(open_case["lon"], 6), 0.5],
                                     [round(urgent["lat"], 6), round(urgent["lon"], 6), 1.0]])
    shifted = get_json(client, world["operator"], "/map/heat.json?crs=gcj02")
    assert 200 < metres(points[0][1::-1], shifted[0][1::-1]) < 1000


def test_the_case_mini_map(client: TestClient, world: World, api: Api, city: mapworld.MapWorld) -> None:
    case = report(api, A1)
    near = report(api, A1, dx=0.002)     # about 190 m east
    far = report(api, A1, dx=0.004)      # about 390 m east
    closed_near = report(api, A1, dx=-0.001)
    to_closed(api, closed_near["id"])
    body = get_json(client, world["operator"], f"/map/case/{case['id']}.geojson")
    assert body["type"] == "FeatureCollection"
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in body["features"]:
        by_kind.setdefault(f["properties"]["kind"], []).append(f)
    [own] = by_kind["case"]
    assert own["properties"]["id"] == case["id"]
    assert own["geometry"]["coordinates"] == [case["lon"], case["lat"]]
    [grid] = by_kind["grid"]
    assert grid["properties"]["code"] == case["grid_code"]
    assert grid["geometry"]["type"] == "Polygon"
    assert [f["properties"]["id"] for f in by_kind["nearby"]] == [near["id"]]
    assert far["id"] not in {f["properties"].get("id") for f in body["features"]}
    # A closed case still shows on its own page.
    own_closed = get_json(client, world["operator"], f"/map/case/{closed_near['id']}.geojson")["features"][0]
    assert (own_closed["properties"]["kind"], own_closed["properties"]["color"]) == ("case", "grey")


def test_the_case_mini_map_is_404_for_a_case_out_of_sight(client: TestClient, world: World, api: Api,
                                                          city: mapworld.MapWorld) -> None:
    case = report(api, A1)
    body = get_json(client, world["unit_b_staff"], f"/map/case/{case['id']}.geojson", expect=404)
    assert body["code"] == "not_found"
    get_json(client, world["operator"], "/map/case/999999.geojson", expect=404)
    assert get_json(client, None, f"/map/case/{case['id']}.geojson", expect=401)["code"] == "not_authenticated"


def test_boundaries_are_public_for_the_citizens_place_picker(client: TestClient, city: mapworld.MapWorld) -> None:
    r = client.get("/map/territories.geojson?level=street", follow_redirects=False)
    assert r.status_code == 200
    assert r.json()["type"] == "FeatureCollection"
    assert r.json()["features"]
