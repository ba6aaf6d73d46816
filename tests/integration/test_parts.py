"""The 部件 inventory: import (CSV and GeoJSON), every row check, update, export round trip, nearest, summary and
the CLI, on a one-community map near 西湖 (120.15, 30.27)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from shapely.geometry import box
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityloop.areas import index as area_index
from cityloop.areas import service as area_service
from cityloop.areas.models import TerritoryLevel
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import Category
from cityloop.cli.parts import parts_app
from cityloop.core import crs as crs_mod
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.parts import exchange, queries
from cityloop.parts.exchange import ImportCounts, ImportRejected
from cityloop.parts.models import Part, PartStatus
from tests.dbutil import fresh_database_url, prepared_engine
from tests.factories import EPOCH

DISTRICT, STREET, COMMUNITY = "330106", "330106001", "330106001001"
CENTER = (120.15, 30.27)
M_LON = 1 / (111_195 * 0.8638)  # degrees of longitude per metre at 30.27°N
M_LAT = 1 / 111_195
COMPETENT = ("11330100002494888X", "杭州市城市管理局")
HEADER = ["GLBJBSM", "GLBJMC", "ZGBMDM", "ZGBMMC", "GLBJZT", "CSRQ", "X", "Y"]


def build_map(session: Session) -> None:
    """District and street 330106 (2 km square), one community (1 km square) in the middle, 100 m grids.
    Points in the district but outside the community are in the city and in no unit grid."""
    lon, lat = CENTER
    outer = box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    inner = box(lon - 0.005, lat - 0.005, lon + 0.005, lat + 0.005)
    area_service.upsert_territories(session, [
        area_service.TerritoryInput(DISTRICT, "西湖区", TerritoryLevel.DISTRICT, outer),
        area_service.TerritoryInput(STREET, "北山街道", TerritoryLevel.STREET, outer),
        area_service.TerritoryInput(COMMUNITY, "西湖社区", TerritoryLevel.COMMUNITY, inner),
    ], now=EPOCH, source="test")
    area_service.generate_grids(session, [COMMUNITY], size_m=100, now=EPOCH)


def grid_at(session: Session, lon: float, lat: float) -> str:
    grid = area_index.get_index(session).locate(lon, lat).grid_code
    assert grid is not None
    return grid


def at(east_m: float = 0, north_m: float = 0) -> tuple[float, float]:
    """A WGS-84 point this many metres from CENTER."""
    return CENTER[0] + east_m * M_LON, CENTER[1] + north_m * M_LAT


def part_code(seq: int, cls: str = "01001", district: str = DISTRICT) -> str:
    return f"{district}{cls}{seq:06d}"


def row(seq: int, cls: str = "01001", east_m: float = 0, north_m: float = 0, **cells: str) -> dict[str, str]:
    lon, lat = at(east_m, north_m)
    values = {"GLBJBSM": part_code(seq, cls), "GLBJMC": f"井盖{seq}", "ZGBMDM": COMPETENT[0],
              "ZGBMMC": COMPETENT[1], "GLBJZT": "完好", "CSRQ": "20260301", "X": f"{lon:.8f}", "Y": f"{lat:.8f}"}
    values.update(cells)
    return values


def write_csv(path: Path, rows: Sequence[dict[str, str]], header: Sequence[str] | None = None,
              encoding: str = "utf-8") -> Path:
    columns = list(header or HEADER)
    for r in rows:
        columns += [c for c in r if c not in columns]
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows([r.get(c, "") for c in columns] for r in rows)
    return path


def stored(session: Session) -> dict[str, Part]:
    session.expire_all()
    return {p.code: p for p in session.scalars(sa.select(Part))}


def content(session: Session) -> dict[str, dict[str, Any]]:
    """Every attribute of every part, without ids and times."""
    skip = {"id", "created_at"}
    return {p.code: {c.key: getattr(p, c.key) for c in sa.inspect(Part).column_attrs if c.key not in skip}
            for p in stored(session).values()}


@pytest.fixture
def city(session: Session) -> Session:
    build_map(session)
    return session


def do_import(session: Session, path: Path, crs: str | None = None, **kw: Any) -> ImportCounts:
    return exchange.import_parts(session, path, crs=crs, now=EPOCH, **kw)


# --- import ---------------------------------------------------------------------------------------------------

def test_csv_import_fills_grid_street_and_community_from_the_map(city: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "parts.csv", [
        row(1), row(2, "01002", east_m=30, GLBJZT="破损", BGRQ="20261101", SJLY="实测", BZ="北山街口"),
        row(3, "02001", north_m=-40, SZDYWGBSM=grid_at(city, *at(north_m=-40)), SZJDMC="北山街道（旧名）"),
    ])
    assert do_import(city, path) == ImportCounts(rows=3, inserted=3, updated=0, unchanged=0)
    parts = stored(city)
    one = parts[part_code(1)]
    assert (one.category_code, one.name, one.competent_code, one.competent_name) == ("01001", "井盖1", *COMPETENT)
    assert one.grid_code == grid_at(city, *at())
    assert one.grid_code.startswith(COMMUNITY)
    assert (one.street_code, one.street_name, one.community_code, one.community_name) == (
        STREET, "北山街道", COMMUNITY, "西湖社区")
    assert (one.status, one.surveyed_on, one.changed_on, one.synthetic) == (
        PartStatus.INTACT, date(2026, 3, 1), None, False)
    assert (one.lon, one.lat) == pytest.approx(at(), abs=1e-9)
    assert one.created_at == EPOCH
    two = parts[part_code(2, "01002")]
    assert (two.status, two.changed_on, two.data_source, two.note) == (
        PartStatus.DAMAGED, date(2026, 11, 1), "实测", "北山街口")
    assert two.grid_code == grid_at(city, *at(east_m=30))
    # A name the file gives is kept; only empty cells are filled from the map.
    three = parts[part_code(3, "02001")]
    assert (three.street_code, three.street_name) == (STREET, "北山街道（旧名）")


def test_lon_lat_header_in_any_case_with_a_byte_order_mark(city: Session, tmp_path: Path) -> None:
    rows = [{("lon" if k == "X" else "Lat" if k == "Y" else k.lower()): v for k, v in row(1).items()}]
    path = write_csv(tmp_path / "bom.csv", rows, header=list(rows[0]), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert do_import(city, path, synthetic=True).inserted == 1
    part = stored(city)[part_code(1)]
    assert (part.name, part.synthetic) == ("井盖1", True)


def test_gbk_csv_from_excel_on_chinese_windows(city: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", [row(1, GLBJMC="供水井盖（北山街）", GLBJZT="丢失")], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    assert do_import(city, path).inserted == 1
    part = stored(city)[part_code(1)]
    assert (part.name, part.status, part.competent_name) == ("供水井盖（北山街）", PartStatus.LOST, COMPETENT[1])


@pytest.mark.parametrize("crs", ["EPSG:4549", "cgcs2000"])
def test_csv_in_cgcs2000_projected_or_geographic(city: Session, tmp_path: Path, crs: str) -> None:
    wgs = at(east_m=40, north_m=-25)
    x, y = crs_mod.from_wgs84(*wgs, crs)
    assert (x > 1000) is (crs == "EPSG:4549")  # Gauss-Krüger metres, or degrees
    assert do_import(city, write_csv(tmp_path / "p.csv", [row(1, X=repr(x), Y=repr(y))]), crs=crs).inserted == 1
    part = stored(city)[part_code(1)]
    assert (part.lon, part.lat) == pytest.approx(wgs, abs=1e-6)
    assert part.grid_code == grid_at(city, *wgs)


def test_projected_coordinates_without_crs_are_named(city: Session, tmp_path: Path) -> None:
    x, y = crs_mod.from_wgs84(*CENTER, "EPSG:4549")
    with pytest.raises(ImportRejected) as info:
        do_import(city, write_csv(tmp_path / "p.csv", [row(1, X=f"{x:.2f}", Y=f"{y:.2f}")]))
    assert "--crs EPSG:" in str(info.value.errors[0])


def test_a_file_of_another_kind_is_refused(city: Session, tmp_path: Path) -> None:
    path = tmp_path / "parts.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(ValidationFailed, match="unsupported file type"):
        do_import(city, path)


def feature_collection(points: Sequence[tuple[tuple[float, float], dict[str, Any]]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": list(xy)}}
        for xy, props in points]}


def test_geojson_in_gcj02_is_stored_in_wgs84(city: Session, tmp_path: Path) -> None:
    wgs = at(east_m=-120, north_m=60)
    gcj = crs_mod.from_wgs84(*wgs, "gcj02")
    assert abs(gcj[0] - wgs[0]) > 0.003  # hundreds of metres apart: a skipped conversion would show
    props = {"glbjbsm": part_code(7), "GLBJMC": "供水井盖", "ZGBMDM": COMPETENT[0], "ZGBMMC": COMPETENT[1],
             "GLBJZT": "damaged", "CSRQ": 20260301, "BGRQ": None}
    path = tmp_path / "parts.geojson"
    path.write_text(json.dumps(feature_collection([(gcj, props)]), ensure_ascii=False), encoding="utf-8")
    assert do_import(city, path, crs="gcj02").inserted == 1
    part = stored(city)[part_code(7)]
    assert (part.lon, part.lat) == pytest.approx(wgs, abs=1e-7)
    assert part.grid_code == grid_at(city, *wgs)
    assert (part.status, part.surveyed_on, part.changed_on) == (PartStatus.DAMAGED, date(2026, 3, 1), None)


def test_geojson_features_that_are_not_points_are_named_by_position(city: Session, tmp_path: Path) -> None:
    props = {"GLBJBSM": part_code(1), "GLBJMC": "井盖", "ZGBMDM": COMPETENT[0], "ZGBMMC": COMPETENT[1],
             "GLBJZT": "完好", "CSRQ": "20260301"}
    doc = feature_collection([(at(), props)])
    doc["features"].append({"type": "Feature", "properties": {**props, "GLBJBSM": part_code(2)},
                            "geometry": {"type": "LineString", "coordinates": [list(at()), list(at(10))]}})
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        do_import(city, path)
    assert [str(e) for e in info.value.errors] == ["feature 1, geometry: a 部件 is a Point, not a LineString"]
    assert stored(city) == {}


def test_every_row_problem_is_reported_with_its_row_and_nothing_is_stored(city: Session, tmp_path: Path) -> None:
    other_grid = grid_at(city, *at(east_m=300))
    here = grid_at(city, *at())
    rows = [
        row(1),                                                             # 2: fine
        row(2, GLBJBSM="3301060100100000"),                                 # 3: 16 digits
        row(3, "01016"),                                                    # 4: a gap in the directory
        {**row(4), "GLBJBSM": part_code(4, district="330105")},             # 5: another district's code
        row(5, SZDYWGBSM=other_grid),                                       # 6: the wrong grid
        row(6, X="121.5", Y="31.2"),                                        # 7: Shanghai
        row(7, GLBJZT="坏了"),                                               # 8
        row(8, CSRQ="2026-03-01"),                                          # 9
        row(9, ZGBMMC=""),                                                  # 10
        row(10, east_m=700),                                                # 11: in the city, in no grid
        row(1, GLBJMC="重复"),                                               # 12: same code as row 2
        row(11, BGRQ="20260230"),                                           # 13: no 30 February
        row(12, GLBJMC="很" * 31),                                           # 14
        row(13, X="abc"),                                                   # 15
        row(14, X=f"{CENTER[1]}", Y=f"{CENTER[0]}"),                        # 16: latitude first
        row(15, SZSQDM="330106001002"),                                     # 17: another community
        row(16, BGRQ="20260101"),                                           # 18: changed before surveyed
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportRejected) as info:
        do_import(city, path)
    exc = info.value
    found = [(e.row, e.field) for e in exc.errors]
    assert found == [(3, "GLBJBSM"), (4, "GLBJBSM"), (5, "GLBJBSM"), (6, "SZDYWGBSM"), (7, "X"), (8, "GLBJZT"),
                     (9, "CSRQ"), (10, "ZGBMMC"), (11, "SZDYWGBSM"), (12, "GLBJBSM"), (13, "BGRQ"), (14, "GLBJMC"),
                     (15, "X"), (16, "X"), (17, "SZSQDM"), (18, "BGRQ")]
    messages = {(e.row, e.field): e.message for e in exc.errors}
    assert "must be 17 digits" in messages[3, "GLBJBSM"]
    assert "legacy 16-digit" in messages[3, "GLBJBSM"]
    assert "class 01016" in messages[4, "GLBJBSM"]
    assert GBT_47678_2026 in messages[4, "GLBJBSM"]
    assert "district 330105" in messages[5, "GLBJBSM"]
    assert "district 330106 (西湖区)" in messages[5, "GLBJBSM"]
    assert other_grid in messages[6, "SZDYWGBSM"]
    assert here in messages[6, "SZDYWGBSM"]
    assert "outside the city" in messages[7, "X"]
    assert "完好、破损、丢失、废弃、移除" in messages[8, "GLBJZT"]
    assert "YYYYMMDD" in messages[9, "CSRQ"]
    assert messages[10, "ZGBMMC"] == "missing (mandatory)"
    assert "not in any unit grid" in messages[11, "SZDYWGBSM"]
    assert "first on row 2" in messages[12, "GLBJBSM"]
    assert "longer than 30" in messages[14, "GLBJMC"]
    assert "not a pair of numbers" in messages[15, "X"]
    assert "latitude first" in messages[16, "X"]
    assert "before the initial date" in messages[18, "BGRQ"]
    assert exc.status == 422
    assert exc.code == "import_rejected"
    assert exc.field == "file"
    assert exc.details["errors"][0] == {"row": 3, "field": "GLBJBSM", "message": messages[3, "GLBJBSM"],
                                        "label": "row"}
    assert exc.details["truncated"] is False
    assert stored(city) == {}


def test_header_problems_are_reported_on_row_one(city: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "header.csv", [{"GLBJBSM": part_code(1)}], header=["GLBJBSM", "GLBJMC", "glbjmc"])
    with pytest.raises(ImportRejected) as info:
        do_import(city, path)
    assert [str(e) for e in info.value.errors] == [
        "row 1, GLBJMC: column appears more than once", "row 1, ZGBMDM: missing column",
        "row 1, ZGBMMC: missing column", "row 1, GLBJZT: missing column", "row 1, CSRQ: missing column",
        "row 1, X/Y: missing coordinate columns: give X and Y, or LON and LAT"]


def test_an_empty_file_and_a_header_without_rows_are_refused(city: Session, tmp_path: Path) -> None:
    for path in (tmp_path / "empty.csv", write_csv(tmp_path / "header_only.csv", [])):
        path.touch()
        with pytest.raises(ImportRejected):
            do_import(city, path)


def test_the_error_list_stops_at_fifty(city: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "many.csv", [row(i, GLBJZT="?") for i in range(1, 61)])
    with pytest.raises(ImportRejected) as info:
        do_import(city, path)
    assert len(info.value.errors) == exchange.MAX_ERRORS
    assert info.value.truncated
    assert info.value.details["truncated"] is True
    assert info.value.message.startswith("50+ problem(s)")


def test_no_map_and_no_directory_are_refused_before_any_row(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "parts.csv", [row(1)])
    with pytest.raises(area_index.NoMap):
        do_import(session, path)
    build_map(session)
    session.execute(sa.delete(Category).where(Category.scheme == GBT_47678_2026, Category.kind == Kind.PART))
    with pytest.raises(ValidationFailed, match="catalog seed"):
        do_import(session, path)


def test_unknown_crs_names_the_field(city: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        do_import(city, write_csv(tmp_path / "p.csv", [row(1)]), crs="mars")
    assert info.value.field == "crs"


def test_reimport_updates_changed_codes_only_and_stamps_bgrq(city: Session, tmp_path: Path) -> None:
    do_import(city, write_csv(tmp_path / "first.csv", [row(1), row(2), row(3)]))
    later = EPOCH + timedelta(days=30, hours=20)  # 2026-12-25 22:00 UTC is 12-26 in Hangzhou
    counts = exchange.import_parts(city, write_csv(tmp_path / "second.csv", [
        row(1), row(2, GLBJZT="破损"), row(3, GLBJMC="新名", BGRQ="20261220"), row(4)]), crs=None, now=later)
    assert counts == ImportCounts(rows=4, inserted=1, updated=2, unchanged=1)
    parts = stored(city)
    assert parts[part_code(1)].changed_on is None
    assert (parts[part_code(2)].status, parts[part_code(2)].changed_on) == (PartStatus.DAMAGED, date(2026, 12, 26))
    assert (parts[part_code(3)].name, parts[part_code(3)].changed_on) == ("新名", date(2026, 12, 20))
    assert parts[part_code(2)].created_at == EPOCH  # an update is not a new part


def test_a_bulk_import_crosses_batches_and_reports_progress(city: Session, tmp_path: Path) -> None:
    rows = [row(i, east_m=(i % 90) * 10 - 445, north_m=(i // 90) * 0.5 - 450) for i in range(1, 12_001)]
    calls: list[tuple[str, int, int]] = []
    counts = do_import(city, write_csv(tmp_path / "bulk.csv", rows), progress=lambda *a: calls.append(a))
    assert counts.inserted == 12_000
    assert ("write", 10_000, 12_000) in calls
    assert calls[-1] == ("write", 12_000, 12_000)
    assert city.scalar(sa.select(sa.func.count()).select_from(Part)) == 12_000


# --- export ---------------------------------------------------------------------------------------------------

def test_an_export_reimports_unchanged(city: Session, tmp_path: Path) -> None:
    gcj = crs_mod.from_wgs84(*at(east_m=77.7, north_m=-12.3), "gcj02")
    geo = tmp_path / "one.geojson"
    geo.write_text(json.dumps(feature_collection([(gcj, {
        "GLBJBSM": part_code(9, "03001"), "GLBJMC": "垃圾箱, \"新\"", "ZGBMDM": COMPETENT[0],
        "ZGBMMC": COMPETENT[1], "GLBJZT": "废弃", "CSRQ": "20250101", "BZ": "两行\n备注"})])), encoding="utf-8")
    do_import(city, geo, crs="gcj02")
    do_import(city, write_csv(tmp_path / "in.csv", [
        row(1, BGRQ="20261101", QSDWDM="91330100MA27XXXX1A", QSDWMC="水务集团", YHDWDM="x", YHDWMC="养护公司",
            SJLY="实测"), row(2, "02001", east_m=15, GLBJZT="移除")]))
    before = content(city)

    first = tmp_path / "export.csv"
    assert exchange.export_parts(city, first) == 3
    header = first.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == ",".join(exchange.EXPORT_COLUMNS)
    assert do_import(city, first) == ImportCounts(rows=3, inserted=0, updated=0, unchanged=3)
    assert content(city) == before

    city.execute(sa.delete(Part))
    assert do_import(city, first).inserted == 3
    after = content(city)
    for code, values in before.items():
        moved = {k: (after[code][k], v) for k, v in values.items() if after[code][k] != v}
        assert set(moved) <= {"lon", "lat"}, moved  # only the 8-decimal rounding of the point
        assert (after[code]["lon"], after[code]["lat"]) == pytest.approx((values["lon"], values["lat"]), abs=1e-8)
    again = tmp_path / "again.csv"
    exchange.export_parts(city, again)
    assert again.read_bytes() == first.read_bytes()


def test_export_of_one_district(city: Session, tmp_path: Path) -> None:
    do_import(city, write_csv(tmp_path / "in.csv", [row(1), row(2)]))
    assert exchange.export_parts(city, tmp_path / "d.csv", district=DISTRICT) == 2
    assert exchange.export_parts(city, tmp_path / "none.csv", district="330105") == 0
    with pytest.raises(ValidationFailed) as info:
        exchange.export_parts(city, tmp_path / "bad.csv", district="3301")
    assert info.value.field == "district"
    with pytest.raises(ValidationFailed) as info:
        exchange.export_parts(city, tmp_path / "bad.xlsx")
    assert info.value.field == "file"


# --- reads ----------------------------------------------------------------------------------------------------

@pytest.fixture
def inventory(city: Session, tmp_path: Path) -> Session:
    do_import(city, write_csv(tmp_path / "inv.csv", [
        row(1, "01001", east_m=5),       # 供水井盖, 5 m
        row(2, "01002", north_m=12),     # 污水井盖, 12 m
        row(3, "01001", east_m=-30),     # 供水井盖, 30 m
        row(4, "02001", north_m=-20),    # 停车场, 20 m
        row(5, "01001", east_m=80),      # 80 m: outside the default radius
    ]))
    return city


def codes(found: list[tuple[Part, float]]) -> list[str]:
    return [p.code for p, _ in found]


def test_nearest_sorts_by_distance_within_the_radius(inventory: Session) -> None:
    found = queries.nearest(inventory, *CENTER)
    assert codes(found) == [part_code(1), part_code(2, "01002"), part_code(4, "02001"), part_code(3)]
    assert [round(d) for _, d in found] == [5, 12, 20, 30]
    assert codes(queries.nearest(inventory, *CENTER, radius_m=100))[-1] == part_code(5)
    assert codes(queries.nearest(inventory, *CENTER, radius_m=10)) == [part_code(1)]
    assert len(queries.nearest(inventory, *CENTER, radius_m=100, limit=2)) == 2


@pytest.mark.parametrize(("category", "expected"), [
    ("01001", [1, 3]), ("0101", [1, 3]), ("01", [1, 2, 3]), ("02", [4]), ("0102", [2]), ("03001", [])])
def test_nearest_by_class_legacy_class_or_major(inventory: Session, category: str, expected: list[int]) -> None:
    found = queries.nearest(inventory, *CENTER, category_code=category)
    assert [int(p.code[-6:]) for p, _ in found] == expected


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"category_code": "010"}, "category_code"), ({"category_code": "0100１"}, "category_code"),
    ({"radius_m": 0}, "radius_m"), ({"radius_m": 5000}, "radius_m"), ({"limit": 0}, "limit"),
    ({"lon": 200.0}, "lon"), ({"lat": float("nan")}, "lat")])
def test_nearest_refuses_bad_input_naming_the_field(inventory: Session, kwargs: dict[str, Any], field: str) -> None:
    args = {"lon": CENTER[0], "lat": CENTER[1], **kwargs}
    lon, lat = args.pop("lon"), args.pop("lat")
    with pytest.raises(ValidationFailed) as info:
        queries.nearest(inventory, lon, lat, **args)
    assert info.value.field == field


def test_get_by_code(inventory: Session) -> None:
    assert queries.get(inventory, part_code(2, "01002")).name == "井盖2"
    with pytest.raises(NotFound) as info:
        queries.get(inventory, part_code(99))
    assert info.value.field == "code"


def test_summary_counts_by_district_and_class(inventory: Session) -> None:
    s = queries.summary(inventory)
    assert (s.total, s.synthetic) == (5, 0)
    assert [asdict(c) for c in s.by_district] == [{"code": DISTRICT, "name": "西湖区", "count": 5}]
    assert [(c.code, c.name, c.count) for c in s.by_class] == [
        ("01001", "供水井盖", 3), ("01002", "污水井盖", 1), ("02001", "停车场", 1)]
    assert s.by_district_class == [(DISTRICT, "01001", 3), (DISTRICT, "01002", 1), (DISTRICT, "02001", 1)]


# --- CLI ------------------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of the CLI's own (it commits), migrated, seeded and mapped."""
    (tmp_path / "db").mkdir()
    with fresh_database_url(tmp_path / "db") as url:
        engine = prepared_engine(url)
        try:
            with session_scope(write_sessionmaker(engine)) as session:
                build_map(session)
        finally:
            engine.dispose()
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
        yield url


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(parts_app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


def test_cli_import_nearest_summary_and_export(cli_db: str, tmp_path: Path) -> None:
    gcj_rows = []
    for r in (row(1, east_m=5), row(2, "02001", north_m=-20)):
        x, y = crs_mod.from_wgs84(float(r["X"]), float(r["Y"]), "gcj02")
        gcj_rows.append({**r, "X": f"{x:.8f}", "Y": f"{y:.8f}"})
    path = write_csv(tmp_path / "in.csv", gcj_rows)
    done = cli("import", str(path), "--crs", "gcj02")
    assert done.stdout.startswith("2 parts: 2 inserted, 0 updated, 0 unchanged")
    assert done.stderr == ""  # progress lines only for long imports

    gx, gy = crs_mod.from_wgs84(*CENTER, "gcj02")
    found = json.loads(cli("nearest", "--lon", str(gx), "--lat", str(gy), "--crs", "gcj02").stdout)
    assert [(f["code"], round(f["distance_m"])) for f in found] == [(part_code(1), 5), (part_code(2, "02001"), 20)]
    assert found[0]["status_label"] == "完好"
    assert found[0]["lon"] == pytest.approx(at(east_m=5)[0], abs=1e-7)
    only = json.loads(cli("nearest", "--lon", str(CENTER[0]), "--lat", str(CENTER[1]), "--category", "02",
                          "--radius", "25").stdout)
    assert [f["code"] for f in only] == [part_code(2, "02001")]
    bad = cli("nearest", "--lon", "120", "--lat", "30", "--category", "1", code=2)
    assert "category_code" in bad.stderr

    summary = cli("summary").stdout
    assert summary.startswith("2 parts\n")
    assert "330106         2  西湖区" in summary
    assert "停车场" in summary

    out = tmp_path / "out.csv"
    assert cli("export", str(out)).stdout == f"2 parts written to {out}\n"
    assert cli("import", str(out)).stdout.startswith("2 parts: 0 inserted, 0 updated, 2 unchanged")


def test_cli_import_lists_row_errors_and_exits_2(cli_db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row(1), row(2, CSRQ="x"), row(3, X="121.5", Y="31.2")])
    result = cli("import", str(path), code=2)
    lines = result.stderr.splitlines()
    assert lines[:2] == ["error: row 3, CSRQ: 'x' is not a date written YYYYMMDD",
                         "error: row 4, X: the point (121.500000, 31.200000) lies outside the city: no district "
                         "holds it"]
    assert lines[-1] == "error: 2 problem(s) in the file; nothing was imported"
    assert cli("summary").stdout == "0 parts\n"
