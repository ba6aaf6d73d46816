"""Reads of the map: territory trees and grids, without geometry unless asked for."""

from __future__ import annotations

from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from cityloop.areas.models import Grid, PatrolArea, Territory, TerritoryLevel
from cityloop.core.errors import NotFound


def territories(session: Session, *, level: TerritoryLevel | None = None,
                parent_code: str | None = None) -> list[dict[str, Any]]:
    parent = aliased(Territory)
    child = aliased(Territory)
    children = (sa.select(sa.func.count()).select_from(child).where(child.parent_id == Territory.id)
                .correlate(Territory).scalar_subquery())
    grids = (sa.select(sa.func.count()).select_from(Grid).where(Grid.community_id == Territory.id)
             .correlate(Territory).scalar_subquery())
    query = (sa.select(Territory.code, Territory.name, Territory.level, parent.code.label("parent_code"),
                       Territory.synthetic, Territory.area_km2, children.label("children"), grids.label("grids"))
             .outerjoin(parent, parent.id == Territory.parent_id).order_by(Territory.code))
    if level is not None:
        query = query.where(Territory.level == level)
    if parent_code is not None:
        query = query.where(parent.code == parent_code)
    return [dict(row._mapping) for row in session.execute(query)]


def territory(session: Session, code: str) -> dict[str, Any]:
    parent = aliased(Territory)
    row = session.execute(sa.select(Territory, parent.code).outerjoin(parent, parent.id == Territory.parent_id)
                          .where(Territory.code == code)).first()
    if row is None:
        raise NotFound(f"code: no territory {code}", field="code")
    t, parent_code = row
    children = session.scalar(sa.select(sa.func.count()).select_from(Territory).where(Territory.parent_id == t.id))
    grids = session.scalar(sa.select(sa.func.count()).select_from(Grid).where(Grid.community_id == t.id))
    return {"code": t.code, "name": t.name, "level": t.level, "parent_code": parent_code, "synthetic": t.synthetic,
            "area_km2": t.area_km2, "children": children or 0, "grids": grids or 0}


def grid(session: Session, code: str) -> dict[str, Any]:
    row = session.execute(sa.select(Grid, Territory, PatrolArea).join(Territory, Territory.id == Grid.community_id)
                          .outerjoin(PatrolArea, PatrolArea.id == Grid.patrol_area_id)
                          .where(Grid.code == code)).first()
    if row is None:
        raise NotFound(f"code: no unit grid {code}", field="code")
    g, community, patrol = row
    return {
        "code": g.code, "center_lon": g.center_lon, "center_lat": g.center_lat, "area_m2": g.area_m2,
        "synthetic": g.synthetic,
        "community": {"code": community.code, "name": community.name, "synthetic": community.synthetic},
        "patrol_area": ({"code": patrol.code, "name": patrol.name, "collector_id": patrol.collector_id,
                         "synthetic": patrol.synthetic} if patrol else None),
        "geometry": shapely.geometry.mapping(shapely.from_wkb(g.geometry)),
    }


def counts(session: Session) -> dict[str, int]:
    by_level = dict(session.execute(sa.select(Territory.level, sa.func.count()).group_by(Territory.level)).all())
    return {**{lvl.value: int(by_level.get(lvl, 0)) for lvl in TerritoryLevel},
            "grids": session.scalar(sa.select(sa.func.count()).select_from(Grid)) or 0,
            "patrol_areas": session.scalar(sa.select(sa.func.count()).select_from(PatrolArea)) or 0}
