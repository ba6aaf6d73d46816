"""Synthetic streets (街道) and communities (社区) inside a real district boundary: pure numpy + shapely.

Real street and community boundaries of Hangzhou are not openly licensed, so the demo invents them: a Voronoi
partition of random seeds, relaxed by Lloyd iterations into compact cells, clipped to the district, then the same
inside each street. Every name carries 合成 so that a screenshot cannot pass them off as real divisions.

Areas are in km² on an equirectangular approximation: degrees² × (111 320 m)² × cos(latitude of the polygon's own
centroid). Over a district's span of latitude (under 1° here) the cosine varies by well under 1 %, the errors on
the two sides of the centroid largely cancel, and the spherical constant differs from the WGS-84 ellipsoid by
about 0.3 % at 30° N: good enough to size synthetic divisions, not for any official figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from cityloop.areas.gridgen import M_PER_DEG

Area = Polygon | MultiPolygon
FloatArray = npt.NDArray[np.float64]

LLOYD_ITERATIONS = 3
MAX_NAME_LENGTH = 50  # SZJDMC / SZSQMC are 50 characters (GB/T 47678.5-2026, domain.md §4.4)
# Gridded communities stay near this size, so that 1 ha grids number far below the 999 a code can hold.
GRIDDED_COMMUNITY_KM2 = 5.0
UNGRIDDED_COMMUNITY_KM2 = 15.0

_DIGITS = "一二三四五六七八九"


@dataclass(frozen=True)
class SynthArea:
    code: str
    name: str
    level: str  # "street" or "community"
    parent_code: str
    geometry: Area
    area_km2: float


def cn(n: int) -> str:
    """Chinese numeral for 1..99: 1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 99 → 九十九."""
    if not 1 <= n <= 99:
        raise ValueError(f"cn() covers 1..99, got {n}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens - 1] + "十")
    return head + (_DIGITS[ones - 1] if ones else "")


def short_name(district_name: str) -> str:
    """上城区 → 上城, 桐庐县 → 桐庐, 建德市 → 建德: the name without its level suffix."""
    return district_name[:-1] if len(district_name) > 1 and district_name[-1] in "区县市" else district_name


def area_km2(geom: Area) -> float:
    """Approximate area in km² (see the module docstring for the approximation)."""
    if geom.is_empty:
        return 0.0
    lat = shapely.centroid(geom).y
    return float(geom.area) * M_PER_DEG * M_PER_DEG * math.cos(math.radians(lat)) / 1e6


def street_count(district_km2: float) -> int:
    return _clamp(_round_half_up(1.1 * math.sqrt(district_km2)), 6, 25)


def community_count(street_km2: float, *, gridded: bool) -> int:
    if gridded:
        return _clamp(math.ceil(street_km2 / GRIDDED_COMMUNITY_KM2), 3, 40)
    return _clamp(_round_half_up(street_km2 / UNGRIDDED_COMMUNITY_KM2), 3, 12)


def synthesize_divisions(district_code: str, district_name: str, polygon: BaseGeometry, *, seed: int,
                         gridded: bool) -> list[SynthArea]:
    """Streets, then communities, of one district: streets in code order, each followed by its communities.

    Codes: street = district code + 001…, community = street code + 001…, numbered in reading order of the cells'
    final seeds: bands from north to south (band height = the side of an average cell), west to east inside a band.
    `gridded` picks the small community size of the central districts that get unit grids.
    """
    if len(district_code) != 6 or not district_code.isdigit():
        raise ValueError(f"district code must be 6 digits, got {district_code!r}")
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty or not polygon.is_valid:
        raise ValueError(f"district {district_code}: a valid, non-empty (Multi)Polygon is required")
    short = short_name(district_name)
    out: list[SynthArea] = []
    streets = _partition(polygon, street_count(area_km2(polygon)), np.random.default_rng([seed, 0]))
    for s, street_geom in enumerate(streets, start=1):
        street_code = f"{district_code}{s:03d}"
        street_name = f"{short}合成{cn(s)}街道"
        street_km2 = area_km2(street_geom)
        out.append(SynthArea(street_code, _checked(street_name), "street", district_code, street_geom, street_km2))
        # One generator per street: a street's communities do not depend on how many draws the others took.
        rng = np.random.default_rng([seed, s])
        prefix = street_name.removesuffix("街道")
        for c, geom in enumerate(_partition(street_geom, community_count(street_km2, gridded=gridded), rng),
                                 start=1):
            out.append(SynthArea(f"{street_code}{c:03d}", _checked(f"{prefix}{c}社区"), "community", street_code,
                                 geom, area_km2(geom)))
    return out


def _partition(polygon: Area, n: int, rng: np.random.Generator) -> list[Area]:
    """n cells tiling `polygon`, in reading order.

    Seeds move in a local metric frame, so that Lloyd's centroids make cells compact in metres rather than in
    degrees; the final Voronoi cells go back to degrees before clipping, so the clip is against the exact input
    boundary and the cells tile it up to float noise.
    """
    lon0, lat0 = shapely.centroid(polygon).coords[0]
    kx = M_PER_DEG * math.cos(math.radians(lat0))
    to_m = _affine(kx, M_PER_DEG, -lon0 * kx, -lat0 * M_PER_DEG)
    to_deg = _affine(1 / kx, 1 / M_PER_DEG, lon0, lat0)
    metric = shapely.transform(polygon, to_m)
    shapely.prepare(metric)
    frame = shapely.buffer(shapely.envelope(metric), max(math.sqrt(metric.area), 1.0))
    seeds = _sample(metric, n, rng)
    for _ in range(LLOYD_ITERATIONS):
        cells = shapely.intersection(_voronoi(seeds, frame), metric)
        centroids = shapely.centroid(cells)
        # A centroid outside a concave boundary would leave the seed's next cell possibly empty; a point on the
        # cell's surface keeps every seed inside the district, hence every cell non-empty.
        inside = shapely.contains_properly(metric, centroids)
        moved = np.where(inside, centroids, shapely.point_on_surface(cells))
        ok = ~shapely.is_empty(moved)
        seeds[ok] = shapely.get_coordinates(moved[ok])
    cells_deg = shapely.transform(_voronoi(seeds, frame), to_deg)
    clipped = _absorb_crumbs([_areal(g) for g in shapely.intersection(cells_deg, polygon).tolist()])
    band = math.sqrt(metric.area / n)
    top = metric.bounds[3]
    order = sorted(range(n), key=lambda k: (math.floor((top - seeds[k, 1]) / band), seeds[k, 0], -seeds[k, 1]))
    return [clipped[k] for k in order]


def _absorb_crumbs(cells: list[Area]) -> list[Area]:
    """Hand each detached piece of a cell to the neighbour sharing the longest boundary with it.

    A convex Voronoi cell clipped by a concave boundary can fall apart (a strip beyond a bend of the river); a
    street in two pieces is odd, and a detached crumb is better placed in the cell it actually borders. A piece
    that borders no other cell (an island of the district) stays where it is. Boundary lengths are measured on a
    thin strip, since two cells' clip points along the outer boundary need not match to the last bit.
    """
    cells = list(cells)
    eps = math.sqrt(sum(c.area for c in cells)) * 1e-7
    for k in range(len(cells)):
        parts = sorted(shapely.get_parts(cells[k]).tolist(), key=lambda p: -p.area)
        if len(parts) < 2:
            continue
        kept: list[Polygon] = [parts[0]]
        for crumb in parts[1:]:
            strip = shapely.buffer(crumb, eps, quad_segs=1, join_style="mitre")
            shared = [(float(shapely.area(shapely.intersection(strip, c))) / eps if j != k else 0.0, -j)
                      for j, c in enumerate(cells)]
            length, neg_j = max(shared)
            if length > 8 * eps:
                cells[-neg_j] = _areal(shapely.union(cells[-neg_j], crumb))
            else:
                kept.append(crumb)
        cells[k] = kept[0] if len(kept) == 1 else MultiPolygon(kept)
    return cells


def _sample(metric: Area, n: int, rng: np.random.Generator) -> FloatArray:
    """n points drawn uniformly inside the polygon, by rejection from its bounding box."""
    minx, miny, maxx, maxy = metric.bounds
    found: list[FloatArray] = []
    have = 0
    while have < n:
        batch = max(4 * n, 64)
        xy = np.column_stack([rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)])
        hit = xy[shapely.contains_xy(metric, xy[:, 0], xy[:, 1])]
        found.append(hit)
        have += len(hit)
    return np.concatenate(found)[:n]


def _voronoi(seeds: FloatArray, frame: shapely.Geometry) -> npt.NDArray[np.object_]:
    """Voronoi cells in the order of the seeds."""
    diagram = shapely.voronoi_polygons(MultiPoint([Point(x, y) for x, y in seeds.tolist()]), extend_to=frame,
                                       ordered=True)
    return shapely.get_parts(diagram)


def _affine(ax: float, ay: float, bx: float, by: float) -> Callable[[FloatArray], FloatArray]:
    def apply(coords: FloatArray) -> FloatArray:
        return np.column_stack([coords[:, 0] * ax + bx, coords[:, 1] * ay + by])
    return apply


def _areal(geom: shapely.Geometry) -> Area:
    """The polygonal part of a clip: a Voronoi edge running along the boundary may leave a line behind."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [p for p in shapely.get_parts(geom).tolist() if isinstance(p, Polygon) and p.area > 0]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _checked(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"synthetic name over {MAX_NAME_LENGTH} characters: {name}")
    return name


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)
