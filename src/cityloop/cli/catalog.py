"""`cityloop catalog …`: the class directory and filing standards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityloop.catalog import queries as catalog_queries
from cityloop.catalog import service as catalog_service
from cityloop.catalog.exchange import ImportRejected
from cityloop.catalog.seed import DEMO_STANDARD, seed_demo_standard, seed_national_directory
from cityloop.cli.common import engine_for, fail
from cityloop.core.clock import SystemClock, to_business
from cityloop.core.errors import DomainError
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.settings import Settings

catalog_app = typer.Typer(help="The class directory.", no_args_is_help=True)

@catalog_app.command("seed")
def catalog_seed() -> None:
    """Load (or refresh) the GB/T 47678.5-2026 class directory and the demo city's 运城 standard (not adopted).
    Safe to run again."""
    engine = engine_for(Settings())
    with session_scope(write_sessionmaker(engine)) as session:
        inserted, updated = seed_national_directory(session)
        demo = seed_demo_standard(session)
    typer.echo(f"categories: {inserted} inserted, {updated} updated")
    typer.echo(f"{DEMO_STANDARD}: categories {demo.categories_inserted} inserted, {demo.categories_updated} "
               f"updated; standards {demo.standards_inserted} inserted, {demo.standards_updated} updated")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".xlsx (sheets 部件, 事件) or .csv")],
    version: Annotated[str | None, typer.Option("--version", help="version code; default: the file name")] = None,
    name: Annotated[str | None, typer.Option("--name", help="the version's name; default: its code")] = None,
    adopt: Annotated[bool, typer.Option("--adopt", help="file new reports under it at once")] = False,
) -> None:
    """Import a class directory with its filing standards as a new version: all rows or none."""
    try:
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            counts = catalog_service.import_file(session, file, SystemClock().now(), version=version, name=name,
                                                 adopt_it=adopt)
    except ImportRejected as exc:
        for error in exc.errors:
            typer.echo(f"error: {error}", err=True)
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    except DomainError as exc:
        raise fail(exc) from None
    typer.echo(f"version {counts.version}: {counts.categories} categories, {counts.standards} standards imported"
               + (", adopted" if adopt else ""))


@catalog_app.command("export")
def catalog_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help=".xlsx or .csv, by the suffix")],
    version: Annotated[str | None, typer.Option("--version", help="default: the adopted version")] = None,
) -> None:
    """Write a version in the import shape."""
    try:
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            counts = catalog_service.export_file(session, file, version=version)
    except DomainError as exc:
        raise fail(exc) from None
    typer.echo(f"version {counts.version}: {counts.categories} categories, {counts.standards} standards "
               f"written to {file}")


@catalog_app.command("adopt")
def catalog_adopt(code: str) -> None:
    """File new reports under version CODE. Cases filed before keep their class."""
    try:
        with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
            catalog_service.adopt(session, code, SystemClock().now())
    except DomainError as exc:
        raise fail(exc) from None
    typer.echo(f"version {code} adopted")


@catalog_app.command("versions")
def catalog_versions() -> None:
    """List the directory versions; * marks the adopted one."""
    with session_scope(write_sessionmaker(engine_for(Settings()))) as session:
        for v in catalog_queries.list_versions(session):
            adopted = to_business(v.adopted_at).isoformat(timespec="seconds") if v.adopted_at else "-"
            # Two spaces between columns: codes may contain single spaces ("GB/T 47678.5-2026").
            typer.echo(f"{'*' if v.adopted else ' '} {v.code:<20}  {v.categories:>4} categories  "
                       f"{v.standards:>4} standards  adopted {adopted}  {v.name}")


