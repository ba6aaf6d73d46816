"""Synthetic divisions (areas/synth.py) and the demo's synthetic units and 部件 (demo/synthetic.py)."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, shape

from cityloop.areas.gridgen import generate_grids
from cityloop.areas.synth import (
    SynthArea,
    area_km2,
    cn,
    community_count,
    short_name,
    street_count,
    synthesize_divisions,
)
from cityloop.demo.synthetic import (
    CITY_ONLY,
    DISTRICT_INDUSTRIES,
    INDUSTRIES,
    PART_CLASSES,
    PART_CONSTANTS,
    PartColumns,
    UnitSpec,
    demo_units,
    grid_sites,
    part_rows,
    synthetic_parts,
)

ADMIN = Path(str(resources.files("cityloop.demo") / "data" / "hangzhou_admin.geojson"))
BINJIANG = "330108"


@pytest.fixture(scope="module")
def binjiang() -> Polygon | MultiPolygon:
    # The shared boundaries are GCJ-02 (AMap). These tests only need a real, irregular shape, so the coordinates are
    # used as they are: the offset to WGS-84 (a few hundred metres) changes nothing they check.
    features = json.loads(ADMIN.read_text(encoding="utf-8"))["features"]
    geom = shape(next(f["geometry"] for f in features if f["properties"]["adcode"] == BINJIANG))
    assert isinstance(geom, Polygon | MultiPolygon)
    return geom


@pytest.fixture(scope="module")
def divisions(binjiang: Polygon | MultiPolygon) -> list[SynthArea]:
    return synthesize_divisions(BINJIANG, "滨江区", binjiang, seed=11, gridded=True)


def assert_tiles(parts: list[Polygon | MultiPolygon], whole: Polygon | MultiPolygon) -> None:
    total = sum(p.area for p in parts)
    union = shapely.union_all(parts)
    assert all(not p.is_empty and p.is_valid for p in parts)
    assert abs(total - whole.area) / whole.area < 1e-9       # nothing lost, nothing counted twice
    assert abs(union.area - total) / total < 1e-9            # no overlaps
    assert union.symmetric_difference(whole).area / whole.area < 1e-9


# --- synth ----------------------------------------------------------------------------------------------------


def test_chinese_numerals_and_short_names() -> None:
    assert [cn(n) for n in (1, 9, 10, 11, 19, 20, 21, 40, 99)] == [
        "一", "九", "十", "十一", "十九", "二十", "二十一", "四十", "九十九"]
    with pytest.raises(ValueError, match=r"1\.\.99"):
        cn(100)
    assert [short_name(n) for n in ("上城区", "桐庐县", "建德市", "滨江")] == ["上城", "桐庐", "建德", "滨江"]


def test_counts_follow_the_clamps() -> None:
    assert [street_count(a) for a in (1.0, 71.0, 312.0, 4438.0)] == [6, 9, 19, 25]
    assert [community_count(a, gridded=True) for a in (0.5, 15.5, 250.0)] == [3, 4, 40]
    assert [community_count(a, gridded=False) for a in (10.0, 97.0, 500.0)] == [3, 6, 12]


def test_streets_tile_the_district(binjiang: Polygon | MultiPolygon, divisions: list[SynthArea]) -> None:
    streets = [a for a in divisions if a.level == "street"]
    assert len(streets) == street_count(area_km2(binjiang))
    assert 6 <= len(streets) <= 25
    assert_tiles([s.geometry for s in streets], binjiang)
    assert sum(s.area_km2 for s in streets) == pytest.approx(area_km2(binjiang), rel=0.01)


def test_communities_tile_their_street(divisions: list[SynthArea]) -> None:
    for street in (a for a in divisions if a.level == "street"):
        children = [a for a in divisions if a.parent_code == street.code]
        assert len(children) == community_count(street.area_km2, gridded=True)
        assert 3 <= len(children) <= 40
        assert all(c.level == "community" for c in children)
        assert_tiles([c.geometry for c in children], street.geometry)


def test_codes_and_names(divisions: list[SynthArea]) -> None:
    streets = [a for a in divisions if a.level == "street"]
    assert [s.code for s in streets] == [f"{BINJIANG}{k:03d}" for k in range(1, len(streets) + 1)]
    assert all(s.parent_code == BINJIANG and s.name == f"滨江合成{cn(k)}街道" for k, s in enumerate(streets, 1))
    for street in streets:
        children = [a for a in divisions if a.parent_code == street.code]
        assert [c.code for c in children] == [f"{street.code}{k:03d}" for k in range(1, len(children) + 1)]
        assert [c.name for c in children] == [
            f"{street.name.removesuffix('街道')}{k}社区" for k in range(1, len(children) + 1)]
    assert all("合成" in a.name and len(a.name) <= 50 for a in divisions)
    assert all(len(a.code) == (9 if a.level == "street" else 12) and a.code.isdigit() for a in divisions)
    assert len({a.code for a in divisions}) == len(divisions)


def test_streets_are_numbered_from_the_north(divisions: list[SynthArea]) -> None:
    streets = [a for a in divisions if a.level == "street"]
    lats = [s.geometry.centroid.y for s in streets]
    assert lats[0] > lats[-1]


def test_gridded_communities_stay_far_below_999_grids(divisions: list[SynthArea]) -> None:
    communities = [a for a in divisions if a.level == "community"]
    assert max(c.area_km2 for c in communities) < 8.0  # < 800 grids of 1 ha


def test_same_seed_same_divisions(binjiang: Polygon | MultiPolygon, divisions: list[SynthArea]) -> None:
    again = synthesize_divisions(BINJIANG, "滨江区", binjiang, seed=11, gridded=True)
    assert [(a.code, a.name, a.geometry.wkb) for a in again] == [(a.code, a.name, a.geometry.wkb) for a in divisions]
    other = synthesize_divisions(BINJIANG, "滨江区", binjiang, seed=12, gridded=True)
    assert [a.geometry.wkb for a in other] != [a.geometry.wkb for a in divisions]


def test_ungridded_districts_get_fewer_larger_communities(binjiang: Polygon | MultiPolygon) -> None:
    areas = synthesize_divisions(BINJIANG, "滨江区", binjiang, seed=11, gridded=False)
    streets = [a for a in areas if a.level == "street"]
    for street in streets:
        children = [a for a in areas if a.parent_code == street.code]
        assert len(children) == community_count(street.area_km2, gridded=False)
        assert 3 <= len(children) <= 12


# --- demo units -----------------------------------------------------------------------------------------------

DISTRICTS = [("330102", "上城区"), ("330108", "滨江区")]
STREETS = [("330102001", "上城合成一街道", "330102"), ("330102002", "上城合成二街道", "330102"),
           ("330108001", "滨江合成一街道", "330108")]
COMMUNITIES = [("330102001001", "上城合成一1社区", "330102001"), ("330102001002", "上城合成一2社区", "330102001"),
               ("330102002001", "上城合成二1社区", "330102002"), ("330108001001", "滨江合成一1社区", "330108001"),
               ("330108001002", "滨江合成一2社区", "330108001")]


@pytest.fixture(scope="module")
def units() -> list[UnitSpec]:
    return demo_units(DISTRICTS, STREETS, COMMUNITIES)


def test_twenty_five_industries() -> None:
    assert len(INDUSTRIES) == 25 == len(set(INDUSTRIES))
    assert "属地" in INDUSTRIES
    assert len(DISTRICT_INDUSTRIES) == 18
    assert set(INDUSTRIES) > CITY_ONLY


def test_unit_counts_and_shape(units: list[UnitSpec]) -> None:
    levels = Counter(u.level for u in units)
    assert levels == {"city": 25, "district": 18 * len(DISTRICTS), "street": 3 * len(STREETS),
                      "community": len(COMMUNITIES)}
    assert len({u.code for u in units}) == len(units)
    assert len({u.credit_code for u in units}) == len(units)
    for u in units:
        assert u.code.startswith("DEMO-")
        assert len(u.code) <= 32
        assert u.name.endswith("（演示）")
        assert len(u.credit_code) == 18
        assert u.credit_code.startswith("DEMO")
        assert u.credit_code[4:].isdigit()
        assert u.industry in INDUSTRIES
    city = [u for u in units if u.level == "city"]
    assert {u.territory_code for u in city} == {"330100"}
    assert {u.industry for u in city} == set(INDUSTRIES)


def test_every_parent_exists_and_comes_first(units: list[UnitSpec]) -> None:
    seen: dict[str, UnitSpec] = {}
    for u in units:
        if u.level == "city":
            assert u.parent_code is None
        else:
            assert u.parent_code in seen, u.code
            parent = seen[u.parent_code]
            if u.level == "district":
                assert (parent.level, parent.industry) == ("city", u.industry)
            elif u.level == "street":
                assert (parent.level, parent.industry, parent.territory_code) == ("district", "城管",
                                                                                   u.territory_code[:6])
            else:
                assert (parent.level, parent.industry, parent.territory_code) == ("street", "属地",
                                                                                   u.territory_code[:9])
        seen[u.code] = u


def test_unknown_parent_territory_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown district"):
        demo_units(DISTRICTS, [("330106001", "西湖合成一街道", "330106")], [])


# --- demo parts -----------------------------------------------------------------------------------------------

LAT = 30.2


@pytest.fixture(scope="module")
def grids() -> list[tuple[str, float, float, float, float, float, float]]:
    sites = []
    for k, (code, _, _) in enumerate(COMMUNITIES):
        x = 120.15 + 0.03 * k
        poly = Polygon([(x, LAT), (x + 0.02, LAT + 0.002), (x + 0.018, LAT + 0.02), (x - 0.003, LAT + 0.015)])
        sites += grid_sites(generate_grids(code, poly, ref_lat=LAT).cells)
    return sites


@pytest.fixture(scope="module")
def parts(grids: list[tuple[str, float, float, float, float, float, float]], units: list[UnitSpec]) -> PartColumns:
    names = {code: name for code, name, _ in STREETS + COMMUNITIES}
    return synthetic_parts(grids, per_grid=6.0, seed=5, units=units, territory_names=names)


def test_part_codes_are_17_digits_and_unique(parts: PartColumns) -> None:
    codes = parts.code.tolist()
    assert len(codes) > 10_000
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 17 and c.isdigit() for c in codes)
    assert all(c[:6] == g[:6] and c[6:11] == k for c, g, k in zip(codes, parts.grid_code, parts.category_code,
                                                                  strict=True))
    # Sequences count from 1 within each (district, class).
    firsts = Counter((c[:11]) for c in codes if c.endswith("000001"))
    assert set(firsts.values()) == {1}
    assert len(firsts) == len({c[:11] for c in codes})


def test_parts_lie_in_their_grid_box(parts: PartColumns,
                                     grids: list[tuple[str, float, float, float, float, float, float]]) -> None:
    bounds = {g[0]: g[1:5] for g in grids}
    b = np.array([bounds[g] for g in parts.grid_code.tolist()])
    assert ((parts.lon > b[:, 0]) & (parts.lon < b[:, 2]) & (parts.lat > b[:, 1]) & (parts.lat < b[:, 3])).all()


def test_parts_use_real_directory_classes() -> None:
    path = Path(str(resources.files("cityloop.catalog") / "data" / "categories.csv"))
    with path.open(encoding="utf-8", newline="") as f:
        directory = {r["major_code"] + r["sub_code"]: r["sub_name"] for r in csv.DictReader(f)
                     if r["kind"] == "部件" and r["source"].startswith("GB/T 47678.5")}
    assert 12 <= len(PART_CLASSES) <= 25
    for c in PART_CLASSES:
        assert directory.get(c.code) == c.name, c.code
        assert len(c.name) <= 30
        assert c.competent in DISTRICT_INDUSTRIES


def test_owners_and_competent_units(parts: PartColumns, units: list[UnitSpec]) -> None:
    by_credit = {u.credit_code: u for u in units}
    unknown = parts.owner_code == ""
    assert 0.02 < unknown.mean() < 0.04
    assert (parts.maintainer_code == parts.owner_code).all()
    assert (parts.owner_name[unknown] == "").all()
    assert unknown[parts.category_code == "01023"].all()
    for comp, comp_name, district in zip(parts.competent_code, parts.competent_name, parts.grid_code, strict=True):
        unit = by_credit[comp]
        assert unit.name == comp_name
        assert unit.level == "district"
        assert unit.territory_code == district[:6]
    power = (parts.category_code == "01005") & ~unknown
    assert {by_credit[c].level for c in parts.owner_code[power]} == {"city"}
    trees = (parts.category_code == "04002") & ~unknown
    assert {by_credit[c].industry for c in parts.owner_code[trees]} == {"园林"}


def test_rows_match_the_part_columns(parts: PartColumns) -> None:
    rows = part_rows(parts)
    assert len(rows) == len(parts)
    assert set(rows[0]) == {
        "code", "category_code", "name", "competent_code", "competent_name", "owner_code", "owner_name",
        "maintainer_code", "maintainer_name", "grid_code", "street_code", "street_name", "community_code",
        "community_name", "status", "surveyed_on", "changed_on", "data_source", "note", "lon", "lat", "synthetic"}
    row = rows[0]
    grid_code = str(row["grid_code"])
    assert row["street_code"] == grid_code[:9]
    assert row["community_code"] == grid_code[:12]
    assert row["street_name"]
    assert "合成" in str(row["community_name"])
    assert {r["status"] for r in rows} <= {"intact", "damaged", "lost", "abandoned", "removed"}
    assert Counter(r["status"] for r in rows).most_common(1)[0][0] == "intact"
    dates = [r["surveyed_on"] for r in rows]
    assert all(isinstance(d, date) and date(2020, 1, 1) <= d <= date(2025, 12, 31) for d in dates)
    assert all(r[k] == v for r in rows[:100] for k, v in PART_CONSTANTS.items())
    assert isinstance(row["lon"], float)
    assert math.isfinite(row["lon"])


def test_same_seed_same_parts(grids: list[tuple[str, float, float, float, float, float, float]],
                              units: list[UnitSpec], parts: PartColumns) -> None:
    names = {code: name for code, name, _ in STREETS + COMMUNITIES}
    again = synthetic_parts(grids, per_grid=6.0, seed=5, units=units, territory_names=names)
    assert part_rows(again) == part_rows(parts)


def test_empty_input_gives_no_parts(units: list[UnitSpec]) -> None:
    empty = synthetic_parts([], per_grid=3.0, seed=1, units=units)
    assert len(empty) == 0
    assert part_rows(empty) == []
    one = [("330108001001001", *box(120.0, 30.0, 120.001, 30.001).bounds, 120.0005, 30.0005)]
    assert len(synthetic_parts(one, per_grid=0.0, seed=1, units=units)) == 0


def test_centre_points_alone_place_parts_near_them(
        grids: list[tuple[str, float, float, float, float, float, float]], units: list[UnitSpec]) -> None:
    points = [(g[0], g[5], g[6]) for g in grids]
    parts = synthetic_parts(points, per_grid=2.0, seed=5, units=units, jitter_m=20.0)
    centre = {code: (lon, lat) for code, lon, lat in points}
    c = np.array([centre[g] for g in parts.grid_code.tolist()])
    dx = (parts.lon - c[:, 0]) * 111_320.0 * np.cos(np.radians(c[:, 1]))
    dy = (parts.lat - c[:, 1]) * 111_320.0
    assert len(parts) > 1000
    assert (np.hypot(dx, dy) < 30.0).all()
    with pytest.raises(ValueError, match="all be"):
        synthetic_parts([points[0], grids[1]], per_grid=1.0, seed=5, units=units)


def test_rows_take_extra_constants_and_skip_units_without_credit_code(units: list[UnitSpec]) -> None:
    stray = UnitSpec("DEMO-330108-CG", "滨江区城市管理局（演示）", "district", "城管", None, "330108", "")
    site = [("330108001001001", *box(120.0, 30.0, 120.001, 30.001).bounds, 120.0005, 30.0005)]
    parts = synthetic_parts(site, per_grid=50.0, seed=3, units=[stray, *units])
    rows = part_rows(parts, created_at="now")
    assert rows
    assert all(r["created_at"] == "now" for r in rows)
    assert all(r["competent_code"] != "" for r in rows)
