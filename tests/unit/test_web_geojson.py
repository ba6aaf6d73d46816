"""GeoJSON for maps drawn on GCJ-02 tiles: every geometry shape converts, holes and multi-parts included."""

from __future__ import annotations

import numpy as np

from cityloop.core.crs import wgs84_to_gcj02
from cityloop.web.geojson import point, to_datum

RING = [[120.15, 30.27], [120.16, 30.27], [120.16, 30.28], [120.15, 30.27]]
HOLE = [[120.152, 30.272], [120.154, 30.272], [120.153, 30.274], [120.152, 30.272], [120.152, 30.272]]


def shifted(lon: float, lat: float) -> list[float]:
    glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    return [float(glon[0]), float(glat[0])]


def test_wgs84_is_left_alone() -> None:
    geometry = {"type": "Polygon", "coordinates": [RING]}
    assert to_datum(geometry, "wgs84") is geometry


def test_a_polygon_with_a_hole_of_another_length_converts_ring_by_ring() -> None:
    out = to_datum({"type": "Polygon", "coordinates": [RING, HOLE]}, "gcj02")
    assert len(out["coordinates"]) == 2
    assert len(out["coordinates"][1]) == len(HOLE)
    assert out["coordinates"][1][0] == shifted(*HOLE[0])
    assert out["coordinates"][0][2] == shifted(*RING[2])


def test_multipolygons_points_and_lines() -> None:
    multi = to_datum({"type": "MultiPolygon", "coordinates": [[RING, HOLE], [RING]]}, "gcj02")
    assert multi["coordinates"][1][0][0] == shifted(*RING[0])
    assert to_datum({"type": "Point", "coordinates": [120.15, 30.27]}, "gcj02")["coordinates"] == shifted(120.15, 30.27)
    line = to_datum({"type": "LineString", "coordinates": RING[:2]}, "gcj02")
    assert line["coordinates"][1] == shifted(*RING[1])
    assert point(120.15, 30.27, "gcj02") == shifted(120.15, 30.27)
