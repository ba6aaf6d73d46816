"""The device registry: each device has its own API key (scope `device`), shown once at creation."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.models import ApiKey
from cityloop.auth.permissions import ApiScope
from cityloop.core.errors import Forbidden, NotFound, ValidationFailed
from cityloop.core.geo import check_wgs84
from cityloop.intake.models import Device
from cityloop.intake.schemas import DeviceIn, DevicePatch


def add(session: Session, data: DeviceIn, *, now: datetime, created_by: int | None = None,
        raw: str | None = None) -> tuple[Device, str]:
    """A new device and its API key in plain text (never stored, never shown again; `raw`: the demo's)."""
    _check_place(data.lat, data.lon)
    key, raw = apikeys.create(session, f"device:{data.name}", [ApiScope.DEVICE], now=now, created_by=created_by,
                              raw=raw)
    device = Device(**data.model_dump(), api_key_id=key.id, active=True, created_at=now, updated_at=now)
    session.add(device)
    session.flush()
    return device, raw


def update(session: Session, device_id: int, patch: DevicePatch, *, now: datetime) -> Device:
    device = get(session, device_id)
    changes = patch.model_dump(exclude_unset=True)
    lat, lon = changes.get("lat", device.lat), changes.get("lon", device.lon)
    _check_place(lat, lon)
    for name, value in changes.items():
        setattr(device, name, value)
    if changes.get("active") is False:
        key = session.get(ApiKey, device.api_key_id)
        if key is not None and key.revoked_at is None:
            key.revoked_at = now  # a retired device's key stops working at once
    device.updated_at = now
    return device


def rotate_key(session: Session, device_id: int, *, now: datetime, created_by: int | None = None) -> tuple[Device, str]:
    """Revoke the device's key and issue a new one (a leaked key, a re-flashed camera)."""
    device = get(session, device_id)
    old = session.get(ApiKey, device.api_key_id)
    if old is not None and old.revoked_at is None:
        old.revoked_at = now
    key, raw = apikeys.create(session, f"device:{device.name}", [ApiScope.DEVICE], now=now, created_by=created_by)
    device.api_key_id, device.updated_at = key.id, now
    return device, raw


def get(session: Session, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}", field="device_id")
    return device


def list_devices(session: Session, *, active: bool | None = None) -> list[Device]:
    query = sa.select(Device).order_by(Device.id)
    if active is not None:
        query = query.where(Device.active.is_(active))
    return list(session.scalars(query))


def authenticate(session: Session, raw: str | None) -> Device:
    """The active device whose key this is (403 otherwise)."""
    key = apikeys.authenticate(session, raw, ApiScope.DEVICE)
    device = session.scalar(sa.select(Device).where(Device.api_key_id == key.id))
    if device is None or not device.active:
        raise Forbidden(f"{apikeys.HEADER}: the key belongs to no active device", field=apikeys.HEADER,
                        code="invalid_api_key")
    return device


def _check_place(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise ValidationFailed("lat: give both lat and lon of a fixed device, or neither", field="lat")
    if lat is not None and lon is not None:
        check_wgs84(lon, lat)
