"""Map edits: territories from GIS files, unit grids, patrol areas and named features. Never commits.

Every change writes an `area_revisions` row, so each process rebuilds its locate index on its next lookup.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from cityloop.areas import gridgen, synth
from cityloop.areas.models import (
    CODE_LENGTH,
    AreaRevision,
    Grid,
    Landmark,
    PatrolArea,
    Territory,
    TerritoryLevel,
)
from cityloop.areas.sources import FeatureSet
from cityloop.core.errors import ValidationFailed


def under_code(column: Any, prefix: str) -> Any:
    """`column` starts with the digit string `prefix`, as a range an index can serve (SQLite's LIKE cannot)."""
    return sa.and_(column >= prefix, column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def bump_revision(session: Session, now: datetime, note: str) -> None:
    session.add(AreaRevision(token=uuid.uuid4().hex, at=now, note=note[:300]))


def _parent_code(code: str, level: TerritoryLevel) -> str | None:
    if level is TerritoryLevel.STREET:
        return code[:6]
    if level is TerritoryLevel.COMMUNITY:
        return code[:9]
    return None


def _check_code(code: str, level: TerritoryLevel, where: str) -> None:
    want = CODE_LENGTH[level]
    if not re.fullmatch(rf"\d{{{want}}}", code):
        raise ValidationFailed(f"{where}: code {code!r} of a {level.value} must be {want} digits", field="code")


@dataclass(frozen=True)
class TerritoryInput:
    code: str
    name: str
    level: TerritoryLevel
    geometry: BaseGeometry
    synthetic: bool = False


def upsert_territories(session: Session, items: Sequence[TerritoryInput], *, now: datetime,
                       source: str) -> tuple[int, int]:
    """Insert or update by code, parents first; every street and community needs its parent on the map.

    Returns (inserted, updated). Raises ValidationFailed naming the offending item; nothing is half-stored
    because the caller's transaction rolls back.
    """
    order = {TerritoryLevel.CITY: 0, TerritoryLevel.DISTRICT: 1, TerritoryLevel.STREET: 2,
             TerritoryLevel.COMMUNITY: 3}
    existing = {t.code: t for t in session.scalars(sa.select(Territory))}
    city = next((t for t in existing.values() if t.level is TerritoryLevel.CITY), None)
    seen: set[str] = set()
    inserted = updated = 0
    for item in sorted(items, key=lambda i: (order[i.level], i.code)):
        where = f"{item.level.value} {item.code} ({item.name})"
        _check_code(item.code, item.level, where)
        if item.code in seen:
            raise ValidationFailed(f"{where}: code {item.code} appears twice in the input", field="code")
        seen.add(item.code)
        if not item.name.strip():
            raise ValidationFailed(f"{where}: name is empty", field="name")
        geom = item.geometry
        if geom.is_empty or not isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
            raise ValidationFailed(f"{where}: a territory needs a polygon, not {geom.geom_type}", field="geometry")
        parent: Territory | None
        if item.level is TerritoryLevel.DISTRICT:
            parent = city
        elif item.level is TerritoryLevel.CITY:
            parent = None
        else:
            pcode = _parent_code(item.code, item.level)
            parent = existing.get(pcode or "")
            if parent is None:
                raise ValidationFailed(f"{where}: its parent {pcode} is not on the map; import it first",
                                       field="code")
        minx, miny, maxx, maxy = geom.bounds
        values: dict[str, Any] = {
            "name": item.name.strip(), "level": item.level, "geometry": shapely.to_wkb(geom), "min_lon": minx,
            "min_lat": miny, "max_lon": maxx, "max_lat": maxy, "area_km2": synth.area_km2(geom),
            "synthetic": item.synthetic, "source": source[:300]}
        row = existing.get(item.code)
        if row is None:
            row = Territory(code=item.code, parent_id=parent.id if parent else None, created_at=now, **values)
            session.add(row)
            session.flush()  # flush: children in this same import name it as their parent
            existing[item.code] = row
            inserted += 1
        else:
            if row.level is not item.level:
                raise ValidationFailed(f"{where}: code {item.code} is already a {row.level.value}", field="level")
            for key, value in values.items():
                setattr(row, key, value)
            row.parent_id = parent.id if parent else None  # a district imported before its city joins it now
            updated += 1
        if item.level is TerritoryLevel.CITY:
            city = row
    bump_revision(session, now, f"territories from {source}: {inserted} inserted, {updated} updated")
    return inserted, updated


def territories_from_features(features: FeatureSet, *, level: TerritoryLevel | None, code_field: str,
                              name_field: str, level_field: str = "level") -> list[TerritoryInput]:
    """Map a GIS file's features to territories; the level comes from the option or each feature's field."""
    items = []
    for i, f in enumerate(features.features):
        props = f.properties
        code = str(props.get(code_field) or "").strip()
        name = str(props.get(name_field) or "").strip()
        if not code:
            raise ValidationFailed(f"feature {i}: no {code_field!r} property (choose it with --code-field)",
                                   field="code_field")
        raw_level = level.value if level else str(props.get(level_field) or "").strip()
        try:
            lvl = TerritoryLevel(raw_level)
        except ValueError:
            raise ValidationFailed(
                f"feature {i} ({code}): level {raw_level!r} is not one of city, district, street, community "
                "(give --level)", field="level") from None
        synthetic = str(props.get("synthetic", "")).lower() in ("1", "true", "yes")
        items.append(TerritoryInput(code=code, name=name, level=lvl, geometry=f.geometry, synthetic=synthetic))
    return items


# --- unit grids -------------------------------------------------------------------------------------------

Progress = Callable[[int], None]


def communities_under(session: Session, codes: Iterable[str]) -> list[Territory]:
    codes = list(codes)
    query = sa.select(Territory).where(Territory.level == TerritoryLevel.COMMUNITY)
    if codes:
        query = query.where(sa.or_(*(under_code(Territory.code, c) for c in codes)))
    return list(session.scalars(query.order_by(Territory.code)))


def lattice_latitude(session: Session) -> float:
    """One latitude for the whole map, so grids generated in separate runs share one lattice and line up."""
    row = session.execute(sa.select(sa.func.min(Territory.min_lat), sa.func.max(Territory.max_lat))
                          .where(Territory.level == TerritoryLevel.DISTRICT)).one()
    return round((row[0] + row[1]) / 2, 1) if row[0] is not None else 30.0


def generate_grids(session: Session, under: Sequence[str], *, size_m: float, now: datetime,
                   synthetic: bool = False, progress: Progress | None = None) -> tuple[int, int]:
    """(Re)generate the unit grids of every community under the given codes (all communities if none).

    Returns (communities, grids). A community's old grids are replaced; cases keep the grid code they were
    located in, so history is unchanged.
    """
    communities = communities_under(session, under)
    if not communities:
        raise ValidationFailed(f"no community lies under {', '.join(under) or 'the map'}: import or synthesize "
                               "communities first", field="under")
    ref_lat = lattice_latitude(session)
    ids = [c.id for c in communities]
    total = 0
    # A regenerated grid with an old grid's code (same place, same size) stays in that grid's patrol area.
    patrol: dict[str, int | None] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        for code, area_id in session.execute(sa.select(Grid.code, Grid.patrol_area_id).where(
                Grid.community_id.in_(batch), Grid.patrol_area_id.is_not(None))):
            patrol[code] = area_id
        session.execute(sa.delete(Grid).where(Grid.community_id.in_(batch)))
    for community in communities:
        polygon = shapely.from_wkb(community.geometry)
        cells = gridgen.generate_grids(community.code, polygon, size_m=size_m, ref_lat=ref_lat).cells
        if cells:
            session.execute(sa.insert(Grid), [
                {"code": c.code, "community_id": community.id, "geometry": shapely.to_wkb(c.geometry),
                 "center_lon": c.center_lon, "center_lat": c.center_lat, "area_m2": c.area_m2,
                 "synthetic": synthetic or community.synthetic, "patrol_area_id": patrol.get(c.code),
                 "created_at": now} for c in cells])
        total += len(cells)
        if progress:
            progress(1)
    bump_revision(session, now, f"grids of {len(communities)} communities ({total}) at {size_m:g} m")
    return len(communities), total


# --- patrol areas (责任网格) --------------------------------------------------------------------------------

def set_patrol_area(session: Session, *, code: str, name: str, collector_id: int | None,
                    grid_prefixes: Sequence[str], now: datetime, synthetic: bool = False) -> tuple[PatrolArea, int]:
    """Create or replace a patrol area covering every grid whose code starts with one of the prefixes.

    A grid belongs to one patrol area: assigning it here takes it from any other. Returns (area, grids).
    """
    if not grid_prefixes:
        raise ValidationFailed("grids: name at least one grid, community or street code", field="grids")
    area = session.scalar(sa.select(PatrolArea).where(PatrolArea.code == code))
    if area is None:
        area = PatrolArea(code=code, name=name, collector_id=collector_id, synthetic=synthetic, created_at=now)
        session.add(area)
        session.flush()  # flush: grids below point at it
    else:
        area.name, area.collector_id = name, collector_id
    match = sa.or_(*(under_code(Grid.code, p) for p in grid_prefixes))
    # Replace, not add: grids the area held that the new prefixes leave out are released.
    session.execute(sa.update(Grid).where(Grid.patrol_area_id == area.id, sa.not_(match)).values(patrol_area_id=None))
    result = session.execute(sa.update(Grid).where(match).values(patrol_area_id=area.id))
    count = cast(CursorResult[Any], result).rowcount
    if not count:
        raise ValidationFailed(f"grids: no unit grid starts with {', '.join(grid_prefixes)}", field="grids")
    bump_revision(session, now, f"patrol area {code}: {count} grids")
    return area, count


def collector_for_grid(session: Session, grid_code: str | None) -> int | None:
    """The collector whose patrol area holds the grid, if any."""
    if not grid_code:
        return None
    return session.scalar(sa.select(PatrolArea.collector_id).join(Grid, Grid.patrol_area_id == PatrolArea.id)
                          .where(Grid.code == grid_code))


# --- named features ---------------------------------------------------------------------------------------

def import_landmarks(session: Session, features: FeatureSet, *, name_field: str, kind_field: str,
                     now: datetime, synthetic: bool = False) -> int:
    rows = []
    for i, f in enumerate(features.features):
        name = str(f.properties.get(name_field) or "").strip()
        if not name:
            raise ValidationFailed(f"feature {i}: no {name_field!r} property", field="name_field")
        geom = f.geometry
        point = geom if isinstance(geom, shapely.Point) else geom.representative_point()
        rows.append(Landmark(name=name[:100], kind=str(f.properties.get(kind_field) or "")[:32], lon=point.x,
                             lat=point.y, synthetic=synthetic, source=features.source[:300], created_at=now))
    session.add_all(rows)
    bump_revision(session, now, f"{len(rows)} landmarks from {features.source}")
    return len(rows)
