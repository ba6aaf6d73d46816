"""Unit grids (万米单元网格) cut from a community polygon: pure numpy + shapely, WGS-84 lon/lat degrees.

The lattice is global rather than anchored at each community, so two neighbouring communities gridded with the
same size and reference latitude get cells whose edges coincide along their shared border: a street's grids then
read as one unbroken pattern on the map. A cell is the part of one lattice square inside the community; pieces too
small to patrol (slivers) are merged into a neighbour, so no area is lost and no grid is a crumb.

Codes follow domain.md §5.1: the 12-digit community code + a 3-digit sequence (001-999), row by row from the north,
west to east within a row. When the community needs more than 999 cells the size grows until it fits: a larger
grid beats an unaddressable one, and the chosen size is returned so the caller can record it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

# Metres per degree of latitude (and of longitude at the equator). A spherical constant is enough: grids are
# nominal 万米 squares, not survey parcels, and gridgen and synth must agree on it.
M_PER_DEG = 111_320.0
# A clipped piece below this fraction of a full cell is a sliver: merged away rather than coded.
SLIVER_FRACTION = 0.2
# Each retry grows the size a little beyond the square-root estimate, so that the loop ends in one or two rounds.
GROWTH_MARGIN = 1.05
MAX_SEQUENCE = 999

_POLYGON = shapely.GeometryType.POLYGON
_COLLECTIONS = (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.GEOMETRYCOLLECTION,
                shapely.GeometryType.MULTILINESTRING, shapely.GeometryType.MULTIPOINT)

Cellgeom = Polygon | MultiPolygon
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GridCell:
    code: str
    geometry: Cellgeom
    center_lon: float  # a point inside the cell (the centroid unless that falls outside)
    center_lat: float
    area_m2: float     # approximate: degrees² scaled by the local metres per degree at ref_lat


@dataclass(frozen=True)
class GridSet:
    cells: list[GridCell]
    size_m: float  # the cell size used, which exceeds the one asked for when 999 cells were not enough


@dataclass(frozen=True)
class _Pieces:
    geoms: npt.NDArray[np.object_]
    col: IntArray  # lattice column (lon index) of each piece
    row: IntArray  # lattice row (lat index)
    area: FloatArray


def lattice_step(size_m: float, ref_lat: float) -> tuple[float, float]:
    """(dlon, dlat) in degrees of a size_m square cell at ref_lat."""
    return size_m / (M_PER_DEG * math.cos(math.radians(ref_lat))), size_m / M_PER_DEG


def generate_grids(community_code: str, polygon: BaseGeometry, *, size_m: float = 100.0,
                   ref_lat: float, max_cells: int = MAX_SEQUENCE) -> GridSet:
    """Cut `polygon` into unit grids of about size_m × size_m metres on the global lattice.

    Pass the same `ref_lat` (e.g. the city's latitude) for every community of a city: the lattice depends on it, and
    only equal lattices line up along shared borders. A community that grows its size loses that alignment.
    """
    if len(community_code) != 12 or not community_code.isdigit():
        raise ValueError(f"community code must be 12 digits, got {community_code!r}")
    if not 1 <= max_cells <= MAX_SEQUENCE:
        raise ValueError(f"max_cells must be within 1..{MAX_SEQUENCE}")
    if size_m <= 0 or not abs(ref_lat) < 85:
        raise ValueError("size_m must be positive and ref_lat within ±85°")
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty or not polygon.is_valid:
        raise ValueError(f"community {community_code}: a valid, non-empty (Multi)Polygon is required")
    shapely.prepare(polygon)
    full_m2 = M_PER_DEG * M_PER_DEG * math.cos(math.radians(ref_lat))  # m² per degree²
    while True:
        dlon, dlat = lattice_step(size_m, ref_lat)
        # A cell is one piece of at most a full square plus the slivers it absorbed; an average of two squares per
        # cell is beyond what merging does, so a lattice that would need it is skipped unbuilt (a huge polygon
        # would otherwise cost millions of boxes before the first retry).
        at_least = polygon.area / (dlon * dlat * 2)
        if at_least > max_cells:
            size_m *= math.sqrt(at_least / max_cells) * GROWTH_MARGIN
            continue
        cells = _cells(polygon, dlon, dlat)
        if len(cells) <= max_cells:
            break
        size_m *= math.sqrt(len(cells) / max_cells) * GROWTH_MARGIN
    return GridSet(_coded(community_code, cells, full_m2), size_m)


def _cells(polygon: Polygon | MultiPolygon, dlon: float, dlat: float) -> list[tuple[Cellgeom, int, int]]:
    """(geometry, lattice column, lattice row) of each cell after merging slivers, in no particular order."""
    pieces = _clip(polygon, dlon, dlat)
    threshold = SLIVER_FRACTION * dlon * dlat
    groups = _merge_slivers(pieces, threshold, min(dlon, dlat))
    cells: list[tuple[Cellgeom, int, int]] = []
    for members in groups:
        # The group's lattice square is that of its largest piece: the sliver joins it, not the other way round.
        main = max(members, key=lambda p: (pieces.area[p], -p))
        geom = pieces.geoms[main] if len(members) == 1 else _polygonal(shapely.union_all(pieces.geoms[members]))
        cells.append((geom, int(pieces.col[main]), int(pieces.row[main])))
    return cells


def _clip(polygon: Polygon | MultiPolygon, dlon: float, dlat: float) -> _Pieces:
    minx, miny, maxx, maxy = polygon.bounds
    c0, c1 = _span(minx, maxx, dlon)
    r0, r1 = _span(miny, maxy, dlat)
    # Integer multiples, computed the same way for every community: neighbours share bit-identical edges.
    xs = np.arange(c0, c1 + 1, dtype=np.float64) * dlon
    ys = np.arange(r0, r1 + 1, dtype=np.float64) * dlat
    mesh_c, mesh_r = np.meshgrid(np.arange(c1 - c0), np.arange(r1 - r0))
    cc, rr = mesh_c.ravel(), mesh_r.ravel()
    boxes = shapely.box(xs[cc], ys[rr], xs[cc + 1], ys[rr + 1])
    hit = shapely.intersects(polygon, boxes)
    boxes, cc, rr = boxes[hit], cc[hit], rr[hit]
    inside = shapely.contains_properly(polygon, boxes)
    edge = ~inside
    clipped = shapely.intersection(boxes[edge], polygon)
    parts, owner = shapely.get_parts(clipped, return_index=True)
    while len(parts) and np.isin(shapely.get_type_id(parts), _COLLECTIONS).any():
        parts, sub = shapely.get_parts(parts, return_index=True)
        owner = owner[sub]
    # Touching boxes leave lines and points behind: only areas are cells.
    keep = (shapely.get_type_id(parts) == _POLYGON) & (shapely.area(parts) > 0)
    parts, owner = parts[keep], owner[keep]
    geoms = np.concatenate([boxes[inside], parts])
    col = np.concatenate([cc[inside], cc[edge][owner]]).astype(np.int64) + c0
    row = np.concatenate([rr[inside], rr[edge][owner]]).astype(np.int64) + r0
    return _Pieces(geoms, col, row, shapely.area(geoms))


def _span(lo: float, hi: float, step: float) -> tuple[int, int]:
    """Lattice indices [first, last) of the cells covering [lo, hi], safe against rounding at exact multiples."""
    first = math.floor(lo / step)
    if first * step > lo:
        first -= 1
    last = math.ceil(hi / step)
    if last * step < hi:
        last += 1
    return first, max(last, first + 1)


def _merge_slivers(pieces: _Pieces, threshold: float, side: float) -> list[list[int]]:
    """Groups of piece indices, one per cell: each sliver joins the neighbour sharing the longest boundary.

    Lengths are measured on a strip of width `eps` along the sliver's edge, because the two sides of a lattice line
    are clipped separately and their crossing points may differ in the last bits, which would make an exact
    boundary-overlap test miss real contacts. Groups that are still slivers try again (a sliver next to another
    sliver), and a group with no neighbour stays alone: a lone speck of the community must still belong to a grid.
    """
    n = len(pieces.geoms)
    slivers = np.flatnonzero(pieces.area < threshold)
    if len(slivers) == 0:
        return [[p] for p in range(n)]
    at: dict[tuple[int, int], list[int]] = defaultdict(list)
    for p, (c, r) in enumerate(zip(pieces.col.tolist(), pieces.row.tolist(), strict=True)):
        at[(c, r)].append(p)
    # Only edge neighbours can share a boundary of positive length; pieces of one square are disjoint.
    pair_a: list[int] = []
    pair_b: list[int] = []
    for s in slivers.tolist():
        c, r = int(pieces.col[s]), int(pieces.row[s])
        for key in ((c - 1, r), (c + 1, r), (c, r - 1), (c, r + 1)):
            for q in at.get(key, ()):
                pair_a.append(s)
                pair_b.append(q)
    adjacent: dict[int, list[tuple[int, float]]] = defaultdict(list)
    if pair_a:
        eps = side * 1e-6
        grown = dict(zip(slivers.tolist(), shapely.buffer(pieces.geoms[slivers], eps, quad_segs=1,
                                                          join_style="mitre").tolist(), strict=True))
        a = np.array(pair_a)
        b = np.array(pair_b)
        strips = shapely.intersection(np.array([grown[s] for s in pair_a], dtype=object), pieces.geoms[b])
        shared = shapely.area(strips) / eps
        # A corner contact leaves a speck of about eps²: not a shared boundary.
        for s, q, length in zip(a.tolist(), b.tolist(), shared.tolist(), strict=True):
            if length > 8 * eps:
                adjacent[s].append((q, length))
                adjacent[q].append((s, length))
    return _union_find(n, slivers.tolist(), adjacent, pieces.area.tolist(), threshold)


def _union_find(n: int, slivers: list[int], adjacent: dict[int, list[tuple[int, float]]], area: list[float],
                threshold: float) -> list[list[int]]:
    parent = list(range(n))
    members: dict[int, list[int]] = {p: [p] for p in range(n)}
    total = list(area)

    def find(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    changed = True
    while changed:
        changed = False
        small = sorted({find(s) for s in slivers if total[find(s)] < threshold}, key=lambda g: (total[g], g))
        for g in small:
            if find(g) != g or total[g] >= threshold:
                continue
            tally: dict[int, float] = defaultdict(float)
            for m in members[g]:
                for q, length in adjacent.get(m, ()):
                    h = find(q)
                    if h != g:
                        tally[h] += length
            if not tally:
                continue
            best = max(tally, key=lambda h: (tally[h], -h))
            parent[g] = best
            total[best] += total[g]
            members[best].extend(members.pop(g))
            changed = True
    return [members[g] for g in sorted(members)]


def _polygonal(geom: shapely.Geometry) -> Cellgeom:
    """The areal part of a union: merged pieces share edges, so the result is a Polygon or a MultiPolygon."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [p for p in shapely.get_parts(geom).tolist() if isinstance(p, Polygon) and p.area > 0]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _coded(community_code: str, cells: list[tuple[Cellgeom, int, int]], m2_per_deg2: float) -> list[GridCell]:
    geoms = np.array([g for g, _, _ in cells], dtype=object)
    centroids = shapely.centroid(geoms)
    inside = shapely.contains_properly(geoms, centroids)
    centers = np.where(inside, centroids, shapely.point_on_surface(geoms))
    lon = shapely.get_x(centers)
    lat = shapely.get_y(centers)
    areas = shapely.area(geoms)
    # North to south by lattice row, west to east within a row; pieces of one square by their own centre.
    order = sorted(range(len(cells)), key=lambda k: (-cells[k][2], cells[k][1], -lat[k], lon[k]))
    return [GridCell(code=f"{community_code}{seq:03d}", geometry=cells[k][0], center_lon=float(lon[k]),
                     center_lat=float(lat[k]), area_m2=float(areas[k]) * m2_per_deg2)
            for seq, k in enumerate(order, start=1)]
