"""实时地图: cases by status and urgency (clustered, coloured by their deadline lights), a heatmap, boundaries and
unit grids, and the GeoJSON behind it and behind the case page's mini-map.

The GeoJSON endpoints answer in JSON even when they fail (401, 403, 404, 422 naming the parameter): the page's
script fetches them, and an HTML error page would only break its JSON parsing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from cityloop.areas.models import TerritoryLevel
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.catalog.enums import KIND_LABELS, Kind
from cityloop.core.errors import Forbidden, NotAuthenticated
from cityloop.deps import ClockDep, ReadSessionDep
from cityloop.web import mapdata
from cityloop.web import session as web_session
from cityloop.web.templating import datum, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

GEOJSON = "application/geo+json"
GRID_MIN_ZOOM = 15


def json_principal(request: Request, principal: web_session.MaybePrincipal) -> Principal:
    """Signed-in staff who may read the map, with failures in JSON (the web layer would render pages)."""
    request.state.web = False
    if principal is None:
        raise NotAuthenticated("sign in to read the map", code="not_authenticated")
    if not principal.has(Permission.UNIT_READ):
        raise Forbidden(f"your roles do not allow {Permission.UNIT_READ.value}", code="forbidden")
    return principal


MapReader = Annotated[Principal, Depends(json_principal)]
BBoxQuery = Annotated[str | None, Query(max_length=200, description="minLon,minLat,maxLon,maxLat in `crs`")]


def _geojson(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=GEOJSON)


def _filters(status: str, urgent: str, kind: str) -> dict[str, Any]:
    """The page's filters from its query string; anything unknown falls back to the default view."""
    return {"status": status if status in mapdata.STATUS_GROUPS else "open",
            "urgent": urgent in ("1", "true", "on"), "kind": kind if kind in {k.value for k in Kind} else ""}


@router.get("/map")
def map_page(request: Request, principal: Annotated[Principal, web_session.require(Permission.UNIT_READ)],
             status: str = "open", urgent: str = "", kind: str = "") -> Response:
    filters = _filters(status, urgent, kind)
    live = {"zoom": 12, "gridMinZoom": GRID_MIN_ZOOM, "form": "#map-filters",
            "urls": {"cases": "/map/cases.geojson", "heat": "/map/heat.json",
                     "territories": "/map/territories.geojson", "grids": "/map/grids.geojson"},
            "cap": mapdata.CASE_CAP}
    return render(request, "map/index.html", {
        "filters": filters, "live": live, "status_groups": mapdata.STATUS_GROUPS, "kinds": KIND_LABELS,
        "grid_min_zoom": GRID_MIN_ZOOM, "closed_days": mapdata.CLOSED_RECENT.days,
        "scoped_to": principal.area_code})


@router.get("/map/cases.geojson")
def cases_geojson(request: Request, session: ReadSessionDep, principal: MapReader, clock: ClockDep,
                  status: Literal["open", "overdue", "closed", "all"] = "open",
                  urgent: bool = False, kind: Kind | None = None, bbox: BBoxQuery = None) -> Response:
    """Case points the caller may see: {id, number, status, status_label, urgent, supervised, light, color,
    popup}; newest first, at most CASE_CAP (`capped` true and the X-Capped header when there were more)."""
    d = datum(request)
    box = mapdata.parse_bbox(bbox, d) if bbox else None
    body = mapdata.cases_collection(session, principal, mapdata.CaseQuery(status, urgent, kind, box),
                                    clock.now(), d)
    response = _geojson(body)
    if body["capped"]:
        response.headers["X-Capped"] = str(body["cap"])
    return response


@router.get("/map/heat.json")
def heat_json(request: Request, session: ReadSessionDep, principal: MapReader,
              clock: ClockDep) -> Response:
    """[[lat, lon, weight], …] of the open cases the caller may see, for L.heatLayer."""
    # Straight to JSON: validating tens of thousands of triples against a response model would cost more than
    # the query.
    return JSONResponse(mapdata.heat_points(session, principal, clock.now(), datum(request)))


# Boundaries are public facts (the districts' are published), and the 随手拍 page needs them to pick a place
# when no tiles are configured: no sign-in required.
@router.get("/map/territories.geojson")
def territories_geojson(request: Request, session: ReadSessionDep,
                        level: Literal["district", "street", "community"] = "district") -> Response:
    return _geojson(mapdata.territories_collection(session, TerritoryLevel(level), datum(request)))


@router.get("/map/grids.geojson")
def grids_geojson(request: Request, session: ReadSessionDep, _: MapReader,
                  bbox: Annotated[str, Query(max_length=200)]) -> Response:
    """Unit grids (单元网格) around the visible box; 422 naming bbox when it is malformed or too large."""
    box = mapdata.parse_bbox(bbox, datum(request), max_span=mapdata.GRID_MAX_SPAN)
    return _geojson(mapdata.grids_collection(session, box, datum(request)))


@router.get("/map/case/{case_id}.geojson")
def case_geojson(request: Request, session: ReadSessionDep, principal: MapReader, clock: ClockDep,
                 case_id: int) -> Response:
    """The case page's mini-map: the case (kind "case"), its grid (kind "grid") and open cases within 300 m
    (kind "nearby"). 404 when the caller may not see the case."""
    case = access.get_case_for(session, principal, case_id)
    return _geojson(mapdata.case_surroundings(session, principal, case, clock.now(), datum(request)))

