"""`cityloop apikey …` and `cityloop device …`: credentials of other systems and the device registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cli.common import database
from cityloop.core.clock import SystemClock, to_business
from cityloop.intake import devices
from cityloop.intake.models import DeviceType
from cityloop.intake.schemas import DeviceIn, DevicePatch

apikey_app = typer.Typer(help="API keys of other systems: Open311 clients, the 12345 hotline.", no_args_is_help=True)
device_app = typer.Typer(help="Machine-collection devices: AI cameras, drones, vehicle cameras, sensors.",
                         no_args_is_help=True)


@apikey_app.command("create")
def create_key(name: str,
               scope: Annotated[list[ApiScope] | None, typer.Option(
                   "--scope", help="open311 (default), hotline; repeat for several")] = None) -> None:
    """Issue a key. The key is printed once, as the last line: keep it, it cannot be shown again."""
    with database(write=True) as session:
        key, raw = apikeys.create(session, name, scope or [ApiScope.OPEN311], now=SystemClock().now())
        ident, scopes = key.id, ",".join(key.scopes)
    typer.echo(f"key #{ident} {name!r} ({scopes})", err=True)
    typer.echo(raw)


@apikey_app.command("revoke")
def revoke_key(key: Annotated[str, typer.Argument(help="the key's id, prefix or name")]) -> None:
    """Revoke a key; requests with it are refused from now on."""
    with database(write=True) as session:
        row = apikeys.revoke(session, key, now=SystemClock().now())
        ident, name = row.id, row.name
    typer.echo(f"key #{ident} {name!r} revoked")


@apikey_app.command("list")
def list_keys() -> None:
    """Every key: id, prefix, scopes, state (never the key itself)."""
    with database(write=False) as session:
        for k in apikeys.list_keys(session):
            state = f"revoked {to_business(k.revoked_at):%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            typer.echo(f"#{k.id:<5} {k.prefix:<14} {','.join(k.scopes):<20} {state:<24} {k.name}")


@device_app.command("add")
def add_device(
    type_: Annotated[DeviceType, typer.Option("--type", help="video_ai, drone, vehicle_camera or iot_sensor")],
    name: Annotated[str, typer.Option("--name")],
    vendor: Annotated[str, typer.Option("--vendor")] = "",
    algorithm: Annotated[str, typer.Option("--algorithm", help="detection algorithm's name")] = "",
    algorithm_version: Annotated[str, typer.Option("--algorithm-version")] = "",
    lat: Annotated[float | None, typer.Option("--lat", help="fixed location (WGS-84)")] = None,
    lon: Annotated[float | None, typer.Option("--lon")] = None,
    alarm_threshold: Annotated[float | None, typer.Option(
        "--alarm-threshold", help="sensors: a reading at or above this opens an emergency case")] = None,
    alarm_category: Annotated[str | None, typer.Option(
        "--alarm-category", help="sensors: the class of that case (default: the event's)")] = None,
) -> None:
    """Register a device. Prints {"id": …, "api_key": …} as the last line; the key is shown only this once."""
    data = DeviceIn(name=name, type=type_, vendor=vendor, algorithm=algorithm, algorithm_version=algorithm_version,
                    lat=lat, lon=lon, alarm_threshold=alarm_threshold, alarm_category_code=alarm_category)
    with database(write=True) as session:
        device, raw = devices.add(session, data, now=SystemClock().now())
        ident = device.id
    typer.echo(json.dumps({"id": ident, "api_key": raw}))


@device_app.command("list")
def list_devices() -> None:
    with database(write=False) as session:
        for d in devices.list_devices(session):
            where = f"{d.lat:.6f},{d.lon:.6f}" if d.lat is not None and d.lon is not None else "mobile"
            algo = f"{d.algorithm}@{d.algorithm_version}" if d.algorithm_version else d.algorithm
            typer.echo(f"#{d.id:<5} {d.type.value:<15} {'active' if d.active else 'retired':<8} {where:<22} "
                       f"{algo:<24} {d.name}")


@device_app.command("retire")
def retire_device(device_id: int) -> None:
    """Deactivate a device and revoke its key."""
    with database(write=True) as session:
        devices.update(session, device_id, DevicePatch(active=False), now=SystemClock().now())
    typer.echo(f"device #{device_id} retired; its key no longer works")
