"""Reads behind the live map (web/pages/map.py): case points with their deadline lights, heat points, boundaries
and unit grids, as GeoJSON in the datum the tiles use. Stored coordinates are WGS-84; conversion happens here,
at the edge, on whole arrays at once."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any, Literal

import numpy as np
import shapely
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.areas.models import Grid, Territory, TerritoryLevel
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.core.crs import gcj02_to_wgs84, wgs84_to_gcj02
from cityloop.core.errors import ValidationFailed
from cityloop.deadlines.models import Deadline, DeadlineState
from cityloop.web import geojson
from cityloop.web.geojson import Datum

StatusGroup = Literal["open", "overdue", "closed", "all"]
STATUS_GROUPS: dict[str, str] = {"open": "在办", "overdue": "已超时", "closed": "近期结案", "all": "在办及近期结案"}

CASE_CAP = 5000      # newest first; a map with more dots than this is a heatmap's job
HEAT_CAP = 20000
GRID_CAP = 3000
GRID_MAX_SPAN = 0.15  # degrees per side: about 15 km × 17 km, several screens at zoom 15
CLOSED_RECENT = timedelta(days=7)
NEARBY_M = 300.0
_M_PER_DEG_LAT = 111_320.0
# Grids are looked up by their centre; a 100 m cell reaches about 0.001° past it, so the box grows by that.
_GRID_MARGIN = 0.0015
# Per level: small enough to keep shared borders visibly shared, large enough to cut a district to a few KB.
_SIMPLIFY = {TerritoryLevel.DISTRICT: 0.0003, TerritoryLevel.STREET: 0.0002, TerritoryLevel.COMMUNITY: 0.0001}


@dataclass(frozen=True)
class BBox:
    """A WGS-84 box: min lon, min lat, max lon, max lat."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def parse_bbox(text: str, datum: Datum, *, max_span: float | None = None) -> BBox:
    """`minLon,minLat,maxLon,maxLat` in the request's datum → a WGS-84 box (422 naming bbox otherwise)."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationFailed("bbox: four numbers minLon,minLat,maxLon,maxLat", field="bbox")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ValidationFailed("bbox: longitudes and latitudes in range, minimum below maximum", field="bbox")
    if max_span is not None and (max_lon - min_lon > max_span or max_lat - min_lat > max_span):
        raise ValidationFailed(f"bbox: at most {max_span}° on a side here; zoom in", field="bbox")
    if datum == "gcj02":
        # The GCJ-02 offset varies smoothly (hundreds of metres), so the corners carry the whole box.
        lons, lats = gcj02_to_wgs84(np.array([min_lon, max_lon, min_lon, max_lon]),
                                    np.array([min_lat, min_lat, max_lat, max_lat]))
        return BBox(float(lons.min()), float(lats.min()), float(lons.max()), float(lats.max()))
    return BBox(min_lon, min_lat, max_lon, max_lat)


def _to_datum_arrays(lons: NDArray[np.float64], lats: NDArray[np.float64],
                     datum: Datum) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if datum == "gcj02" and len(lons):
        return wgs84_to_gcj02(lons, lats)
    return lons, lats


def _geometries_out(wkbs: list[bytes], datum: Datum, tolerance: float | None = None) -> list[dict[str, Any]]:
    """Stored WKB → GeoJSON geometries: simplified, moved into the datum and rounded to ~0.1 m, all vectorised.

    geojson.to_datum walks coordinate lists and cannot take polygons whose rings differ in length, so polygons
    are converted here with shapely before they become dicts.
    """
    if not wkbs:
        return []
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)

    def move(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        if datum == "gcj02":
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            coords = np.column_stack([lon, lat])
        return np.round(coords, 6)

    geoms = shapely.transform(geoms, move)
    return [shapely.geometry.mapping(g) for g in geoms]


# --- cases ------------------------------------------------------------------------------------------------------

def _running_lights(now: datetime) -> Any:
    """Per case with a running clock: red when one is past due, yellow when one passed its warning time.

    One grouped pass over the running deadlines (the partial index on pending rows) instead of a query per case;
    paused clocks (挂账) stand still and light nothing.
    """
    return (sa.select(Deadline.case_id,
                      sa.func.max(sa.case((Deadline.due_at <= now, 1), else_=0)).label("red"),
                      sa.func.max(sa.case((Deadline.warn_at <= now, 1), else_=0)).label("yellow"))
            .where(Deadline.state == DeadlineState.PENDING).group_by(Deadline.case_id).subquery("lights"))


def _status_clause(group: StatusGroup, now: datetime, red: Any) -> Any:
    open_ = Case.status.in_(sorted(wf.OPEN))
    recently_closed = sa.and_(Case.status == wf.Status.CLOSED, Case.closed_at >= now - CLOSED_RECENT)
    return {"open": open_, "overdue": sa.and_(open_, red == 1), "closed": recently_closed,
            "all": sa.or_(open_, recently_closed)}[group]


def case_color(status: wf.Status, urgent: bool, red: bool, yellow: bool) -> str:
    """The marker colour: grey when closed, red when overdue or urgent, yellow near a deadline, blue otherwise."""
    if status in wf.TERMINAL:
        return "grey"
    if red or urgent:
        return "red"
    return "yellow" if yellow else "blue"


def _popup(case_id: int, number: str, category: str, status: wf.Status, urgent: bool, supervised: bool,
           address: str) -> str:
    tags = "".join(f' <span class="badge {cls}">{label}</span>'
                   for cls, label, on in (("urgent", "紧急", urgent), ("supervised", "督办", supervised)) if on)
    where = f'<br><span class="small muted">{escape(address)}</span>' if address else ""
    return (f'<a href="/cases/{case_id}"><b>{escape(number)}</b></a>{tags}<br>{escape(category)}'
            f'<br><span class="badge status">{escape(wf.STATUS_LABELS[status])}</span>{where}')


@dataclass(frozen=True)
class CaseQuery:
    status: StatusGroup | None = "open"  # None: any status
    urgent: bool = False
    kind: Kind | None = None
    bbox: BBox | None = None


def _case_rows(session: Session, principal: Principal, q: CaseQuery, now: datetime, limit: int,
               extra: Any = None) -> list[Any]:
    lights = _running_lights(now)
    red = sa.func.coalesce(lights.c.red, 0)
    stmt = (sa.select(Case.id, Case.number, Case.status, Case.urgent, Case.supervised, Case.lon, Case.lat,
                      Case.address, Category.name.label("category"), red.label("red"),
                      sa.func.coalesce(lights.c.yellow, 0).label("yellow"))
            .join(Category, Category.id == Case.category_id)
            .outerjoin(lights, lights.c.case_id == Case.id)
            .where(access.visibility(principal))
            .order_by(Case.id.desc()).limit(limit))
    if q.status is not None:
        stmt = stmt.where(_status_clause(q.status, now, red))
    if q.urgent:
        stmt = stmt.where(Case.urgent.is_(True))
    if q.kind is not None:
        stmt = stmt.where(Case.kind == q.kind)
    if q.bbox is not None:
        b = q.bbox
        stmt = stmt.where(Case.lon.between(b.min_lon, b.max_lon), Case.lat.between(b.min_lat, b.max_lat))
    if extra is not None:
        stmt = stmt.where(extra)
    return list(session.execute(stmt))


def _case_features(rows: list[Any], datum: Datum, kind: str = "case") -> list[dict[str, Any]]:
    lons, lats = _to_datum_arrays(np.array([r.lon for r in rows], dtype=float),
                                  np.array([r.lat for r in rows], dtype=float), datum)
    features = []
    for r, lon, lat in zip(rows, lons.tolist(), lats.tolist(), strict=True):
        props = {"id": r.id, "number": r.number, "status": r.status.value,
                 "status_label": wf.STATUS_LABELS[r.status], "urgent": r.urgent, "supervised": r.supervised,
                 "light": "red" if r.red else ("yellow" if r.yellow else None),
                 "color": case_color(r.status, r.urgent, bool(r.red), bool(r.yellow)), "kind": kind,
                 "popup": _popup(r.id, r.number, r.category, r.status, r.urgent, r.supervised, r.address)}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                         "properties": props})
    return features


def cases_collection(session: Session, principal: Principal, q: CaseQuery, now: datetime,
                     datum: Datum, cap: int = CASE_CAP) -> dict[str, Any]:
    """The cases this principal may see, newest first; `capped` says when there were more than `cap`."""
    rows = _case_rows(session, principal, q, now, cap + 1)
    capped = len(rows) > cap
    return {**geojson.collection(_case_features(rows[:cap], datum)), "capped": capped, "cap": cap}


def heat_points(session: Session, principal: Principal, now: datetime, datum: Datum) -> list[list[float]]:
    """[lat, lon, weight] of the open cases: overdue and urgent ones weigh double."""
    rows = _case_rows(session, principal, CaseQuery(status="open"), now, HEAT_CAP)
    lons, lats = _to_datum_arrays(np.array([r.lon for r in rows], dtype=float),
                                  np.array([r.lat for r in rows], dtype=float), datum)
    weights = [1.0 if (r.red or r.urgent) else 0.5 for r in rows]
    return [[round(lat, 6), round(lon, 6), w] for lat, lon, w in zip(lats.tolist(), lons.tolist(), weights,
                                                                      strict=True)]


def case_surroundings(session: Session, principal: Principal, case: Case, now: datetime,
                      datum: Datum) -> dict[str, Any]:
    """The case page's mini-map: the case itself, its unit grid, and open cases within NEARBY_M that the
    principal may see."""
    dlat = NEARBY_M / _M_PER_DEG_LAT
    dlon = dlat / max(math.cos(math.radians(case.lat)), 0.01)
    box = BBox(case.lon - dlon, case.lat - dlat, case.lon + dlon, case.lat + dlat)
    # The case itself whatever its status: a case closed long ago is still the point of its page.
    features = _case_features(_case_rows(session, principal, CaseQuery(status=None), now, 1, Case.id == case.id),
                              datum)
    if case.grid_code:
        grid = session.execute(sa.select(Grid.code, Grid.geometry).where(Grid.code == case.grid_code)).first()
        if grid is not None:
            [geometry] = _geometries_out([grid.geometry], datum)
            features.append({"type": "Feature", "geometry": geometry,
                             "properties": {"kind": "grid", "code": grid.code, "name": f"网格 {grid.code}"}})
    near = _case_rows(session, principal, CaseQuery(status="open", bbox=box), now, 200, Case.id != case.id)
    near = [r for r in near if _metres(case.lon, case.lat, r.lon, r.lat) <= NEARBY_M]
    features.extend(_case_features(near, datum, kind="nearby"))
    return geojson.collection(features)


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    # Equirectangular: at a few hundred metres it agrees with the great circle to well under a metre.
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(x, math.radians(lat2 - lat1)) * 6_371_008.8


# --- areas --------------------------------------------------------------------------------------------------------

_territory_cache: dict[tuple[str, str, TerritoryLevel, Datum], dict[str, Any]] = {}
_cache_lock = threading.Lock()


def territories_collection(session: Session, level: TerritoryLevel, datum: Datum) -> dict[str, Any]:
    """Boundaries of one level, simplified. Kept per map revision: boundaries change only on a geo import."""
    token = area_index.current_token(session)
    key = (session.get_bind().engine.url.render_as_string(hide_password=False), token, level, datum)
    cached = _territory_cache.get(key) if token else None
    if cached is not None:
        return cached
    rows = session.execute(sa.select(Territory.code, Territory.name, Territory.synthetic, Territory.geometry)
                           .where(Territory.level == level).order_by(Territory.code)).all()
    geometries = _geometries_out([r.geometry for r in rows], datum, _SIMPLIFY.get(level))
    result = geojson.collection([
        {"type": "Feature", "geometry": g,
         "properties": {"code": r.code, "name": r.name, "level": level.value, "synthetic": r.synthetic}}
        for r, g in zip(rows, geometries, strict=True)])
    if token:
        with _cache_lock:
            if len(_territory_cache) >= 16:  # a few levels × datums × revisions; old revisions go first
                _territory_cache.pop(next(iter(_territory_cache)))
            _territory_cache[key] = result
    return result


def grids_collection(session: Session, box: BBox, datum: Datum, cap: int = GRID_CAP) -> dict[str, Any]:
    m = _GRID_MARGIN
    rows = session.execute(
        sa.select(Grid.code, Grid.geometry)
        .where(Grid.center_lon.between(box.min_lon - m, box.max_lon + m),
               Grid.center_lat.between(box.min_lat - m, box.max_lat + m))
        .order_by(Grid.code).limit(cap + 1)).all()
    capped = len(rows) > cap
    rows = rows[:cap]
    geometries = _geometries_out([r.geometry for r in rows], datum)
    features = [{"type": "Feature", "geometry": g, "properties": {"code": r.code, "name": f"网格 {r.code}"}}
                for r, g in zip(rows, geometries, strict=True)]
    return {**geojson.collection(features), "capped": capped, "cap": cap}
