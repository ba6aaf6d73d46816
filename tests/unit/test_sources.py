"""Reading boundary files: GeoJSON (with an old-style crs member, or GCJ-02 by argument), GBK shapefiles with a
projected CGCS2000 .prj, the same zipped, and the errors a wrong file or a wrong CRS produces. Every fixture is written
into tmp_path by the test itself."""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapefile
import shapely
from pyproj import CRS, Transformer

from cityloop.areas import sources
from cityloop.core import crs
from cityloop.core.errors import ValidationFailed

# Two neighbouring squares near West Lake, as WGS-84 (lon, lat) rings.
WEST_LAKE = [(120.10, 30.22), (120.16, 30.22), (120.16, 30.27), (120.10, 30.27), (120.10, 30.22)]
SHANGCHENG = [(120.16, 30.22), (120.22, 30.22), (120.22, 30.27), (120.16, 30.27), (120.16, 30.22)]
TO_4549 = Transformer.from_crs(4326, 4549, always_xy=True)
NAMES = ["西湖区", "上城区"]


def feature(ring: list[tuple[float, float]] | None, **properties: Any) -> dict[str, Any]:
    geometry = None if ring is None else {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def write_geojson(path: Path, features: list[dict[str, Any]], crs_name: str | None = None) -> Path:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs_name is not None:
        document["crs"] = {"type": "name", "properties": {"name": crs_name}}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def projected(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    east, north = TO_4549.transform([p[0] for p in ring], [p[1] for p in ring])
    return list(zip(east, north, strict=True))


def write_shapefile(folder: Path, *, stem: str = "districts", prj: bool = True, encoding: str = "gbk",
                    cpg: str | None = None, rings: Sequence[list[tuple[float, float]] | None] | None = None) -> Path:
    """Polygons in EPSG:4549 metres, a Chinese field name and Chinese values in `encoding`, and by default no .cpg
    (as ArcGIS 9 and many Chinese tools leave them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rings = rings if rings is not None else [projected(WEST_LAKE), projected(SHANGCHENG)]
    writer = shapefile.Writer(str(folder / stem), shapeType=shapefile.POLYGON, encoding=encoding)
    writer.field("名称", "C", 40)
    writer.field("CODE", "C", 12)
    writer.field("AREA_KM2", "N", 12, 3)
    for number, ring in enumerate(rings):
        if ring is None:
            writer.null()
        else:
            writer.poly([ring])
        writer.record(NAMES[number % 2], f"33010{6 - number % 2}", 12.5 + number)
    writer.close()
    if prj:
        (folder / f"{stem}.prj").write_text(CRS.from_epsg(4549).to_wkt("WKT1_ESRI"), encoding="ascii")
    if cpg is not None:
        (folder / f"{stem}.cpg").write_text(cpg, encoding="ascii")
    return folder / f"{stem}.shp"


def zip_shapefile(shp: Path, target: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for part in sorted(shp.parent.glob(f"{shp.stem}.*")):
            archive.write(part, f"边界/{part.name}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def assert_same_ring(geom: shapely.geometry.base.BaseGeometry, ring: list[tuple[float, float]],
                     tolerance: float) -> None:
    assert geom.geom_type == "Polygon"
    expected = shapely.Polygon(ring)
    assert shapely.equals_exact(shapely.normalize(geom), shapely.normalize(expected), tolerance=tolerance)


def error_of(path: Path, crs_text: str | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        sources.read_features(path, crs=crs_text)
    return caught.value


# --- GeoJSON ------------------------------------------------------------------------------------------------------

def test_geojson_crs_member_declares_cgcs2000(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "streets.geojson",
                         [feature(WEST_LAKE, name="西湖区"), feature(SHANGCHENG, name="上城区")],
                         crs_name="urn:ogc:def:crs:EPSG::4490")
    result = sources.read_features(path)
    assert (result.crs, result.crs_origin, result.source) == (crs.CGCS2000, "file", "streets.geojson")
    assert [f.properties["name"] for f in result.features] == NAMES
    # CGCS2000 geographic is taken as WGS-84: coordinates are unchanged.
    assert_same_ring(result.features[0].geometry, WEST_LAKE, tolerance=0)


def test_geojson_without_crs_defaults_to_wgs84(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "a.json", [feature(WEST_LAKE)])
    result = sources.read_features(path)
    assert (result.crs, result.crs_origin, result.declared_crs) == (crs.WGS84, "default", None)
    assert result.features[0].properties == {}


def test_geojson_in_gcj02_is_converted_when_the_argument_says_so(tmp_path: Path) -> None:
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02([p[0] for p in WEST_LAKE], [p[1] for p in WEST_LAKE])
    gcj_ring = list(zip(gcj_lon.tolist(), gcj_lat.tolist(), strict=True))
    path = write_geojson(tmp_path / "amap.geojson", [feature(gcj_ring, name="西湖区")])
    result = sources.read_features(path, crs="gcj02")
    assert (result.crs, result.crs_origin) == (crs.GCJ02, "argument")
    manual_lon, manual_lat = crs.gcj02_to_wgs84(gcj_lon, gcj_lat)
    coords = shapely.get_coordinates(result.features[0].geometry)
    assert np.array_equal(coords, np.column_stack([manual_lon, manual_lat]))
    assert_same_ring(result.features[0].geometry, WEST_LAKE, tolerance=1e-7)


def test_argument_overrides_what_the_file_claims(tmp_path: Path) -> None:
    # AMap exports that claim WGS-84 are still GCJ-02; the caller knows better than the file.
    path = write_geojson(tmp_path / "claims.geojson", [feature(WEST_LAKE)], crs_name="EPSG:4326")
    result = sources.read_features(path, crs="GCJ-02")
    assert (result.crs, result.crs_origin, result.declared_crs) == (crs.GCJ02, "argument", crs.WGS84)


def test_argument_overrides_an_unreadable_declaration(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "odd.geojson", [feature(WEST_LAKE)], crs_name="local grid")
    assert sources.read_features(path, crs="wgs84").declared_crs is None
    problem = error_of(path)
    assert problem.field == "crs"
    assert "odd.geojson" in problem.message


def test_single_feature_and_bare_geometry_documents_are_read(tmp_path: Path) -> None:
    single = tmp_path / "one.geojson"
    single.write_text(json.dumps(feature(WEST_LAKE, code="330106")), encoding="utf-8")
    assert sources.read_features(single).features[0].properties == {"code": "330106"}
    bare = tmp_path / "bare.geojson"
    bare.write_text(json.dumps({"type": "Point", "coordinates": [120.15, 30.25]}), encoding="utf-8")
    point = sources.read_features(bare).features[0].geometry
    assert point.geom_type == "Point"


def test_empty_geometry_is_reported_with_its_index(tmp_path: Path) -> None:
    empty = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}}
    path = write_geojson(tmp_path / "bad.geojson", [feature(WEST_LAKE), feature(SHANGCHENG), empty])
    problem = error_of(path)
    assert problem.message == "bad.geojson: feature 2: geometry is empty"
    assert problem.details["problems"] == ["feature 2: geometry is empty"]


def test_every_bad_feature_is_listed_in_file_order(tmp_path: Path) -> None:
    broken = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}
    path = write_geojson(tmp_path / "bad.geojson", [feature(WEST_LAKE), feature(None), broken])
    problem = error_of(path)
    assert problem.message.startswith("bad.geojson: feature 1: geometry is missing")
    assert "(and 1 more problem)" in problem.message
    assert [p.split(":")[0] for p in problem.details["problems"]] == ["feature 1", "feature 2"]


def test_self_intersecting_polygon_is_repaired_keeping_only_area(tmp_path: Path) -> None:
    bowtie = [(120.10, 30.20), (120.12, 30.22), (120.12, 30.20), (120.10, 30.22), (120.10, 30.20)]
    point = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [120.1, 30.2]}}
    path = write_geojson(tmp_path / "bowtie.geojson", [feature(bowtie), point])
    repaired, kept_point = sources.read_features(path).features
    assert repaired.geometry.geom_type == "MultiPolygon"
    assert repaired.geometry.is_valid
    assert repaired.geometry.area == pytest.approx(0.0002, rel=1e-6)
    assert kept_point.geometry.geom_type == "Point"


def test_polygon_with_no_area_left_after_repair_is_an_error(tmp_path: Path) -> None:
    flat = [(120.10, 30.20), (120.11, 30.20), (120.12, 30.20), (120.10, 30.20)]
    problem = error_of(write_geojson(tmp_path / "flat.geojson", [feature(flat)]))
    assert problem.message.startswith("flat.geojson: feature 0: invalid Polygon")


def test_swapped_latitude_and_longitude_get_their_own_hint(tmp_path: Path) -> None:
    swapped = [(lat, lon) for lon, lat in WEST_LAKE]
    problem = error_of(write_geojson(tmp_path / "swapped.geojson", [feature(swapped)]))
    assert "swapped" in problem.message


def test_gbk_geojson_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "gbk.geojson"
    path.write_bytes(json.dumps({"type": "FeatureCollection", "features": [feature(WEST_LAKE, name="西湖区")]},
                                ensure_ascii=False).encode("gbk"))
    assert sources.read_features(path).features[0].properties["name"] == "西湖区"


# --- Shapefile ----------------------------------------------------------------------------------------------------

def test_gbk_shapefile_with_projected_prj_is_read_in_wgs84(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "shp")
    result = sources.read_features(shp)
    assert result.crs.epsg == 4549
    assert result.crs_origin == "file"
    assert result.source == "districts.shp"
    assert [f.properties["名称"] for f in result.features] == NAMES
    assert result.features[0].properties["CODE"] == "330106"
    assert result.features[0].properties["AREA_KM2"] == pytest.approx(12.5)
    assert_same_ring(result.features[0].geometry, WEST_LAKE, tolerance=1e-9)
    assert_same_ring(result.features[1].geometry, SHANGCHENG, tolerance=1e-9)


def test_zipped_shapefile_reads_the_same(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "shp")
    # Finder's resource forks are not a second shapefile.
    archive = zip_shapefile(shp, tmp_path / "districts.zip", extra={"__MACOSX/边界/._districts.shp": b"\0" * 10})
    zipped = sources.read_features(archive)
    plain = sources.read_features(shp)
    assert zipped.source == "districts.zip"
    assert zipped.crs == plain.crs
    assert [f.properties for f in zipped.features] == [f.properties for f in plain.features]
    assert all(a.geometry.equals_exact(b.geometry, tolerance=0)
               for a, b in zip(zipped.features, plain.features, strict=True))


def test_zip_with_two_shapefiles_is_refused(tmp_path: Path) -> None:
    first = write_shapefile(tmp_path / "a", stem="one")
    second = write_shapefile(tmp_path / "b", stem="two")
    archive = zip_shapefile(first, tmp_path / "both.zip")
    with zipfile.ZipFile(archive, "a") as extra:
        extra.write(second, "two.shp")
    assert "exactly one .shp" in error_of(archive).message


def test_cpg_names_the_encoding(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "utf8", encoding="utf-8", cpg="UTF-8")
    assert sources.read_features(shp).features[1].properties["名称"] == "上城区"
    code_page = write_shapefile(tmp_path / "cp936", encoding="gbk", cpg="936")
    assert sources.read_features(code_page).features[0].properties["名称"] == "西湖区"


def test_cpg_that_contradicts_the_data_is_an_error(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "liar", encoding="gbk", cpg="UTF-8")
    assert "not valid utf-8 although its .cpg says so" in error_of(shp).message


def test_null_shape_is_reported_with_its_record_number(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "nulls", rings=[projected(WEST_LAKE), None])
    assert error_of(shp).message == "districts.shp: feature 1: geometry is empty (null shape)"


def test_deleted_dbf_record_drops_its_shape_too(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "deleted", rings=[projected(WEST_LAKE), projected(SHANGCHENG),
                                                        projected(WEST_LAKE)])
    dbf = shp.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    (header_length,) = struct.unpack("<H", data[8:10])
    data[header_length] = ord("*")  # the deletion flag of record 0
    dbf.write_bytes(bytes(data))
    result = sources.read_features(shp)
    assert [f.properties["名称"] for f in result.features] == ["上城区", "西湖区"]
    assert_same_ring(result.features[0].geometry, SHANGCHENG, tolerance=1e-9)


@pytest.mark.parametrize(("zone_prefix", "suggestion"), [(0, "EPSG:4549"), (40_000_000, "EPSG:4528")])
def test_projected_coordinates_without_prj_get_a_helpful_error(tmp_path: Path, zone_prefix: int,
                                                               suggestion: str) -> None:
    rings = [[(x + zone_prefix, y) for x, y in projected(WEST_LAKE)]]
    shp = write_shapefile(tmp_path / "noprj", prj=False, rings=rings)
    message = error_of(shp).message
    assert message.startswith("districts.shp: coordinate (")
    assert "are these projected coordinates? pass --crs EPSG:" in message
    assert suggestion in message


def test_projected_file_reads_with_the_crs_argument(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "noprj", prj=False)
    result = sources.read_features(shp, crs="EPSG:4549")
    assert (result.crs.epsg, result.crs_origin) == (4549, "argument")
    assert_same_ring(result.features[0].geometry, WEST_LAKE, tolerance=1e-9)


def test_prj_without_an_epsg_code_is_used_as_it_stands(tmp_path: Path) -> None:
    # A city's own Gauss-Krüger on CGCS2000 with a central meridian of 120°15′: no EPSG code describes it.
    wkt = (CRS.from_epsg(4549).to_wkt("WKT1_ESRI").replace("CGCS2000_3_Degree_GK_CM_120E", "Hangzhou_Local_TM")
           .replace('PARAMETER["Central_Meridian",120.0]', 'PARAMETER["Central_Meridian",120.25]'))
    assert 'Central_Meridian",120.25]' in wkt
    to_local = Transformer.from_crs("EPSG:4326", wkt, always_xy=True)
    east, north = to_local.transform([p[0] for p in WEST_LAKE], [p[1] for p in WEST_LAKE])
    shp = write_shapefile(tmp_path / "local", prj=False, rings=[list(zip(east, north, strict=True))])
    shp.with_suffix(".prj").write_text(wkt, encoding="ascii")
    result = sources.read_features(shp)
    assert (result.crs.epsg, result.crs.label, result.crs.kind) == (None, "Hangzhou_Local_TM", crs.CrsKind.PROJECTED)
    assert_same_ring(result.features[0].geometry, WEST_LAKE, tolerance=1e-9)


def test_degrees_read_as_projected_are_refused(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "degrees.geojson", [feature(WEST_LAKE)])
    message = error_of(path, "EPSG:4549").message
    assert "look like longitude/latitude" in message


def test_missing_dbf_is_named(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "nodbf")
    shp.with_suffix(".dbf").unlink()
    assert error_of(shp).message.startswith("districts.shp: its .dbf attribute table is missing")


# --- input errors -------------------------------------------------------------------------------------------------

def test_unknown_crs_argument_names_the_crs_field(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "a.geojson", [feature(WEST_LAKE)])
    assert error_of(path, "bd09").field == "crs"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("boundary.kml", b"<kml/>", "unsupported file type '.kml'"),
    ("broken.geojson", b"{not json", "is not valid JSON"),
    ("list.geojson", b"[]", "is not a GeoJSON object"),
    ("topo.json", b'{"type": "Topology"}', "found type 'Topology'"),
    ("fake.zip", b"PK nothing", "is not a readable zip archive"),
])
def test_unreadable_files_are_named(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    problem = error_of(path)
    assert isinstance(problem, sources.SourceFileInvalid)
    assert problem.message.startswith(f"{name}: ")
    assert expected in problem.message


def test_missing_file_is_named(tmp_path: Path) -> None:
    assert error_of(tmp_path / "gone.shp").message == "gone.shp: no such file"
