"""`cityloop workflow|worker|serve|demo`: running the system."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from cityloop import demo as demo_data
from cityloop import migrations
from cityloop.auth.permissions import ROLE_LABELS
from cityloop.cases import workflow
from cityloop.catalog.seed import seed_national_directory
from cityloop.cli.common import engine_for, password_policy
from cityloop.core.clock import SystemClock
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.settings import Settings, default_data_dir

# Top-level commands: registered on the root app by cli/__init__.py.
run_app = typer.Typer()

@run_app.command("workflow")
def workflow_diagram() -> None:
    """Print the case state diagram (Mermaid), generated from the transition table."""
    typer.echo(workflow.mermaid(), nl=False)


@run_app.command("worker")
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
    engine = engine_for(settings)
    try:
        ticks = run_worker(write_sessionmaker(engine), settings, clock=SystemClock(), sender=ConsoleSender(),
                           interval_s=interval, once=once)
    finally:
        engine.dispose()
    if once and any(t.failed for t in ticks):
        raise typer.Exit(code=1)  # a one-off run (cron, a check) must show its failure; tracebacks are logged


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from cityloop.areas import index as area_index
    from cityloop.main import create_app

    app = create_app(settings)
    # Build the map's locate index before the first report needs it (seconds for a city's worth of grids).
    started = time.perf_counter()
    try:
        with app.state.read_sessions() as session:
            grids = area_index.get_index(session).grids.size
    except sa.exc.DBAPIError as exc:  # not migrated yet: /health says so; the index builds on first use
        typer.echo(f"warning: map index not built ({type(exc.orig).__name__})", err=True)
        grids = 0
    if grids:
        typer.echo(f"map index ready: {grids} unit grids in {time.perf_counter() - started:.1f} s")
    uvicorn.run(app, host=host, port=port, log_level="info")


@run_app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API (OpenAPI docs at /docs)."""
    _serve(Settings(), host, port)


@run_app.command("demo")
def demo(host: str = "127.0.0.1", port: int = 8000,
         db: Annotated[Path | None, typer.Option(help="SQLite file of the demo city")] = None) -> None:
    """Migrate, load the demo city into an SQLite file if it is empty, print the logins and serve."""
    path = (db or default_data_dir() / "demo.sqlite").expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=f"sqlite:///{path}", demo_mode=True, public_base_url=f"http://{host}:{port}")
    engine = engine_for(settings)
    migrations.upgrade(engine)
    with session_scope(write_sessionmaker(engine)) as session:
        if not demo_data.is_loaded(session):
            typer.echo("loading the demo city (a minute or so, once) …")
            demo_data.load(session, password_policy(settings), SystemClock().now(), say=typer.echo)
        elif not demo_data.demo_intake.is_loaded(session):  # a demo database from before the intake channels
            demo_data.demo_intake.load(session, SystemClock().now())
        seed_national_directory(session)
        cases = session.scalar(sa.text("SELECT count(*) FROM cases"))
    engine.dispose()
    typer.echo(f"\ncityloop demo — database {path} ({cases} cases)")
    typer.echo(f"console http://{host}:{port}/  (sign in below; 随手拍 for citizens: http://{host}:{port}/public/report)")
    typer.echo(f"API http://{host}:{port}/api/v1   docs http://{host}:{port}/docs")
    typer.echo(f"demo logins (password: {demo_data.DEMO_PASSWORD}, accepted in demo mode only):")
    for username, role in demo_data.LOGINS:
        typer.echo(f"  {username:<13} {ROLE_LABELS[role]}")
    typer.echo("  district command centres (dispatcher, one district each): "
               + ", ".join(demo_data.district_dispatcher(c) for c in demo_data.city.CENTRAL) + " … (13 in all)")
    typer.echo("  streets' collectors: collector_<9-digit street code> (the patrol area of that street)")
    typer.echo("demo API keys (Open311 form field api_key; hotline and devices: header X-API-Key):")
    for name, key in demo_data.demo_intake.PUBLISHED_KEYS.items():
        typer.echo(f"  {key:<46} {name}")
    typer.echo(f"Open311 http://{host}:{port}/open311/discovery.json   "
               f"随手拍 POST http://{host}:{port}/api/v1/public/reports")
    typer.echo("the worker runs beside the server: deadline breaches and warnings, the outbox on the console")
    sys.stdout.flush()
    # The demo is one command, so the sweeps run in a thread of the server process instead of their own.
    from cityloop.jobs.runner import Worker
    from cityloop.notifications.senders import ConsoleSender

    sweeps = Worker(write_sessionmaker(engine_for(settings), info={"settings": settings}), settings,
                    clock=SystemClock(), sender=ConsoleSender())
    thread = threading.Thread(target=sweeps.run, kwargs={"interval_s": settings.worker_interval_s},
                              name="cityloop-worker", daemon=True)
    thread.start()
    try:
        _serve(settings, host, port)
    finally:
        sweeps.stop.set()
        thread.join(timeout=10)
