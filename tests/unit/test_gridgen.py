"""Unit grids cut from community polygons (areas/gridgen.py): coverage, codes, slivers, lattice alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from cityloop.areas.gridgen import SLIVER_FRACTION, GridSet, generate_grids, lattice_step

LAT = 30.25
DLON, DLAT = lattice_step(100.0, LAT)
COMMUNITY = "330108001002"


def blob(seed: int, cx: float, cy: float, radius_m: float, n: int = 48) -> Polygon:
    """A star-shaped irregular polygon: every ray from the centre crosses the boundary once, so it is valid."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.55, 1.0, n) * radius_m
    return Polygon(np.column_stack([cx + r * np.cos(angles) * DLON / 100, cy + r * np.sin(angles) * DLAT / 100]))


@pytest.fixture(scope="module")
def irregular() -> tuple[Polygon, GridSet]:
    poly = blob(3, 120.2113, 30.2071, 1100.0)
    return poly, generate_grids(COMMUNITY, poly, ref_lat=LAT)


def shared_length(a: shapely.Geometry, b: shapely.Geometry) -> float:
    eps = DLAT * 1e-6
    return float(shapely.area(shapely.intersection(shapely.buffer(a, eps, join_style="mitre"), b))) / eps


def test_codes_are_the_community_code_and_a_contiguous_sequence(irregular: tuple[Polygon, GridSet]) -> None:
    _, grids = irregular
    codes = [c.code for c in grids.cells]
    assert all(len(c) == 15 and c.isdigit() and c.startswith(COMMUNITY) for c in codes)
    assert [int(c[12:]) for c in codes] == list(range(1, len(codes) + 1))
    assert grids.size_m == 100.0
    assert 150 < len(codes) < 999


def test_cells_cover_the_polygon_exactly_once(irregular: tuple[Polygon, GridSet]) -> None:
    poly, grids = irregular
    geoms = [c.geometry for c in grids.cells]
    total = sum(g.area for g in geoms)
    union = shapely.union_all(geoms)
    assert abs(total - poly.area) / poly.area < 1e-9
    assert abs(union.area - total) / total < 1e-9  # no overlaps
    assert union.symmetric_difference(poly).area / poly.area < 1e-9
    assert all(isinstance(g, Polygon | MultiPolygon) and g.is_valid and not g.is_empty for g in geoms)


def test_centres_lie_inside_and_areas_are_in_square_metres(irregular: tuple[Polygon, GridSet]) -> None:
    poly, grids = irregular
    assert all(c.geometry.contains(Point(c.center_lon, c.center_lat)) for c in grids.cells)
    poly_m2 = poly.area * (111_320.0**2) * math.cos(math.radians(LAT))
    assert sum(c.area_m2 for c in grids.cells) == pytest.approx(poly_m2, rel=1e-9)
    full = [c for c in grids.cells if c.geometry.equals(shapely.envelope(c.geometry))]
    assert full
    assert all(c.area_m2 == pytest.approx(10_000.0, rel=1e-6) for c in full)


def test_no_sliver_is_left_unless_it_has_no_neighbour(irregular: tuple[Polygon, GridSet]) -> None:
    _, grids = irregular
    small = SLIVER_FRACTION * DLON * DLAT
    for cell in grids.cells:
        if cell.geometry.area < small:
            others = [o.geometry for o in grids.cells if o.code != cell.code]
            assert all(shared_length(cell.geometry, o) < 1e-3 * DLAT for o in others), cell.code


def test_slivers_join_a_neighbour() -> None:
    # The east edge sits 5 % of a cell past a lattice line: every piece there is a sliver and must be merged.
    poly = box(1_201_000 * DLON + 0.3 * DLON, 302_000 * DLAT + 0.4 * DLAT, 1_201_006 * DLON + 0.05 * DLON,
               302_005 * DLAT + 0.4 * DLAT)
    grids = generate_grids(COMMUNITY, poly, ref_lat=LAT)
    assert all(c.geometry.area >= SLIVER_FRACTION * DLON * DLAT for c in grids.cells)
    assert sum(c.geometry.area for c in grids.cells) == pytest.approx(poly.area, rel=1e-12)
    # Columns 0.7 + 5 × 1 (+ 0.05, merged away), rows 0.6 + 4 × 1 + 0.4: 6 × 6 cells.
    assert len(grids.cells) == 6 * 6


def test_isolated_sliver_stays_its_own_cell() -> None:
    main = box(1_201_000 * DLON, 302_000 * DLAT, 1_201_003 * DLON, 302_003 * DLAT)
    speck = box(1_201_010.4 * DLON, 302_001.4 * DLAT, 1_201_010.5 * DLON, 302_001.5 * DLAT)
    grids = generate_grids(COMMUNITY, MultiPolygon([main, speck]), ref_lat=LAT)
    assert len(grids.cells) == 10
    assert sum(1 for c in grids.cells if c.geometry.area < SLIVER_FRACTION * DLON * DLAT) == 1


def test_sequence_runs_row_by_row_from_the_north() -> None:
    square = box(1_201_000 * DLON, 302_000 * DLAT, 1_201_004 * DLON, 302_003 * DLAT)
    cells = generate_grids(COMMUNITY, square, ref_lat=LAT).cells
    assert len(cells) == 12
    rows = [round(c.center_lat / DLAT - 0.5) for c in cells]
    cols = [round(c.center_lon / DLON - 0.5) for c in cells]
    assert rows == sorted(rows, reverse=True)
    assert list(zip(rows, cols, strict=True)) == sorted(zip(rows, cols, strict=True), key=lambda rc: (-rc[0], rc[1]))


def test_neighbouring_communities_share_lattice_lines() -> None:
    # A straight border half-way through a row of the lattice; the communities end half-way through columns.
    x0, x1 = (1_201_000 + 0.5) * DLON, (1_201_012 + 0.5) * DLON
    y_mid = (302_005 + 0.5) * DLAT
    north = box(x0, y_mid, x1, 302_010 * DLAT)
    south = box(x0, 302_000 * DLAT, x1, y_mid)
    a = generate_grids("330108001001", north, ref_lat=LAT)
    b = generate_grids("330108001002", south, ref_lat=LAT)

    def border_xs(grids: GridSet) -> set[float]:
        return {round(x / DLON, 9) for c in grids.cells for x, y in shapely.get_coordinates(c.geometry).tolist()
                if abs(y - y_mid) < 1e-12}

    assert border_xs(a) == border_xs(b)
    assert len(border_xs(a)) == 12 + 2  # 12 lattice lines inside plus the two ends
    together = shapely.union_all([c.geometry for c in a.cells + b.cells])
    assert together.symmetric_difference(north.union(south)).area < 1e-9 * together.area


def test_every_vertex_is_on_the_lattice_or_the_boundary(irregular: tuple[Polygon, GridSet]) -> None:
    poly, grids = irregular
    boundary = poly.boundary
    for cell in grids.cells:
        for x, y in shapely.get_coordinates(cell.geometry).tolist():
            on_lattice = abs(x / DLON - round(x / DLON)) < 1e-6 or abs(y / DLAT - round(y / DLAT)) < 1e-6
            assert on_lattice or boundary.distance(Point(x, y)) < 1e-12


def test_too_many_cells_grow_the_size() -> None:
    poly = blob(5, 120.30, 30.30, 1000.0)
    grids = generate_grids(COMMUNITY, poly, ref_lat=LAT, max_cells=60)
    assert grids.size_m > 100.0
    assert 0 < len(grids.cells) <= 60
    assert sum(c.geometry.area for c in grids.cells) == pytest.approx(poly.area, rel=1e-9)
    big = box(120.0, 30.0, 120.0 + 40 * DLON, 30.0 + 30 * DLAT)  # 1 200 full cells at 100 m
    grown = generate_grids(COMMUNITY, big, ref_lat=LAT)
    assert grown.size_m > 100.0
    assert len(grown.cells) <= 999
    assert grown.cells[-1].code == f"{COMMUNITY}{len(grown.cells):03d}"


def test_same_input_same_grids(irregular: tuple[Polygon, GridSet]) -> None:
    poly, grids = irregular
    again = generate_grids(COMMUNITY, poly, ref_lat=LAT)
    assert [(c.code, c.geometry.wkb, c.center_lon, c.center_lat) for c in again.cells] == [
        (c.code, c.geometry.wkb, c.center_lon, c.center_lat) for c in grids.cells]


def test_bad_input_is_refused() -> None:
    square = box(120.0, 30.0, 120.01, 30.01)
    with pytest.raises(ValueError, match="12 digits"):
        generate_grids("33010800100", square, ref_lat=LAT)
    with pytest.raises(ValueError, match="valid"):
        generate_grids(COMMUNITY, Polygon(), ref_lat=LAT)
    with pytest.raises(ValueError, match="max_cells"):
        generate_grids(COMMUNITY, square, ref_lat=LAT, max_cells=1000)
