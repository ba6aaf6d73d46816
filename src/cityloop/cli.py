"""`cityloop …`: thin commands over the same services the API uses."""

from __future__ import annotations

import csv
import getpass
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from cityloop import demo as demo_data
from cityloop import migrations
from cityloop.auth import service as auth_service
from cityloop.auth.permissions import Role
from cityloop.cases import workflow
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog import service as catalog_service
from cityloop.catalog.exchange import ImportRejected
from cityloop.catalog.seed import DEMO_STANDARD, seed_demo_standard, seed_national_directory
from cityloop.core.clock import BUSINESS_TZ, SystemClock, to_business
from cityloop.core.errors import DomainError
from cityloop.core.timeunits import TimeUnit
from cityloop.db.engine import make_engine
from cityloop.db.session import read_sessionmaker, session_scope, write_sessionmaker
from cityloop.deadlines import calendar as work_calendar
from cityloop.deadlines import holidays
from cityloop.deadlines import service as deadline_service
from cityloop.deadlines.models import DeadlineKind
from cityloop.models import metadata
from cityloop.settings import Settings, default_data_dir
from cityloop.units import service as unit_service
from cityloop.units.models import UnitLevel

app = typer.Typer(help="cityloop — 数字城管: the closed loop of city problems.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
unit_app = typer.Typer(help="Handling units (处置单位).", no_args_is_help=True)
catalog_app = typer.Typer(help="The class directory.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(unit_app, name="unit")
app.add_typer(catalog_app, name="catalog")
deadlines_app = typer.Typer(help="Step time limits (受理, 核实, 立案, 派遣, 核查, 结案).", no_args_is_help=True)
app.add_typer(deadlines_app, name="deadlines")


def _engine(settings: Settings) -> Engine:
    settings.ensure_sqlite_dir()
    return make_engine(settings.database_url)


def _fail(exc: DomainError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=2)


def _policy(settings: Settings) -> auth_service.PasswordPolicy:
    return auth_service.PasswordPolicy.from_costs(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism, demo_mode=settings.demo_mode)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (CITYLOOP_DATABASE_URL, default: an SQLite file in the user data dir)."""
    settings = Settings()
    engine = _engine(settings)
    migrations.upgrade(engine, revision)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero if the models and the migrated schema disagree."""
    engine = _engine(Settings())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if diff:
        for item in diff:
            typer.echo(f"drift: {item}", err=True)
        raise typer.Exit(code=1)
    typer.echo("models and migrations agree")


@catalog_app.command("seed")
def catalog_seed() -> None:
    """Load (or refresh) the GB/T 47678.5-2026 class directory and the demo city's 运城 standard (not adopted).
    Safe to run again."""
    engine = _engine(Settings())
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
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            counts = catalog_service.import_file(session, file, SystemClock().now(), version=version, name=name,
                                                 adopt_it=adopt)
    except ImportRejected as exc:
        for error in exc.errors:
            typer.echo(f"error: {error}", err=True)
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"version {counts.version}: {counts.categories} categories, {counts.standards} standards imported"
               + (", adopted" if adopt else ""))


@catalog_app.command("export")
def catalog_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help=".xlsx or .csv, by the suffix")],
    version: Annotated[str | None, typer.Option("--version", help="default: the adopted version")] = None,
) -> None:
    """Write a version in the import shape."""
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            counts = catalog_service.export_file(session, file, version=version)
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"version {counts.version}: {counts.categories} categories, {counts.standards} standards "
               f"written to {file}")


@catalog_app.command("adopt")
def catalog_adopt(code: str) -> None:
    """File new reports under version CODE. Cases filed before keep their class."""
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            catalog_service.adopt(session, code, SystemClock().now())
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"version {code} adopted")


@catalog_app.command("versions")
def catalog_versions() -> None:
    """List the directory versions; * marks the adopted one."""
    with session_scope(write_sessionmaker(_engine(Settings()))) as session:
        for v in catalog_queries.list_versions(session):
            adopted = to_business(v.adopted_at).isoformat(timespec="seconds") if v.adopted_at else "-"
            # Two spaces between columns: codes may contain single spaces ("GB/T 47678.5-2026").
            typer.echo(f"{'*' if v.adopted else ' '} {v.code:<20}  {v.categories:>4} categories  "
                       f"{v.standards:>4} standards  adopted {adopted}  {v.name}")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[list[Role], typer.Option("--role", "-r", help="repeat for several roles")],
    unit: Annotated[list[str] | None, typer.Option("--unit", help="unit code; repeat for several")] = None,
    display_name: Annotated[str, typer.Option("--display-name")] = "",
    password: Annotated[str | None, typer.Option(
        "--password", help="prefer the prompt or CITYLOOP_NEW_PASSWORD: a flag shows in `ps`",
        envvar="CITYLOOP_NEW_PASSWORD")] = None,
) -> None:
    """Create a user with roles and unit memberships."""
    settings = Settings()
    secret = password or getpass.getpass("password: ")
    engine = _engine(settings)
    try:
        with session_scope(write_sessionmaker(engine)) as session:
            unit_ids = [unit_service.get_by_code(session, c, field="unit").id for c in unit or []]
            user = auth_service.create_user(session, _policy(settings), username=username, password=secret,
                                            roles=role, unit_ids=unit_ids, display_name=display_name,
                                            now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"user {user.username} created (id {user.id}, roles {', '.join(sorted(role))})")
    except DomainError as exc:
        raise _fail(exc) from None


@user_app.command("set-password")
def user_set_password(username: str, password: Annotated[str | None, typer.Option(
        "--password", envvar="CITYLOOP_NEW_PASSWORD")] = None) -> None:
    settings = Settings()
    secret = password or getpass.getpass("new password: ")
    try:
        with session_scope(write_sessionmaker(_engine(settings))) as session:
            auth_service.set_password(session, _policy(settings), username, secret)
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"password of {username} changed")


@unit_app.command("create")
def unit_create(
    code: str, name: str,
    level: Annotated[UnitLevel, typer.Option("--level", help="city, district, street or community")],
    industry: Annotated[str, typer.Option("--industry")] = "",
    parent: Annotated[str | None, typer.Option("--parent", help="the parent unit's code")] = None,
) -> None:
    """Create a handling unit."""
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            created = unit_service.create_unit(session, code=code, name=name, level=level, industry=industry,
                                               parent_code=parent, now=SystemClock().now())
            session.flush()  # flush: print the new id
            typer.echo(f"unit {created.code} {created.name} created (id {created.id})")
    except DomainError as exc:
        raise _fail(exc) from None

# --- calendar: holidays and 调休 days of the working calendar ---------------------------------------------------

calendar_app = typer.Typer(help="The working calendar: holidays and 调休 days.", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")

# CSV "type" column: holiday / 休 (or 假) → not a working day; workday / 班 → a 调休 make-up working day.
_DAY_TYPES = {"holiday": False, "休": False, "假": False, "workday": True, "班": True}


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _calendar_or_fallback(settings: Settings) -> work_calendar.WorkCalendar:
    """The configured database's calendar; without a migrated database (a fresh machine), the package's alone."""
    engine = _engine(settings)
    try:
        with session_scope(read_sessionmaker(engine)) as session:
            return holidays.load_calendar(session, settings)
    except sa.exc.DBAPIError as exc:
        typer.echo(f"warning: no calendar overrides read ({type(exc.orig).__name__}); "
                   "using the statutory calendar only", err=True)
        return holidays.package_calendar(settings)
    finally:
        engine.dispose()


@calendar_app.command("due")
def calendar_due(
    start: Annotated[str, typer.Option("--start", help="ISO 8601; without an offset it is Asia/Shanghai time")],
    amount: Annotated[float, typer.Option("--amount")],
    unit: Annotated[str, typer.Option("--unit", help=", ".join(TimeUnit))],
) -> None:
    """Print the due time of a limit started at --start, on the configured working calendar."""
    try:
        begin = datetime.fromisoformat(start)
    except ValueError:
        raise _usage_error(f"--start: {start!r} is not an ISO 8601 date-time") from None
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=BUSINESS_TZ)
    try:
        time_unit = TimeUnit(unit)
    except ValueError:
        raise _usage_error(f"--unit: {unit!r} is not one of {', '.join(TimeUnit)}") from None
    try:
        due = work_calendar.add(_calendar_or_fallback(Settings()), begin, amount, time_unit)
    except ValueError as exc:  # a negative amount or bad CITYLOOP_WORK_PERIODS
        raise _usage_error(str(exc)) from None
    typer.echo(to_business(due).isoformat())


def _read_arrangement(path: Path) -> tuple[list[tuple[date, bool, str]], list[int]]:
    """Rows of date,type[,name] and the file line of each; a header line is skipped. Excel's BOM is tolerated."""
    rows: list[tuple[date, bool, str]] = []
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for number, raw in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in raw]
            if not any(cells) or (number == 1 and cells[0].lower() in ("date", "日期")):
                continue
            if len(cells) < 2:
                raise ValueError(f"line {number}: expected date,type,name")
            try:
                day = date.fromisoformat(cells[0])
            except ValueError:
                raise ValueError(f"line {number}: {cells[0]!r} is not a YYYY-MM-DD date") from None
            if cells[1].lower() not in _DAY_TYPES:
                raise ValueError(f"line {number}: type {cells[1]!r} is not holiday, workday, 休 or 班")
            rows.append((day, _DAY_TYPES[cells[1].lower()], cells[2] if len(cells) > 2 else ""))
            lines.append(number)
    return rows, lines


@calendar_app.command("import")
def calendar_import(
    file: Annotated[Path, typer.Argument(help="CSV: date (YYYY-MM-DD), type (holiday|workday or 休|班), name")],
    year: Annotated[int, typer.Option("--year", help="every row must fall in this year")],
    source: Annotated[str, typer.Option("--source", help="e.g. 国办发明电〔2026〕N号")] = "",
) -> None:
    """Replace a year's holidays and 调休 days with the file's, all or nothing, and mark the year as covered."""
    try:
        rows, lines = _read_arrangement(file)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise _usage_error(f"{file}: {exc}") from None
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            count = holidays.import_arrangement(session, rows, year, source or file.name, SystemClock().now())
    except DomainError as exc:
        row = exc.details.get("row")
        where = f"{file} line {lines[row - 1]}: " if isinstance(row, int) else f"{file}: "
        raise _usage_error(where + exc.message) from None
    off = sum(1 for _, workday, _ in rows if not workday)
    typer.echo(f"{year}: {count} days imported ({off} holidays, {count - off} working days)")


@calendar_app.command("check")
def calendar_check(
    today: Annotated[str | None, typer.Option("--today", help="YYYY-MM-DD; default: today in Asia/Shanghai")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="default: CITYLOOP_CALENDAR_HORIZON_DAYS")] = None,
) -> None:
    """List the coming days that no holiday arrangement covers; exit 1 if there are any."""
    settings = Settings()
    try:
        first = date.fromisoformat(today) if today else to_business(SystemClock().now()).date()
    except ValueError:
        raise _usage_error(f"--today: {today!r} is not a YYYY-MM-DD date") from None
    horizon = days or settings.calendar_horizon_days
    engine = _engine(settings)
    try:
        with session_scope(read_sessionmaker(engine)) as session:
            cov = holidays.coverage_of(session, first, horizon)
    except sa.exc.DBAPIError as exc:
        typer.echo(f"warning: no loaded years read ({type(exc.orig).__name__}); statutory years only", err=True)
        cov = holidays.coverage(first, horizon, [])
    finally:
        engine.dispose()
    if not cov.uncovered:
        typer.echo(f"covered: the next {horizon} days from {first.isoformat()}")
        return
    typer.echo(f"uncovered: {cov.warning}")
    for day in cov.uncovered:
        typer.echo(day.isoformat())
    raise typer.Exit(code=1)


@deadlines_app.command("limits")
def deadline_limits() -> None:
    """Print each step's limit for normal and urgent cases (the handling limit comes from the standard)."""
    with session_scope(write_sessionmaker(_engine(Settings()))) as session:
        for kind, urgent, amount, unit, own in deadline_service.step_limits(session):
            typer.echo(f"{kind.value:<9} {'urgent' if urgent else 'normal':<7} {amount:g} {unit.value}"
                       + ("" if own else "  (default)"))


@deadlines_app.command("set-limit")
def deadline_set_limit(
    step: Annotated[DeadlineKind, typer.Argument(
        help="accept, verify, file, dispatch, check, close; handle = the fallback for classes without rows")],
    amount: float, unit: TimeUnit,
    urgent: Annotated[bool, typer.Option("--urgent", help="the limit for emergencies")] = False,
) -> None:
    """Set the city's limit for one step; clocks started afterwards use it."""
    try:
        with session_scope(write_sessionmaker(_engine(Settings()))) as session:
            deadline_service.set_step_limit(session, step, urgent, amount, unit)
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"{step.value} ({'urgent' if urgent else 'normal'}): {amount:g} {unit.value}")


@app.command("workflow")
def workflow_diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the transition table."""
    typer.echo(workflow.mermaid(), nl=False)


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option("--once", help="run every job once, then exit")] = False,
    interval: Annotated[float | None, typer.Option(
        "--interval", min=0.1, help="seconds between ticks (default: CITYLOOP_WORKER_INTERVAL_S)")] = None,
) -> None:
    """Sweep deadlines (breaches, warnings) and deliver the outbox, until SIGTERM/SIGINT or once."""
    import logging

    # Imported here, as uvicorn is in _serve: the other commands need none of the worker's modules.
    from cityloop.jobs.runner import run_worker
    from cityloop.notifications.senders import ConsoleSender

    # A no-op when logging is already configured (a host application, pytest's capture).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    engine = _engine(settings)
    try:
        ticks = run_worker(write_sessionmaker(engine), settings, clock=SystemClock(), sender=ConsoleSender(),
                           interval_s=interval, once=once)
    finally:
        engine.dispose()
    if once and any(t.failed for t in ticks):
        raise typer.Exit(code=1)  # a one-off run (cron, a check) must show its failure; tracebacks are logged


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from cityloop.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (OpenAPI docs at /docs)."""
    _serve(Settings(), host, port)


@app.command("demo")
def demo(host: str = "127.0.0.1", port: int = 8000,
         db: Annotated[Path | None, typer.Option(help="SQLite file of the demo city")] = None) -> None:
    """Migrate, load the demo city into an SQLite file if it is empty, print the logins and serve."""
    path = (db or default_data_dir() / "demo.sqlite").expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{path}", demo_mode=True)
    engine = _engine(settings)
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        if not demo_data.is_loaded(session):
            typer.echo("loading the demo city …")
            demo_data.load(session, _policy(settings), SystemClock().now())
        seed_national_directory(session)
        cases = session.scalar(sa.text("SELECT count(*) FROM cases"))
    engine.dispose()
    typer.echo(f"\ncityloop demo — database {path} ({cases} cases)")
    typer.echo(f"API http://{host}:{port}/api/v1   docs http://{host}:{port}/docs")
    typer.echo(f"demo logins (password: {demo_data.DEMO_PASSWORD}, accepted in demo mode only):")
    for username, role, unit_code in demo_data.LOGINS:
        typer.echo(f"  {username:<13} {role.value:<13}" + (f" unit {unit_code}" if unit_code else ""))
    typer.echo("the worker runs beside the server: deadline breaches and warnings, the outbox on the console")
    sys.stdout.flush()
    # The demo is one command, so the sweeps run in a thread of the server process instead of their own.
    from cityloop.jobs.runner import Worker
    from cityloop.notifications.senders import ConsoleSender

    sweeps = Worker(write_sessionmaker(_engine(settings), info={"settings": settings}), settings,
                    clock=SystemClock(), sender=ConsoleSender())
    thread = threading.Thread(target=sweeps.run, kwargs={"interval_s": settings.worker_interval_s},
                              name="cityloop-worker", daemon=True)
    thread.start()
    try:
        _serve(settings, host, port)
    finally:
        sweeps.stop.set()
        thread.join(timeout=10)
