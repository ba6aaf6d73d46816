"""`cityloop geo …`: the map — territories from GIS files, unit grids, patrol areas, locating points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cityloop.areas import index as area_index
from cityloop.areas import queries as area_queries
from cityloop.areas import service as area_service
from cityloop.areas.models import TerritoryLevel
from cityloop.areas.sources import read_features
from cityloop.auth import service as auth_service
from cityloop.cli.common import database
from cityloop.core import crs as crs_mod
from cityloop.core.clock import SystemClock

geo_app = typer.Typer(help="The map: territories, unit grids (单元网格), patrol areas (责任网格).",
                      no_args_is_help=True)

CrsOption = Annotated[str | None, typer.Option(
    "--crs", help="wgs84, gcj02, cgcs2000 or EPSG:nnnn; default: what the file declares, else wgs84")]


@geo_app.command("import")
def geo_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".geojson, .json, .shp or .zip")],
    level: Annotated[TerritoryLevel | None, typer.Option(
        "--level", help="the level of every feature; default: each feature's `level` property")] = None,
    crs: CrsOption = None,
    code_field: Annotated[str, typer.Option("--code-field", help="property holding the code")] = "code",
    name_field: Annotated[str, typer.Option("--name-field", help="property holding the name")] = "name",
) -> None:
    """Import territories (districts, streets, communities); existing codes are updated. All or nothing."""
    with database(write=True) as session:
        features = read_features(file, crs)
        items = area_service.territories_from_features(features, level=level, code_field=code_field,
                                                       name_field=name_field)
        inserted, updated = area_service.upsert_territories(
            session, items, now=SystemClock().now(), source=f"{file.name} ({features.crs.label})")
    typer.echo(f"{file.name}: read as {features.crs.label} ({features.crs_origin}); "
               f"{inserted} inserted, {updated} updated")


@geo_app.command("grids")
def geo_grids(
    under: Annotated[list[str] | None, typer.Argument(
        help="district, street or community codes whose communities get grids; default: every community")] = None,
    size: Annotated[float, typer.Option("--size", min=20, max=2000, help="cell size in metres")] = 100.0,
) -> None:
    """Generate the unit grids (万米单元网格) of communities from their polygons, replacing old ones."""
    codes = under or []
    with database(write=True) as session:
        total = len(area_service.communities_under(session, codes))
        with typer.progressbar(length=total, label="communities", show_pos=True) as bar:
            communities, grids = area_service.generate_grids(session, codes, size_m=size, now=SystemClock().now(),
                                                             progress=bar.update)
    typer.echo(f"{grids} unit grids in {communities} communities")


@geo_app.command("locate")
def geo_locate(
    lon: Annotated[float, typer.Option("--lon", help="longitude")],
    lat: Annotated[float, typer.Option("--lat", help="latitude")],
    crs: Annotated[str, typer.Option("--crs", help="wgs84, gcj02 or cgcs2000")] = "wgs84",
) -> None:
    """Where a point is: district, street, community and grid, as JSON. Exit code 2 outside the city."""
    with database(write=False) as session:
        where = area_index.locate(session, *crs_mod.to_wgs84(lon, lat, crs_mod.parse_crs(crs)))
    typer.echo(json.dumps(where.to_dict(), ensure_ascii=False, indent=2))


@geo_app.command("patrol")
def geo_patrol(
    code: Annotated[str, typer.Argument(help="the patrol area's code")],
    name: Annotated[str, typer.Argument(help="its name")],
    grids: Annotated[list[str], typer.Option("--grids", help="grid, community or street code prefixes")],
    collector: Annotated[str | None, typer.Option("--collector", help="the collector's username")] = None,
) -> None:
    """Create or replace a patrol area (责任网格) and give it to a collector."""
    with database(write=True) as session:
        collector_id = auth_service.get_by_username(session, collector).id if collector else None
        _, count = area_service.set_patrol_area(session, code=code, name=name, collector_id=collector_id,
                                                grid_prefixes=grids, now=SystemClock().now())
    typer.echo(f"patrol area {code}: {count} grids" + (f", collector {collector}" if collector else ""))


@geo_app.command("landmarks")
def geo_landmarks(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".geojson, .shp or .zip")],
    crs: CrsOption = None,
    name_field: Annotated[str, typer.Option("--name-field")] = "name",
    kind_field: Annotated[str, typer.Option("--kind-field")] = "kind",
) -> None:
    """Import named features (地片、POI) for the 方位描述 of cases."""
    with database(write=True) as session:
        features = read_features(file, crs)
        count = area_service.import_landmarks(session, features, name_field=name_field, kind_field=kind_field,
                                              now=SystemClock().now())
    typer.echo(f"{count} landmarks from {file.name}")


@geo_app.command("status")
def geo_status() -> None:
    """How much map there is: territories per level, grids, patrol areas."""
    with database(write=False) as session:
        counts = area_queries.counts(session)
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
