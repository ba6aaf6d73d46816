"""AreaIndex: where a point is, for one point or a million.

The index holds every district, street, community and unit grid as shapely geometries in STRtrees, built
once per process and rebuilt when the map changes (a new `area_revisions` row). Grids answer first: a grid
names its community, and the community its street and district, so most points need one tree query.
Points with no grid (outside the gridded districts) fall through to the communities, then the streets,
then the districts; a point no district contains is outside the city.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from cityloop.areas.models import AreaRevision, Grid, Landmark, Territory, TerritoryLevel
from cityloop.core.errors import ValidationFailed

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Points are located in chunks so a million-point import never holds a million shapely points at once.
_CHUNK = 200_000
# A named feature farther than this is no help in a 方位描述.
_LANDMARK_RADIUS_M = 3000.0
_M_PER_DEG_LAT = 111_320.0


class OutsideCity(ValidationFailed):
    code = "outside_city"


class NoMap(ValidationFailed):
    code = "no_map"


@dataclass(frozen=True)
class Named:
    code: str
    name: str
    synthetic: bool

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "synthetic": self.synthetic}


@dataclass(frozen=True)
class Location:
    lon: float
    lat: float
    district: Named
    street: Named | None
    community: Named | None
    grid_code: str | None
    landmark: str | None  # "断桥东北约120米"

    @property
    def description(self) -> str:
        """方位描述: district, street, community, grid and the nearest named feature."""
        parts = [self.district.name]
        parts += [t.name for t in (self.street, self.community) if t is not None]
        if self.grid_code:
            parts.append(f"网格{self.grid_code}")
        text = " ".join(parts)
        return f"{text}，{self.landmark}" if self.landmark else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "lon": self.lon, "lat": self.lat,
            "district": self.district.to_dict(),
            "street": self.street.to_dict() if self.street else None,
            "community": self.community.to_dict() if self.community else None,
            "grid": {"code": self.grid_code} if self.grid_code else None,
            "description": self.description,
        }


@dataclass(frozen=True)
class BulkLocation:
    """Per point, the index of its territory at each level (-1 where there is none)."""

    district: IntArray
    street: IntArray
    community: IntArray
    grid: IntArray

    @property
    def inside(self) -> NDArray[np.bool_]:
        return self.district >= 0


class _Layer:
    """One level of the map: codes, names and an STRtree over the geometries."""

    def __init__(self, codes: list[str], names: list[str], synthetic: list[bool], parent: IntArray,
                 geometries: Sequence[bytes], *, prepare: bool = True) -> None:
        self.codes = codes
        self.names = names
        self.synthetic = synthetic
        self.parent = parent
        geoms = shapely.from_wkb(np.asarray(geometries, dtype=object)) if geometries else np.empty(0, object)
        if prepare:
            # Territory outlines have thousands of vertices: preparing them speeds a point test many times over.
            # Grids are a handful of vertices each, where preparing buys no speed and costs ~40 MB per 270 000.
            shapely.prepare(geoms)
        self.tree = shapely.STRtree(geoms)
        self.size = len(codes)

    def named(self, i: int) -> Named:
        return Named(self.codes[i], self.names[i], self.synthetic[i])

    def query(self, points: Any) -> IntArray:
        """The index of the geometry containing each point, or -1; on a shared border the lower index wins."""
        found = np.full(len(points), -1, dtype=np.int64)
        if self.size == 0 or len(points) == 0:
            return found
        point_idx, geom_idx = self.tree.query(points, predicate="intersects")
        if len(point_idx):
            # Ordered by point then geometry: the first hit per point is the lowest geometry index.
            order = np.lexsort((geom_idx, point_idx))
            point_idx, geom_idx = point_idx[order], geom_idx[order]
            first = np.r_[True, point_idx[1:] != point_idx[:-1]]
            found[point_idx[first]] = geom_idx[first]
        return found


def _up(found: IntArray, parent: IntArray) -> IntArray:
    """The parent index of each found item; -1 stays -1."""
    out = np.full(len(found), -1, dtype=np.int64)
    hit = found >= 0
    out[hit] = parent[found[hit]]
    return out


class AreaIndex:
    def __init__(self, token: str, layers: dict[TerritoryLevel, _Layer], grids: _Layer,
                 landmarks: tuple[list[str], FloatArray, FloatArray]) -> None:
        self.token = token
        self.districts = layers[TerritoryLevel.DISTRICT]
        self.streets = layers[TerritoryLevel.STREET]
        self.communities = layers[TerritoryLevel.COMMUNITY]
        self.grids = grids
        self.landmark_names, self.landmark_lon, self.landmark_lat = landmarks

    @property
    def empty(self) -> bool:
        return self.districts.size == 0

    def locate_many(self, lons: FloatArray, lats: FloatArray) -> BulkLocation:
        """Vectorised: WGS-84 arrays in, territory indices out."""
        n = len(lons)
        district = np.full(n, -1, dtype=np.int64)
        street = np.full(n, -1, dtype=np.int64)
        community = np.full(n, -1, dtype=np.int64)
        grid = np.full(n, -1, dtype=np.int64)
        for start in range(0, n, _CHUNK):
            sl = slice(start, start + _CHUNK)
            points: NDArray[np.object_] = np.asarray(shapely.points(np.asarray(lons[sl], dtype=np.float64),
                                                                   np.asarray(lats[sl], dtype=np.float64)))
            g = self.grids.query(points)
            c = _up(g, self.grids.parent)
            todo = np.flatnonzero(c < 0)
            if len(todo):
                c[todo] = self.communities.query(points[todo])
            s = _up(c, self.communities.parent)
            todo = np.flatnonzero(s < 0)
            if len(todo):
                s[todo] = self.streets.query(points[todo])
            d = _up(s, self.streets.parent)
            todo = np.flatnonzero(d < 0)
            if len(todo):
                d[todo] = self.districts.query(points[todo])
            grid[sl], community[sl], street[sl], district[sl] = g, c, s, d
        return BulkLocation(district=district, street=street, community=community, grid=grid)

    def locate(self, lon: float, lat: float) -> Location:
        """One WGS-84 point. Raises NoMap without territories and OutsideCity when no district holds it."""
        if self.empty:
            raise NoMap("no map is loaded: import territories first (cityloop geo import)", field="lon")
        found = self.locate_many(np.array([lon]), np.array([lat]))
        where = self.location(found, 0, lon, lat)
        if where is None:
            raise OutsideCity(f"lon/lat: ({lon}, {lat}) lies outside the city: no district contains it",
                              field="lon")
        return where

    def location(self, found: BulkLocation, i: int, lon: float, lat: float) -> Location | None:
        """Point `i` of a bulk result as a Location; None when it lies outside the city."""
        d, s, c, g = (int(found.district[i]), int(found.street[i]), int(found.community[i]), int(found.grid[i]))
        if d < 0:
            return None
        return Location(
            lon=lon, lat=lat, district=self.districts.named(d),
            street=self.streets.named(s) if s >= 0 else None,
            community=self.communities.named(c) if c >= 0 else None,
            grid_code=self.grids.codes[g] if g >= 0 else None,
            landmark=self.nearest_landmark(lon, lat))

    def nearest_landmark(self, lon: float, lat: float) -> str | None:
        if len(self.landmark_names) == 0:
            return None
        kx = math.cos(math.radians(lat)) * _M_PER_DEG_LAT
        dx = (lon - self.landmark_lon) * kx
        dy = (lat - self.landmark_lat) * _M_PER_DEG_LAT
        dist = np.hypot(dx, dy)
        i = int(np.argmin(dist))
        if dist[i] > _LANDMARK_RADIUS_M:
            return None
        return f"{self.landmark_names[i]}{_bearing(float(dx[i]), float(dy[i]), float(dist[i]))}"


_DIRECTIONS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")


def _bearing(dx: float, dy: float, dist: float) -> str:
    """Where the point lies as seen from the landmark: "东北约120米"; within 30 m, "附近"."""
    if dist < 30:
        return "附近"
    sector = round(math.degrees(math.atan2(dy, dx)) / 45) % 8
    step = 10 if dist < 1000 else 100
    return f"{_DIRECTIONS[sector]}约{round(dist / step) * step}米"


# --- one index per database, rebuilt when the map changes ------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, AreaIndex] = {}


def current_token(session: Session) -> str:
    token = session.scalar(sa.select(AreaRevision.token).order_by(AreaRevision.id.desc()).limit(1))
    return token or ""


def get_index(session: Session) -> AreaIndex:
    """The index for this session's database at its current map revision (one small query when fresh)."""
    token = current_token(session)
    key = session.get_bind().engine.url.render_as_string(hide_password=False)
    cached = _cache.get(key)
    if cached is not None and cached.token == token:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached.token != token:
            cached = _cache[key] = _build(session, token)
    return cached


def _build(session: Session, token: str) -> AreaIndex:
    rows = session.execute(sa.select(Territory.id, Territory.code, Territory.name, Territory.level,
                                     Territory.parent_id, Territory.synthetic, Territory.geometry)
                           .where(Territory.level != TerritoryLevel.CITY).order_by(Territory.code)).all()
    by_level: dict[TerritoryLevel, list[Any]] = {lvl: [] for lvl in TerritoryLevel}
    for row in rows:
        by_level[row.level].append(row)
    pos = {lvl: {r.id: i for i, r in enumerate(by_level[lvl])} for lvl in TerritoryLevel}
    parent_level = {TerritoryLevel.STREET: TerritoryLevel.DISTRICT, TerritoryLevel.COMMUNITY: TerritoryLevel.STREET}
    layers: dict[TerritoryLevel, _Layer] = {}
    for lvl in (TerritoryLevel.DISTRICT, TerritoryLevel.STREET, TerritoryLevel.COMMUNITY):
        items = by_level[lvl]
        up = parent_level.get(lvl)
        parent = np.array([pos[up].get(r.parent_id, -1) if up else -1 for r in items], dtype=np.int64)
        layers[lvl] = _Layer([r.code for r in items], [r.name for r in items], [r.synthetic for r in items],
                             parent, [r.geometry for r in items])
    community_pos = pos[TerritoryLevel.COMMUNITY]
    grid_rows = session.execute(sa.select(Grid.code, Grid.community_id, Grid.synthetic, Grid.geometry)
                                .order_by(Grid.code)).all()
    grids = _Layer([r.code for r in grid_rows], [r.code for r in grid_rows], [r.synthetic for r in grid_rows],
                   np.array([community_pos.get(r.community_id, -1) for r in grid_rows], dtype=np.int64),
                   [r.geometry for r in grid_rows], prepare=False)
    marks = session.execute(sa.select(Landmark.name, Landmark.lon, Landmark.lat)).all()
    landmarks = ([m.name for m in marks], np.array([m.lon for m in marks], dtype=np.float64),
                 np.array([m.lat for m in marks], dtype=np.float64))
    return AreaIndex(token, layers, grids, landmarks)


def locate(session: Session, lon: float, lat: float) -> Location:
    return get_index(session).locate(lon, lat)


def locate_or_none(session: Session, lon: float, lat: float) -> Location | None:
    """None where no map is loaded yet (a fresh install); OutsideCity still raises."""
    index = get_index(session)
    return None if index.empty else index.locate(lon, lat)
