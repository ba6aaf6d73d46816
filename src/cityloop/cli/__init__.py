"""`cityloop …`: thin commands over the same services the API uses. One module per area of work."""

from __future__ import annotations

import typer

from cityloop.cli.bench import bench_app
from cityloop.cli.calendar import calendar_app, deadlines_app
from cityloop.cli.catalog import catalog_app
from cityloop.cli.db import db_app
from cityloop.cli.geo import geo_app
from cityloop.cli.intake import apikey_app, device_app
from cityloop.cli.parts import parts_app
from cityloop.cli.routing import routing_app
from cityloop.cli.run import run_app
from cityloop.cli.users import unit_app, user_app

app = typer.Typer(help="cityloop — 数字城管: the closed loop of city problems.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(unit_app, name="unit")
app.add_typer(catalog_app, name="catalog")
app.add_typer(calendar_app, name="calendar")
app.add_typer(deadlines_app, name="deadlines")
app.add_typer(geo_app, name="geo")
app.add_typer(routing_app, name="routing")
app.add_typer(parts_app, name="parts")
app.add_typer(apikey_app, name="apikey")
app.add_typer(device_app, name="device")
app.add_typer(bench_app, name="bench")
app.registered_commands.extend(run_app.registered_commands)
