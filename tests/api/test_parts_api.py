"""/api/v1/parts: which part a report is about, and one part by its code."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.core import crs as crs_mod
from cityloop.parts import exchange
from tests.conftest import World
from tests.factories import EPOCH
from tests.integration.test_parts import CENTER, COMPETENT, at, build_map, part_code, row, write_csv


@pytest.fixture
def parts(session: Session, world: World, tmp_path: Path) -> World:
    build_map(session)
    exchange.import_parts(session, write_csv(tmp_path / "p.csv", [
        row(1, east_m=5, QSDWMC="杭州水务", BGRQ="20261101"),
        row(2, "01002", north_m=12, GLBJZT="破损"),
        row(3, "02001", east_m=-30),
    ]), crs=None, now=EPOCH, synthetic=True)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return world


def test_nearest_lists_parts_with_distances(client: TestClient, parts: World) -> None:
    r = client.get("/api/v1/parts/nearest", params={"lon": CENTER[0], "lat": CENTER[1]},
                   headers=parts["collector"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(p["code"], p["distance_m"]) for p in body] == [
        (part_code(1), 5.0), (part_code(2, "01002"), 12.0), (part_code(3, "02001"), 30.0)]
    assert body[1]["status"] == "damaged"
    assert body[1]["status_label"] == "破损"


def test_nearest_takes_gcj02_and_filters_by_class(client: TestClient, parts: World) -> None:
    lon, lat = crs_mod.from_wgs84(*CENTER, "gcj02")
    r = client.get("/api/v1/parts/nearest", headers=parts["operator"].headers, params={
        "lon": lon, "lat": lat, "crs": "gcj02", "category_code": "0101", "radius_m": 10, "limit": 1})
    assert r.status_code == 200, r.text
    assert [p["code"] for p in r.json()] == [part_code(1)]
    assert r.json()[0]["lon"] == pytest.approx(at(east_m=5)[0], abs=1e-7)  # answers in WGS-84


def test_get_returns_every_attribute(client: TestClient, parts: World) -> None:
    r = client.get(f"/api/v1/parts/{part_code(1)}", headers=parts["citizen"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == part_code(1)
    assert body["district_code"] == "330106"
    assert (body["competent_code"], body["competent_name"], body["owner_name"]) == (*COMPETENT, "杭州水务")
    assert (body["status"], body["status_label"]) == ("intact", "完好")
    assert (body["surveyed_on"], body["changed_on"], body["synthetic"]) == ("2026-03-01", "2026-11-01", True)
    assert body["grid_code"].startswith("330106001001")
    assert body["community_name"] == "西湖社区"
    assert set(body) >= {"category_code", "name", "owner_code", "maintainer_code", "maintainer_name",
                         "street_code", "street_name", "community_code", "data_source", "note", "lon", "lat"}


def test_unknown_code_is_404_naming_the_code(client: TestClient, parts: World) -> None:
    r = client.get(f"/api/v1/parts/{part_code(99)}", headers=parts["operator"].headers)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert r.json()["field"] == "code"


@pytest.mark.parametrize(("params", "field"), [
    ({"lon": 200, "lat": 30.27}, "lon"), ({"lon": "east", "lat": 30.27}, "lon"), ({"lat": 30.27}, "lon"),
    ({"lon": 120.15, "lat": 30.27, "category_code": "1"}, "category_code"),
    ({"lon": 120.15, "lat": 30.27, "radius_m": 0}, "radius_m"),
    ({"lon": 120.15, "lat": 30.27, "crs": "mars"}, "crs")])
def test_bad_query_is_422_naming_the_field(client: TestClient, parts: World, params: dict[str, object],
                                           field: str) -> None:
    r = client.get("/api/v1/parts/nearest", params=params, headers=parts["operator"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


def test_reading_parts_needs_a_sign_in(client: TestClient, parts: World) -> None:
    assert client.get(f"/api/v1/parts/{part_code(1)}").status_code == 401
    assert client.get("/api/v1/parts/nearest", params={"lon": 120.15, "lat": 30.27}).status_code == 401
