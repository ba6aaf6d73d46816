"""/api/v1/geo: locate a point, browse territories and grids. Any signed-in user may read the map."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cityloop.areas import index, queries
from cityloop.areas.models import TerritoryLevel
from cityloop.areas.schemas import GridOut, LocationOut, TerritoryOut
from cityloop.auth.deps import PrincipalDep
from cityloop.core import crs as crs_mod
from cityloop.deps import ReadSessionDep

router = APIRouter(prefix="/api/v1/geo", tags=["geo"])

Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude in `crs`")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude in `crs`")]
CrsQuery = Annotated[Literal["wgs84", "gcj02", "cgcs2000"], Query(
    description="wgs84 (GPS), gcj02 (Chinese web maps: AMap, Tencent) or cgcs2000 (geographic)")]


@router.get("/locate", response_model=LocationOut)
def locate(session: ReadSessionDep, _: PrincipalDep, lon: Lon, lat: Lat, crs: CrsQuery = "wgs84") -> LocationOut:
    """District, street, community and unit grid of a point, with its 方位描述. Outside the city: 422."""
    wlon, wlat = crs_mod.to_wgs84(lon, lat, crs_mod.parse_crs(crs))
    return LocationOut.model_validate(index.locate(session, wlon, wlat).to_dict())


@router.get("/territories", response_model=list[TerritoryOut])
def list_territories(session: ReadSessionDep, _: PrincipalDep, level: TerritoryLevel | None = None,
                     parent: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None) -> list[TerritoryOut]:
    """The territory tree, one level or one parent's children at a time (no geometry)."""
    return [TerritoryOut.model_validate(t) for t in queries.territories(session, level=level, parent_code=parent)]


@router.get("/territories/{code}", response_model=TerritoryOut)
def get_territory(session: ReadSessionDep, _: PrincipalDep, code: str) -> TerritoryOut:
    return TerritoryOut.model_validate(queries.territory(session, code))


@router.get("/grids/{code}", response_model=GridOut)
def get_grid(session: ReadSessionDep, _: PrincipalDep, code: str) -> GridOut:
    """One unit grid with its boundary (GeoJSON geometry, WGS-84) and patrol area."""
    return GridOut.model_validate(queries.grid(session, code))
