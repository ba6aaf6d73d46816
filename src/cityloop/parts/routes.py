"""/api/v1/parts: the 部件 inventory. Any signed-in user may read it: a collector asks which manhole cover a report
is about, an operator opens the part a case names."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cityloop.auth.deps import PrincipalDep
from cityloop.core import crs as crs_mod
from cityloop.deps import ReadSessionDep
from cityloop.parts import queries
from cityloop.parts.schemas import NearPartOut, PartOut

router = APIRouter(prefix="/api/v1/parts", tags=["parts"])

Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude in `crs`")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude in `crs`")]
CrsQuery = Annotated[Literal["wgs84", "gcj02", "cgcs2000"], Query(
    description="wgs84 (GPS), gcj02 (Chinese web maps: AMap, Tencent) or cgcs2000 (geographic)")]
CategoryQuery = Annotated[str | None, Query(
    pattern=r"^[0-9]{2}([0-9]{2,3})?$",
    description="a class (01001), a legacy 4-digit class (0101 = 01001) or a major (01)")]
Radius = Annotated[float, Query(gt=0, le=queries.MAX_RADIUS_M, allow_inf_nan=False, description="metres")]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)]


@router.get("/nearest", response_model=list[NearPartOut])
def nearest(session: ReadSessionDep, _: PrincipalDep, lon: Lon, lat: Lat, crs: CrsQuery = "wgs84",
            category_code: CategoryQuery = None, radius_m: Radius = 50, limit: Limit = 5) -> list[NearPartOut]:
    """The parts within `radius_m` of a point, nearest first, each with its distance."""
    wlon, wlat = crs_mod.to_wgs84(lon, lat, crs_mod.parse_crs(crs))
    found = queries.nearest(session, wlon, wlat, category_code=category_code, radius_m=radius_m, limit=limit)
    return [NearPartOut.of(part, distance) for part, distance in found]


@router.get("/{code}", response_model=PartOut)
def get_part(session: ReadSessionDep, _: PrincipalDep, code: str) -> PartOut:
    """One part with every attribute of GB/T 47678.5-2026. Unknown code: 404."""
    return PartOut.model_validate(queries.get(session, code))
