"""Coordinate systems: the GCJ-02 formula and its inverse, CRS name parsing, and pyproj for projected CGCS2000."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from cityloop.core import crs
from cityloop.core.crs import CrsKind
from cityloop.core.errors import ValidationFailed

# A grid over Hangzhou's whole jurisdiction (淳安 in the west to 萧山 in the east).
HZ_LON, HZ_LAT = np.meshgrid(np.linspace(118.3, 120.7, 49), np.linspace(29.2, 30.6, 29))
WGS84_GEOD = Geod(ellps="WGS84")


def max_abs_difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[0] - b[0]))), float(np.max(np.abs(a[1] - b[1]))))


# --- GCJ-02 -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("wgs", "gcj"), [
    # Reference pairs published with the widely used "eviltransform" test-suite (Shanghai, Shenzhen, Beijing).
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
])
def test_forward_transform_matches_published_reference_pairs(wgs: tuple[float, float],
                                                             gcj: tuple[float, float]) -> None:
    lon, lat = crs.wgs84_to_gcj02(*wgs)
    assert float(lon) == pytest.approx(gcj[0], abs=1e-9)
    assert float(lat) == pytest.approx(gcj[1], abs=1e-9)


def test_round_trip_over_hangzhou_is_better_than_a_centimetre() -> None:
    gcj = crs.wgs84_to_gcj02(HZ_LON, HZ_LAT)
    back = crs.gcj02_to_wgs84(*gcj)
    assert max_abs_difference(back, (HZ_LON, HZ_LAT)) < 1e-7
    # And the other way round: the inverse is a true inverse, not only a left one.
    wgs = crs.gcj02_to_wgs84(HZ_LON, HZ_LAT)
    assert max_abs_difference(crs.wgs84_to_gcj02(*wgs), (HZ_LON, HZ_LAT)) < 1e-7


def test_offset_in_hangzhou_is_hundreds_of_metres() -> None:
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(HZ_LON, HZ_LAT)
    _, _, metres = WGS84_GEOD.inv(HZ_LON, HZ_LAT, gcj_lon, gcj_lat)
    assert float(np.min(metres)) > 100.0
    assert float(np.max(metres)) < 1000.0


@pytest.mark.parametrize(("lon", "lat"), [
    (2.3522, 48.8566),      # Paris
    (-74.006, 40.7128),     # New York
    (139.6917, 35.6895),    # Tokyo, east of the box
    (151.2093, -33.8688),   # Sydney
    (71.9, 30.0),           # just west of the box
])
def test_points_outside_china_are_unchanged_both_ways(lon: float, lat: float) -> None:
    assert tuple(map(float, crs.wgs84_to_gcj02(lon, lat))) == (lon, lat)
    assert tuple(map(float, crs.gcj02_to_wgs84(lon, lat))) == (lon, lat)


def test_mixed_array_converts_only_the_points_in_china() -> None:
    lon = np.array([120.15, 2.3522, 120.16])
    lat = np.array([30.28, 48.8566, 30.29])
    out_lon, out_lat = crs.gcj02_to_wgs84(lon, lat)
    assert (out_lon[1], out_lat[1]) == (lon[1], lat[1])
    assert np.all(out_lon[[0, 2]] != lon[[0, 2]])
    assert (lon[0], lat[0]) == (120.15, 30.28), "inputs must not be modified"


def test_scalar_and_array_agree() -> None:
    lons, lats = np.array([120.1551, 119.9, 120.6]), np.array([30.2741, 29.5, 30.4])
    arr_lon, arr_lat = crs.gcj02_to_wgs84(lons, lats)
    for i in range(3):
        one_lon, one_lat = crs.gcj02_to_wgs84(lons[i], lats[i])
        assert np.shape(one_lon) == ()
        assert (float(one_lon), float(one_lat)) == (arr_lon[i], arr_lat[i])
        assert crs.to_wgs84(float(lons[i]), float(lats[i]), "gcj02") == (arr_lon[i], arr_lat[i])


def test_array_shape_is_kept() -> None:
    out_lon, out_lat = crs.wgs84_to_gcj02(HZ_LON, HZ_LAT)
    assert out_lon.shape == HZ_LON.shape
    assert out_lat.shape == HZ_LAT.shape


def test_nan_passes_through() -> None:
    out_lon, out_lat = crs.gcj02_to_wgs84(np.array([math.nan, 120.0]), np.array([30.0, 30.0]))
    assert math.isnan(out_lon[0])
    assert out_lat[0] == 30.0
    assert math.isfinite(out_lon[1])


# --- parse_crs ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "epsg"), [
    ("wgs84", CrsKind.WGS84, 4326),
    ("WGS84", CrsKind.WGS84, 4326),
    ("EPSG:4326", CrsKind.WGS84, 4326),
    ("epsg:4326", CrsKind.WGS84, 4326),
    ("OGC:CRS84", CrsKind.WGS84, 4326),
    ("urn:ogc:def:crs:OGC:1.3:CRS84", CrsKind.WGS84, 4326),
    ("urn:ogc:def:crs:EPSG::4326", CrsKind.WGS84, 4326),
    ("gcj02", CrsKind.GCJ02, None),
    ("GCJ-02", CrsKind.GCJ02, None),
    ("cgcs2000", CrsKind.IDENTITY, 4490),
    ("CGCS2000", CrsKind.IDENTITY, 4490),
    ("EPSG:4490", CrsKind.IDENTITY, 4490),
    ("urn:ogc:def:crs:EPSG::4490", CrsKind.IDENTITY, 4490),
    ("EPSG:4549", CrsKind.PROJECTED, 4549),
    ("urn:ogc:def:crs:EPSG::4549", CrsKind.PROJECTED, 4549),
    ("EPSG:3857", CrsKind.PROJECTED, 3857),
    ("EPSG:4214", CrsKind.GEOGRAPHIC, 4214),   # Beijing 1954: another datum, so pyproj converts it
])
def test_parse_crs_accepts_the_documented_spellings(text: str, kind: CrsKind, epsg: int | None) -> None:
    spec = crs.parse_crs(text)
    assert (spec.kind, spec.epsg) == (kind, epsg)


def test_parse_crs_labels_projected_systems_with_their_name() -> None:
    assert crs.parse_crs("EPSG:4549").label == "EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"
    assert crs.parse_crs("gcj02").name == crs.Crs.GCJ02


@pytest.mark.parametrize("text", ["", "wgs", "baidu", "EPSG:", "EPSG:99999999", "EPSG:5773", "4326", "bd09"])
def test_parse_crs_rejects_garbage_naming_the_field(text: str) -> None:
    # EPSG:5773 is a height system: known to pyproj, but with no longitude/latitude.
    with pytest.raises(ValidationFailed) as caught:
        crs.parse_crs(text)
    assert caught.value.field == "crs"
    assert "EPSG" in caught.value.message or "coordinate system" in caught.value.message


def test_to_wgs84_with_an_unknown_name_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        crs.to_wgs84(120.0, 30.0, "nonsense")


# --- dispatch -----------------------------------------------------------------------------------------------------

def test_cgcs2000_geographic_is_copied_unchanged() -> None:
    assert crs.to_wgs84(120.123456789, 30.987654321, "EPSG:4490") == (120.123456789, 30.987654321)


def test_projected_cgcs2000_round_trip_through_pyproj() -> None:
    forward = Transformer.from_crs(4326, 4549, always_xy=True)
    lon, lat = 120.1551, 30.2741
    easting, northing = forward.transform(lon, lat)
    assert 400_000 < easting < 600_000
    assert 3_300_000 < northing < 3_400_000
    assert crs.to_wgs84(easting, northing, "EPSG:4549") == pytest.approx((lon, lat), abs=1e-9)
    assert crs.from_wgs84(lon, lat, "EPSG:4549") == pytest.approx((easting, northing), abs=1e-4)


def test_projected_arrays_convert_in_one_call() -> None:
    spec = crs.parse_crs("EPSG:4549")
    east, north = crs.from_wgs84_arrays(HZ_LON, HZ_LAT, spec)
    back = crs.to_wgs84_arrays(east, north, spec)
    assert max_abs_difference(back, (HZ_LON, HZ_LAT)) < 1e-9


def test_from_wgs84_arrays_gives_gcj02_for_web_maps() -> None:
    assert crs.from_wgs84_arrays(121.5272106, 31.1774276, crs.GCJ02)[0] == pytest.approx(121.531541859215)


def test_geometry_to_wgs84_converts_every_vertex_and_drops_z() -> None:
    polygon = shapely.Polygon([(120.1, 30.2, 5.0), (120.2, 30.2, 5.0), (120.2, 30.3, 5.0), (120.1, 30.2, 5.0)])
    converted = crs.geometry_to_wgs84(polygon, crs.GCJ02)
    assert converted.geom_type == "Polygon"
    assert not converted.has_z
    expected_lon, expected_lat = crs.gcj02_to_wgs84(*np.array(polygon.exterior.coords)[:, :2].T)
    assert np.allclose(np.array(converted.exterior.coords), np.column_stack([expected_lon, expected_lat]),
                       rtol=0, atol=1e-12)
    assert crs.geometry_from_wgs84(converted, crs.GCJ02).equals_exact(shapely.force_2d(polygon), tolerance=1e-7)


def test_geometry_to_wgs84_handles_arrays_and_empty_geometries() -> None:
    geoms = np.array([shapely.Point(500_000, 3_350_000), shapely.Polygon()], dtype=object)
    out = crs.geometry_to_wgs84(geoms, crs.parse_crs("EPSG:4549"))
    assert out[0].x == pytest.approx(120.0, abs=1e-9)
    assert out[1].is_empty
