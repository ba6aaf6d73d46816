"""`cityloop parts …`: the 部件 inventory (GB/T 47678.5-2026 管理部件)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cityloop.cli.common import database
from cityloop.core import crs as crs_mod
from cityloop.core.clock import SystemClock
from cityloop.parts import exchange, queries
from cityloop.parts.schemas import NearPartOut

parts_app = typer.Typer(help="The 部件 inventory.", no_args_is_help=True)

CrsOption = Annotated[str | None, typer.Option(
    "--crs", help=f"the coordinates' system: {crs_mod.ACCEPTED_CRS_HELP} (default wgs84; a GIS file's own "
                  "declaration)")]


_LONG_IMPORT = 10_000  # rows; a shorter import finishes before progress lines would help


def _progress(phase: str, done: int, total: int) -> None:
    # stderr, so that stdout carries only the result a script may parse.
    if total >= _LONG_IMPORT:
        typer.echo(f"{phase}: {done:,}/{total:,} rows", err=True)


@parts_app.command("import")
def parts_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help=".csv (GLBJBSM … header, X/Y or LON/LAT) or GeoJSON / shapefile")],
    crs: CrsOption = None,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="mark the parts as generated demo data")] = False,
) -> None:
    """Import 部件: all rows or none. New codes are inserted, stored ones updated."""
    started = time.perf_counter()
    with database(write=True) as session:
        try:
            counts = exchange.import_parts(session, file, crs=crs, now=SystemClock().now(), synthetic=synthetic,
                                           progress=_progress)
        except exchange.ImportRejected as exc:  # every row error, not just the summary line
            for error in exc.errors:
                typer.echo(f"error: {error}", err=True)
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(code=2) from None
    seconds = time.perf_counter() - started
    typer.echo(f"{counts.rows} parts: {counts.inserted} inserted, {counts.updated} updated, {counts.unchanged} "
               f"unchanged ({seconds:.1f} s)")


@parts_app.command("export")
def parts_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help=".csv, in the import's layout (WGS-84 X/Y)")],
    district: Annotated[str | None, typer.Option("--district", help="only this 6-digit 区划代码")] = None,
) -> None:
    """Write the inventory as a CSV that imports back unchanged."""
    with database(write=False) as session:
        count = exchange.export_parts(session, file, district=district)
    typer.echo(f"{count} parts written to {file}")


@parts_app.command("nearest")
def parts_nearest(
    lon: Annotated[float, typer.Option("--lon", help="longitude in --crs")],
    lat: Annotated[float, typer.Option("--lat", help="latitude in --crs")],
    crs: Annotated[str, typer.Option("--crs", help="wgs84, gcj02, cgcs2000 or EPSG:…")] = "wgs84",
    category: Annotated[str | None, typer.Option("--category", help="class 01001, legacy 0101 or major 01")] = None,
    radius: Annotated[float, typer.Option("--radius", help="metres")] = 50,
    limit: Annotated[int, typer.Option("--limit")] = 5,
) -> None:
    """The parts nearest a point, as JSON (WGS-84 coordinates, distances in metres)."""
    with database(write=False) as session:
        wlon, wlat = crs_mod.to_wgs84(lon, lat, crs)
        found = queries.nearest(session, wlon, wlat, category_code=category, radius_m=radius, limit=limit)
        items = [NearPartOut.of(part, distance).model_dump(mode="json") for part, distance in found]
    typer.echo(json.dumps(items, ensure_ascii=False, indent=2))


@parts_app.command("summary")
def parts_summary() -> None:
    """How many parts, by district and by class."""
    with database(write=False) as session:
        s = queries.summary(session)
    typer.echo(f"{s.total} parts" + (f" ({s.synthetic} synthetic)" if s.synthetic else ""))
    for title, counts in (("by district", s.by_district), ("by class", s.by_class)):
        if counts:
            typer.echo(f"{title}:")
        for c in counts:
            typer.echo(f"  {c.code:<6}  {c.count:>8}  {c.name}")
