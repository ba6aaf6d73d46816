"""`cityloop geo …`, `cityloop routing …` and `cityloop bench geocode` against a database of the test's own, as an
operator would run them: districts from a GCJ-02 GeoJSON, streets from a CGCS2000 Gauss-Krüger shapefile,
communities from a WGS-84 GeoJSON, then grids, patrol areas, locating, rules, policies and suggestions.

The map is the layout of tests/mapworld.py, written out as the files a city would hand over."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyproj
import pytest
import shapefile
import shapely
import sqlalchemy as sa
from shapely.geometry import mapping
from shapely.geometry.polygon import orient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityloop.areas.models import Grid, PatrolArea, Territory, TerritoryLevel
from cityloop.auth.permissions import Role
from cityloop.cli import app
from cityloop.core.crs import wgs84_to_gcj02
from cityloop.parts.models import Part, PartStatus
from cityloop.routing.models import CommandLevel, DispatchPolicy, RoutingRule
from cityloop.units.models import Unit, UnitLevel
from tests import factories, mapworld
from tests.factories import EPOCH

runner = CliRunner()
DL_CREDIT = "91330100DL0000001X"


@pytest.fixture
def db(committed: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A migrated database with the national directory, named to the CLI by CITYLOOP_DATABASE_URL."""
    monkeypatch.setenv("CITYLOOP_DATABASE_URL", committed.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CITYLOOP_DEMO_MODE", raising=False)
    return committed


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


def status() -> dict[str, int]:
    line = cli("geo", "status").stdout.strip()
    return {k: int(v) for k, v in (item.split("=") for item in line.split())}


# --- writing the files a city hands over --------------------------------------------------------------------------

def densified(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Polygon:
    # Vertices every ~100 m, so that a boundary converted vertex by vertex keeps following the same lines.
    poly: shapely.Polygon = shapely.segmentize(shapely.box(minx, miny, maxx, maxy), 0.001)
    return poly


def convert(poly: shapely.Polygon, fn: Callable[[Any, Any], tuple[Any, Any]]) -> shapely.Polygon:
    callback: Callable[..., Any] = fn  # the stubs describe only the interleaved (N×2 array) callback
    converted: shapely.Polygon = shapely.transform(poly, callback, interleaved=False)
    return converted


def district_box(code: str) -> tuple[float, float, float, float]:
    lon0 = mapworld.DISTRICTS[code][1]
    return lon0, mapworld.LAT0, lon0 + 0.02, mapworld.LAT0 + 0.02


def street_box(code: str, s: int) -> tuple[float, float, float, float]:
    lon0 = mapworld.DISTRICTS[code][1] + (s - 1) * 0.01
    return lon0, mapworld.LAT0, lon0 + 0.01, mapworld.LAT0 + 0.02


def write_geojson(path: Path, features: list[tuple[dict[str, Any], shapely.Polygon]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": mapping(geom)} for props, geom in features]},
        ensure_ascii=False), encoding="utf-8")
    return path


def districts_gcj02(path: Path, codes: dict[str, str] | None = None) -> Path:
    """Districts as AMap exports them: GCJ-02 coordinates, the code in `adcode` (a number, as AMap writes it)."""
    features = []
    for code, (name, _) in mapworld.DISTRICTS.items():
        shown = (codes or {}).get(code, code)
        features.append(({"adcode": int(shown) if shown.isdigit() else shown, "name": name},
                         convert(densified(*district_box(code)), wgs84_to_gcj02)))
    return write_geojson(path, features)


def streets_shapefile(directory: Path) -> Path:
    """Streets as a surveying office delivers them: a shapefile in EPSG:4549 with an ESRI .prj and a .cpg."""
    to_gk = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    base = directory / "streets"
    with shapefile.Writer(str(base), shapeType=shapefile.POLYGON, encoding="utf-8") as w:
        w.field("JDDM", "C", size=12)
        w.field("JDMC", "C", size=50)
        for code, (name, _) in mapworld.DISTRICTS.items():
            for s in (1, 2):
                poly = orient(convert(densified(*street_box(code, s)), to_gk.transform), sign=-1.0)  # ESRI: clockwise
                w.poly([[list(p) for p in poly.exterior.coords]])
                w.record(f"{code}{s:03d}", f"{name}{s}街道")
    Path(f"{base}.prj").write_text(pyproj.CRS.from_epsg(4549).to_wkt("WKT1_ESRI"), encoding="ascii")
    Path(f"{base}.cpg").write_text("UTF-8", encoding="ascii")
    return Path(f"{base}.shp")


def communities_wgs84(path: Path) -> Path:
    """Communities in WGS-84, each feature naming its own level."""
    features = []
    for code, (name, _) in mapworld.DISTRICTS.items():
        for s in (1, 2):
            for c in (1, 2):
                features.append(({"code": f"{code}{s:03d}{c:03d}", "name": f"{name}{s}街道{c}社区",
                                  "level": "community"}, densified(*mapworld.community_box(code, s, c))))
    return write_geojson(path, features)


def import_map(tmp_path: Path) -> None:
    cli("geo", "import", str(districts_gcj02(tmp_path / "districts.geojson")), "--level", "district", "--crs",
        "gcj02", "--code-field", "adcode")
    cli("geo", "import", str(streets_shapefile(tmp_path)), "--level", "street", "--code-field", "JDDM",
        "--name-field", "JDMC")
    cli("geo", "import", str(communities_wgs84(tmp_path / "communities.geojson")))
    cli("geo", "grids")


def bounds(engine: Engine, code: str) -> tuple[float, float, float, float]:
    with Session(engine) as session:
        t = session.scalar(sa.select(Territory).where(Territory.code == code))
        assert t is not None
        return t.min_lon, t.min_lat, t.max_lon, t.max_lat


def grid_count(engine: Engine, prefix: str = "") -> int:
    with Session(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Grid)
                                  .where(Grid.code.startswith(prefix))) or 0)


# --- geo import ---------------------------------------------------------------------------------------------------

def test_import_districts_streets_and_communities_from_three_coordinate_systems(db: Engine,
                                                                                tmp_path: Path) -> None:
    out = cli("geo", "import", str(districts_gcj02(tmp_path / "districts.geojson")), "--level", "district",
              "--crs", "gcj02", "--code-field", "adcode").stdout
    assert out == "districts.geojson: read as gcj02 (GCJ-02, Chinese web-map coordinates) (argument); " \
                  "2 inserted, 0 updated\n"
    # Stored in WGS-84: the GCJ-02 offset (hundreds of metres) is gone.
    assert bounds(db, "330101") == pytest.approx(district_box("330101"), abs=1e-7)

    out = cli("geo", "import", str(streets_shapefile(tmp_path)), "--level", "street", "--code-field", "JDDM",
              "--name-field", "JDMC").stdout
    assert out == ("streets.shp: read as EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E) (file); "
                   "4 inserted, 0 updated\n")
    assert bounds(db, "330102002") == pytest.approx(street_box("330102", 2), abs=1e-7)

    out = cli("geo", "import", str(communities_wgs84(tmp_path / "communities.geojson"))).stdout
    assert out == "communities.geojson: read as wgs84 (WGS-84) (default); 8 inserted, 0 updated\n"
    assert bounds(db, "330101002001") == pytest.approx(mapworld.community_box("330101", 2, 1), abs=1e-9)

    with Session(db) as session:
        rows = session.execute(sa.select(Territory.code, Territory.name, Territory.level)
                               .where(Territory.code.in_(["330102", "330102001", "330102001002"]))
                               .order_by(Territory.code)).all()
        assert [tuple(r) for r in rows] == [
            ("330102", "乙区", TerritoryLevel.DISTRICT), ("330102001", "乙区1街道", TerritoryLevel.STREET),
            ("330102001002", "乙区1街道2社区", TerritoryLevel.COMMUNITY)]
    assert status() == {"city": 0, "district": 2, "street": 4, "community": 8, "grids": 0, "patrol_areas": 0}

    # Importing again updates by code.
    out = cli("geo", "import", str(tmp_path / "communities.geojson"), "--level", "community").stdout
    assert out.endswith("0 inserted, 8 updated\n")
    assert status()["community"] == 8


def test_import_errors_exit_2_with_the_message_and_store_nothing(db: Engine, tmp_path: Path) -> None:
    # Communities before their streets: the parent is missing.
    result = cli("geo", "import", str(communities_wgs84(tmp_path / "communities.geojson")), code=2)
    assert "its parent 330101001 is not on the map; import it first" in result.stderr
    assert result.stderr.startswith("error: community 330101001001 (甲区1街道1社区)")

    # A five-digit district code.
    bad = districts_gcj02(tmp_path / "bad.geojson", codes={"330102": "33010"})
    result = cli("geo", "import", str(bad), "--level", "district", "--crs", "gcj02", "--code-field", "adcode",
                 code=2)
    assert "code '33010' of a district must be 6 digits" in result.stderr
    # All or nothing: the good district in the same file was not stored either.
    assert status()["district"] == 0

    result = cli("geo", "import", str(bad), "--level", "district", code=2)  # the code is not under `code`
    assert "no 'code' property" in result.stderr
    assert "--code-field" in result.stderr
    result = cli("geo", "import", str(bad), "--code-field", "adcode", code=2)  # no level anywhere
    assert "give --level" in result.stderr
    result = cli("geo", "import", str(bad), "--level", "district", "--crs", "bd09", code=2)
    assert "unknown coordinate system 'bd09'" in result.stderr
    assert status() == {"city": 0, "district": 0, "street": 0, "community": 0, "grids": 0, "patrol_areas": 0}


# --- grids, locate, patrol areas, status --------------------------------------------------------------------------

def test_grids_locate_patrol_and_status(db: Engine, tmp_path: Path) -> None:
    for name, args in (("districts", ("--level", "district", "--crs", "gcj02", "--code-field", "adcode")),):
        cli("geo", "import", str(districts_gcj02(tmp_path / f"{name}.geojson")), *args)
    cli("geo", "import", str(streets_shapefile(tmp_path)), "--level", "street", "--code-field", "JDDM",
        "--name-field", "JDMC")
    cli("geo", "import", str(communities_wgs84(tmp_path / "communities.geojson")))

    result = cli("geo", "grids")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("communities")  # the progress bar's label
    total = grid_count(db)
    assert lines[-1] == f"{total} unit grids in 8 communities"
    assert 8 * 80 <= total <= 8 * 130  # about a hundred 100 m grids per community

    # Coarser grids for one street replace its communities' grids only.
    before_other = grid_count(db, "330102")
    result = cli("geo", "grids", "330101001", "--size", "200")
    coarse = grid_count(db, "330101001")
    assert result.stdout.splitlines()[-1] == f"{coarse} unit grids in 2 communities"
    assert 2 * 20 <= coarse <= 2 * 35
    assert grid_count(db, "330102") == before_other
    assert cli("geo", "grids", "330109", code=2).stderr.startswith("error: no community lies under 330109")

    lon, lat = mapworld.center("330102", 2, 1)
    where = json.loads(cli("geo", "locate", "--lon", str(lon), "--lat", str(lat)).stdout)
    assert (where["district"]["code"], where["street"]["code"], where["community"]["code"]) == (
        "330102", "330102002", "330102002001")
    grid = where["grid"]["code"]
    assert grid.startswith("330102002001")
    assert len(grid) == 15
    assert where["description"] == f"乙区 乙区2街道 乙区2街道1社区 网格{grid}"
    g_lon, g_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    gcj = json.loads(cli("geo", "locate", "--lon", str(g_lon), "--lat", str(g_lat), "--crs", "gcj02").stdout)
    assert gcj["grid"] == where["grid"]
    outside = cli("geo", "locate", "--lon", "120.30", "--lat", "30.21", code=2)
    assert "outside the city" in outside.stderr
    assert outside.stdout == ""

    with Session(db) as session:
        factories.make_user(session, "zhang", [Role.COLLECTOR])
        session.commit()
    result = cli("geo", "patrol", "P-330102002", "乙区2街道责任网格", "--grids", "330102002", "--collector", "zhang")
    in_street = grid_count(db, "330102002")
    assert result.stdout == f"patrol area P-330102002: {in_street} grids, collector zhang\n"
    with Session(db) as session:
        area = session.scalar(sa.select(PatrolArea).where(PatrolArea.code == "P-330102002"))
        assert area is not None
        assert area.collector_id == session.scalar(sa.text("SELECT id FROM users WHERE username = 'zhang'"))
        assert session.scalar(sa.select(sa.func.count()).select_from(Grid)
                              .where(Grid.patrol_area_id == area.id)) == in_street
    assert cli("geo", "patrol", "P-X", "空", "--grids", "330109", code=2).stderr.startswith(
        "error: grids: no unit grid starts with 330109")
    assert cli("geo", "patrol", "P-Y", "空", "--grids", "330101", "--collector", "nobody", code=2).stderr

    assert status() == {"city": 0, "district": 2, "street": 4, "community": 8, "grids": grid_count(db),
                        "patrol_areas": 1}


def test_landmarks_give_the_description_its_bearing(db: Engine, tmp_path: Path) -> None:
    import_map(tmp_path)
    lon, lat = mapworld.center("330101", 1, 1)
    east_100m = 100 / (111_320 * math.cos(math.radians(lat)))
    marks = tmp_path / "landmarks.geojson"
    marks.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "甲区体育馆", "kind": "POI"},
         "geometry": {"type": "Point", "coordinates": [lon - east_100m, lat]}},
        {"type": "Feature", "properties": {"name": "远处公园", "kind": "POI"},
         "geometry": {"type": "Point", "coordinates": [lon - 0.1, lat]}}]}, ensure_ascii=False), encoding="utf-8")
    assert cli("geo", "landmarks", str(marks)).stdout == "2 landmarks from landmarks.geojson\n"
    where = json.loads(cli("geo", "locate", "--lon", str(lon), "--lat", str(lat)).stdout)
    assert where["description"] == f"甲区 甲区1街道 甲区1街道1社区 网格{where['grid']['code']}，甲区体育馆东约100米"
    # Farther than 3 km from every landmark (the city's far corner): no bearing.
    far = json.loads(cli("geo", "locate", "--lon", "120.1395", "--lat", "30.2195").stdout)
    assert "，" not in far["description"]


def test_locate_without_a_map(db: Engine) -> None:
    result = cli("geo", "locate", "--lon", "120.11", "--lat", "30.21", code=2)
    assert "no map is loaded" in result.stderr
    assert status() == {"city": 0, "district": 0, "street": 0, "community": 0, "grids": 0, "patrol_areas": 0}


# --- routing ------------------------------------------------------------------------------------------------------

@pytest.fixture
def mapped(db: Engine, tmp_path: Path) -> Engine:
    """The imported map with grids, a few territorial units and a part of the inventory."""
    import_map(tmp_path)
    with Session(db) as session:
        for code, name, level, industry, territory, credit in (
            ("CITY-ZJ", "市住建局", UnitLevel.CITY, "住建", "330100", None),
            ("CITY-DL", "市供电公司", UnitLevel.CITY, "电力", "330100", DL_CREDIT),
            ("330101-SZ", "甲区市政", UnitLevel.DISTRICT, "市政", "330101", None),
            ("330101001-SD", "甲区1街道办", UnitLevel.STREET, "属地", "330101001", None),
            ("330101001-HW", "甲区1街道环卫所", UnitLevel.STREET, "环卫", "330101001", None),
            ("330102002-SD", "乙区2街道办", UnitLevel.STREET, "属地", "330102002", None),
        ):
            session.add(Unit(code=code, name=name, level=level, industry=industry, territory_code=territory,
                             credit_code=credit, created_at=EPOCH))
        lon, lat = mapworld.center("330101", 1, 1)
        grid = session.scalar(sa.select(Grid.code).where(Grid.code.startswith("330101001001")).limit(1))
        assert grid is not None
        session.add(Part(code="33010101028000001", category_code="01028", name="变压器箱", competent_code="",
                         competent_name="", maintainer_code=DL_CREDIT, maintainer_name="市供电公司", grid_code=grid,
                         status=PartStatus.INTACT, surveyed_on=date(2026, 3, 1), lon=lon, lat=lat,
                         created_at=EPOCH))
        session.commit()
    return db


def suggest(where: tuple[str, int, int], kind: str, category: str, *extra: str) -> dict[str, Any]:
    lon, lat = mapworld.center(*where)
    out = cli("routing", "suggest", "--kind", kind, "--category", category, "--lon", str(lon), "--lat", str(lat),
              *extra).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def test_routing_rules_add_set_and_suggest(mapped: Engine) -> None:
    assert cli("routing", "rules").stdout == ""
    nothing = suggest(("330101", 1, 1), "event", "06010")
    assert nothing["unit"] is None
    assert "没有规则匹配类别 06010" in nothing["explanation"]

    assert cli("routing", "add", "--name", "事件 → 街道办", "--kind", "event", "--level", "street", "--industry",
               "属地").stdout == "rule #1 added\n"
    out = cli("routing", "add", "--name", "暴露垃圾 → 街道环卫所", "--kind", "event", "--category", "06010",
              "--level", "street", "--industry", "环卫").stdout
    assert re.fullmatch(r"rule #\d+ added\n", out)
    hw_rule = int(out.split("#")[1].split()[0])
    cli("routing", "add", "--name", "施工管理 → 市住建", "--kind", "event", "--category", "08", "--unit", "CITY-ZJ",
        "--priority", "10")

    lines = cli("routing", "rules").stdout.splitlines()
    assert len(lines) == 3
    assert re.match(rf"#{hw_rule}\s+p0\s+event\s+06010\s+\*\s+\*\s+→ street:环卫\s+暴露垃圾 → 街道环卫所$", lines[1])
    assert re.match(r"#\d+\s+p10\s+event\s+08\s+\*\s+\*\s+→ CITY-ZJ\s+施工管理 → 市住建$", lines[2])

    got = suggest(("330101", 1, 1), "event", "06010")
    assert (got["unit"]["code"], got["rule_id"], got["rule_name"]) == ("330101001-HW", hw_rule, "暴露垃圾 → 街道环卫所")
    assert got["location"]["community"]["code"] == "330101001001"
    assert suggest(("330102", 2, 2), "event", "06011")["unit"]["code"] == "330102002-SD"
    assert suggest(("330102", 2, 2), "event", "08001")["unit"]["code"] == "CITY-ZJ"
    # 先属主: the part's maintainer is a handling unit.
    owned = suggest(("330101", 1, 1), "part", "01028", "--part", "33010101028000001")
    assert (owned["unit"]["code"], owned["basis"], owned["owner"]["role"]) == ("CITY-DL", "owner", "养护单位")

    # Replace the 06010 rule: a district-scoped fixed unit.
    out = cli("routing", "set", str(hw_rule), "--name", "甲区暴露垃圾 → 甲区市政", "--kind", "event", "--category",
              "06010", "--territory", "330101", "--unit", "330101-SZ").stdout
    assert out == f"rule #{hw_rule} updated\n"
    got = suggest(("330101", 1, 1), "event", "06010")
    assert (got["unit"]["code"], got["basis"], got["matched_territory"]) == ("330101-SZ", "territory", "330101")
    assert suggest(("330102", 2, 2), "event", "06010")["unit"]["code"] == "330102002-SD"

    # Switched off, it is listed only with --all.
    cli("routing", "set", str(hw_rule), "--name", "甲区暴露垃圾 → 甲区市政", "--unit", "330101-SZ", "--inactive")
    assert len(cli("routing", "rules").stdout.splitlines()) == 2
    everything = cli("routing", "rules", "--all").stdout.splitlines()
    assert len(everything) == 3
    assert "(inactive) 甲区暴露垃圾 → 甲区市政" in everything[1]
    assert suggest(("330101", 1, 1), "event", "06010")["unit"]["code"] == "330101001-SD"


@pytest.mark.parametrize(("args", "message"), [
    (("--unit", "CITY-ZJ", "--level", "city", "--industry", "住建"), "unit_code: name either a unit"),
    ((), "unit_code: name either a unit"),
    (("--unit", "NO-SUCH",), "unit_code: no active unit 'NO-SUCH'"),
    (("--unit", "CITY-ZJ", "--category", "080"), "category_code:"),
    (("--unit", "CITY-ZJ", "--territory", "3301011"), "territory_code:"),
    (("--level", "street"), "target_industry:"),
])
def test_routing_add_refuses_a_bad_rule(mapped: Engine, args: tuple[str, ...], message: str) -> None:
    result = cli("routing", "add", "--name", "坏规则", *args, code=2)
    assert result.stderr.startswith(f"error: {message}")
    with Session(mapped) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(RoutingRule)) == 0


def test_routing_set_of_an_unknown_rule(mapped: Engine) -> None:
    assert cli("routing", "set", "99", "--name", "x", "--unit", "CITY-ZJ", code=2).stderr == \
        "error: rule 99 not found\n"


def test_routing_policy(mapped: Engine) -> None:
    assert cli("routing", "policy", "event", "08", "--level", "city", "--auto").stdout == \
        "event 08: city command centre, auto dispatch\n"
    assert cli("routing", "policy", "event", "08", "--level", "district").stdout == \
        "event 08: district command centre\n"
    assert cli("routing", "policy", "part", "04002", "--level", "city").stdout == "part 04002: city command centre\n"
    assert cli("routing", "policy", "event", "8", "--level", "city", code=2).stderr.startswith(
        "error: category_code:")
    with Session(mapped) as session:
        rows = session.execute(sa.select(DispatchPolicy.kind, DispatchPolicy.category_code,
                                         DispatchPolicy.command_level, DispatchPolicy.auto_dispatch)
                               .order_by(DispatchPolicy.category_code)).all()
    assert [(k.value, c, lvl, a) for k, c, lvl, a in rows] == [
        ("part", "04002", CommandLevel.CITY, False), ("event", "08", CommandLevel.DISTRICT, False)]


def test_routing_suggest_outside_the_city(mapped: Engine) -> None:
    result = cli("routing", "suggest", "--kind", "event", "--category", "06010", "--lon", "121.0", "--lat", "30.21",
                 code=2)
    assert "outside the city" in result.stderr


# --- bench --------------------------------------------------------------------------------------------------------

def test_bench_geocode_reports_points_per_second(db: Engine, tmp_path: Path) -> None:
    import_map(tmp_path)
    lines = cli("bench", "geocode", "--points", "5000", "--single", "20").stdout.splitlines()
    assert re.fullmatch(r"geocode: \d+ points/s", lines[-1])
    assert lines[0].startswith(f"grids: {grid_count(db)}; index built in ")
    assert re.fullmatch(r"bulk: 5000 points in \d+\.\d\d s, \d+ in a grid", lines[1])


def test_bench_geocode_needs_grids(db: Engine) -> None:
    result = cli("bench", "geocode", "--points", "5000", "--single", "20", code=2)
    assert "no unit grids in this database" in result.stderr
