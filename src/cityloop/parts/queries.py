"""Reads of the 部件 inventory: one part by its code, the parts nearest a reported point, counts for the console.

The nearest search needs no GIS extension, so it runs the same on SQLite and PostgreSQL: a bounding box on the
(lat, lon) index narrows the rows, and the exact distance is computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas.models import Territory, TerritoryLevel
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.geo import check_wgs84
from cityloop.parts.models import Part

EARTH_RADIUS_M = 6_371_008.8  # mean radius: haversine on the sphere is within 0.5 % of the ellipsoid
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
MAX_RADIUS_M = 2_000.0  # a report names the part it stands at, not one across the district
MAX_LIMIT = 100


def get(session: Session, code: str) -> Part:
    part = session.scalar(sa.select(Part).where(Part.code == code))
    if part is None:
        raise NotFound(f"code: no 部件 {code}", field="code")
    return part


def class_filter(category_code: str) -> sa.ColumnElement[bool]:
    """Parts of one class: a 5-digit GB/T 47678.5-2026 class (01001), a legacy 4-digit one (0101, whose minor is
    padded to 3 digits: 01001, domain.md §4.3) or a whole 2-digit major (01)."""
    code = category_code.strip()
    if not (code.isascii() and code.isdigit() and len(code) in (2, 4, 5)):
        raise ValidationFailed(f"category_code: '{category_code}' must be a 5-digit class (01001), a legacy 4-digit "
                               "one (0101) or a 2-digit major (01)", field="category_code")
    if len(code) == 2:
        return Part.category_code.startswith(code, autoescape=True)
    if len(code) == 4:
        code = f"{code[:2]}0{code[2:]}"
    return Part.category_code == code


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance on the mean-radius sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def nearest(session: Session, lon: float, lat: float, *, category_code: str | None = None,
            radius_m: float = 50, limit: int = 5) -> list[tuple[Part, float]]:
    """The parts within `radius_m` of a WGS-84 point, nearest first (ties by code), with their distances in
    metres. Raises ValidationFailed naming lon, lat, radius_m, limit or category_code."""
    check_wgs84(lon, lat)
    if not (math.isfinite(radius_m) and 0 < radius_m <= MAX_RADIUS_M):
        raise ValidationFailed(f"radius_m must be above 0 and at most {MAX_RADIUS_M:g} metres", field="radius_m")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    # 1 % slack and the cosine of the box's most poleward edge: no part within the radius may fall outside it.
    d_lat = radius_m * 1.01 / _M_PER_DEG
    edge = min(89.0, abs(lat) + d_lat)
    d_lon = radius_m * 1.01 / (_M_PER_DEG * math.cos(math.radians(edge)))
    stmt = sa.select(Part).where(Part.lat.between(lat - d_lat, lat + d_lat),
                                 Part.lon.between(lon - d_lon, lon + d_lon))
    if category_code:
        stmt = stmt.where(class_filter(category_code))
    found = [(p, distance_m(lon, lat, p.lon, p.lat)) for p in session.scalars(stmt)]
    found = [(p, d) for p, d in found if d <= radius_m]
    found.sort(key=lambda pd: (pd[1], pd[0].code))
    return found[:limit]


@dataclass(frozen=True)
class Count:
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class Summary:
    total: int
    synthetic: int
    by_district: list[Count]  # by the 区划 of the code's first six digits, by code
    by_class: list[Count]     # by class (category_code), by code
    by_district_class: list[tuple[str, str, int]]  # (district, class, count)


def summary(session: Session) -> Summary:
    """Counts of the inventory by district and class, named from the map and the national directory."""
    # Literal positions: a bound parameter in both SELECT and GROUP BY reads as two expressions to PostgreSQL.
    district = sa.func.substr(Part.code, sa.literal_column("1"), sa.literal_column("6"))
    rows = session.execute(sa.select(district, Part.category_code, sa.func.count())
                           .group_by(district, Part.category_code).order_by(district, Part.category_code)).all()
    synthetic = session.scalar(sa.select(sa.func.count()).select_from(Part).where(Part.synthetic.is_(True))) or 0
    district_names = dict(session.execute(
        sa.select(Territory.code, Territory.name).where(Territory.level == TerritoryLevel.DISTRICT)).all())
    class_names = {c.code: c.name for c in catalog_queries.list_categories(session, kind=Kind.PART,
                                                                          scheme=GBT_47678_2026)}
    per_district: dict[str, int] = {}
    per_class: dict[str, int] = {}
    cells = []
    for d, c, n in rows:
        per_district[d] = per_district.get(d, 0) + n
        per_class[c] = per_class.get(c, 0) + n
        cells.append((d, c, int(n)))
    return Summary(
        total=sum(per_district.values()), synthetic=int(synthetic),
        by_district=[Count(d, district_names.get(d, ""), n) for d, n in sorted(per_district.items())],
        by_class=[Count(c, class_names.get(c, ""), n) for c, n in sorted(per_class.items())],
        by_district_class=cells)
