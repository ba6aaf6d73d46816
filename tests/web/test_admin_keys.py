"""系统管理 · 采集设备, 接口密钥, 机器上报规则 in the console: a new key is shown once, on the page that made it, and
authenticates; rotating, retiring and revoking stop the old key at once; bad input stores nothing."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.models import ApiKey
from cityloop.auth.permissions import ApiScope
from cityloop.core.errors import Forbidden
from cityloop.intake import devices
from cityloop.intake.models import Device
from tests.conftest import World
from tests.web.helpers import Web, text_of

KEY = re.compile(r"cl_[0-9a-f]{12}_[A-Za-z0-9_\-]{20,}")


@pytest.fixture
def admin(client: TestClient, world: World) -> Web:
    return Web(client, world["admin"])


def count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_a_new_device_key_is_shown_once_and_works(admin: Web, session: Session) -> None:
    r = admin.post("/admin/devices", {"name": "北山街AI摄像头", "type": "video_ai", "vendor": "海康",
                                      "algorithm": "garbage-det", "algorithm_version": "2.1",
                                      "lat": "30.2590", "lon": "120.1519"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    keys = KEY.findall(r.text)
    assert len(set(keys)) == 1
    key = keys[0]
    session.expire_all()
    device = devices.authenticate(session, key)
    assert (device.name, device.lat, device.lon) == ("北山街AI摄像头", 30.2590, 120.1519)
    assert apikeys.authenticate(session, key, ApiScope.DEVICE).id == device.api_key_id
    listing = admin.get("/admin/devices")
    assert "北山街AI摄像头" in listing.text
    assert key not in listing.text
    assert not KEY.search(listing.text)

    rotated = admin.post(f"/admin/devices/{device.id}/rotate")
    assert rotated.status_code == 200
    new_key = KEY.findall(rotated.text)[0]
    assert new_key != key
    session.expire_all()
    with pytest.raises(Forbidden):
        devices.authenticate(session, key)
    assert devices.authenticate(session, new_key).id == device.id

    assert admin.post(f"/admin/devices/{device.id}/retire").status_code == 303
    session.expire_all()
    with pytest.raises(Forbidden):
        devices.authenticate(session, new_key)
    assert admin.post(f"/admin/devices/{device.id}/rotate").status_code == 409
    back = admin.post(f"/admin/devices/{device.id}/reactivate")
    assert back.status_code == 200
    session.expire_all()
    assert devices.authenticate(session, KEY.findall(back.text)[0]).id == device.id


def test_device_form_refusals(admin: Web, session: Session) -> None:
    half = admin.post("/admin/devices", {"name": "半个位置", "type": "drone", "lat": "30.1"})
    assert half.status_code == 422
    assert "纬度" in text_of(half.text)
    nan = admin.post("/admin/devices", {"name": "坏数字", "type": "drone", "lat": "north", "lon": "120"})
    assert nan.status_code == 422
    assert "纬度" in text_of(nan.text)
    kind = admin.post("/admin/devices", {"name": "未知类型", "type": "toaster"})
    assert kind.status_code == 422
    assert "设备类型" in text_of(kind.text)
    assert count(session, Device) == 0
    assert count(session, ApiKey) == 0


def test_api_key_create_and_revoke(admin: Web, session: Session) -> None:
    r = admin.post("/admin/apikeys", {"name": "12345 热线平台", "scopes": ["hotline", "open311"]})
    assert r.status_code == 200
    raw = KEY.findall(r.text)[0]
    session.expire_all()
    key = apikeys.authenticate(session, raw, ApiScope.HOTLINE)
    assert key.scopes == ["hotline", "open311"]
    assert key.name == "12345 热线平台"
    page = admin.get("/admin/apikeys")
    assert "12345 热线平台" in page.text
    assert raw not in page.text

    assert admin.post(f"/admin/apikeys/{key.id}/revoke").status_code == 303
    session.expire_all()
    with pytest.raises(Forbidden):
        apikeys.authenticate(session, raw, ApiScope.HOTLINE)
    assert "已吊销" in text_of(admin.get("/admin/apikeys").text)
    assert admin.post(f"/admin/apikeys/{key.id}/revoke").status_code == 404


def test_api_key_refusals(admin: Web, session: Session) -> None:
    none = admin.post("/admin/apikeys", {"name": "无范围"})
    assert none.status_code == 422
    assert "权限范围" in text_of(none.text)
    device = admin.post("/admin/apikeys", {"name": "假设备", "scopes": "device"})
    assert device.status_code == 422
    assert "权限范围" in text_of(device.text)
    assert count(session, ApiKey) == 0


def test_intake_thresholds_and_dedup_rules(admin: Web) -> None:
    r = admin.post("/admin/intake-rules/thresholds", {"category_code": "06010", "algorithm": "garbage-det",
                                                      "auto_at": "0.95", "review_at": "0.7"})
    assert r.status_code == 303
    bad = admin.post("/admin/intake-rules/thresholds", {"category_code": "06010", "auto_at": "0.5",
                                                        "review_at": "0.7"})
    assert bad.status_code == 422
    r = admin.post("/admin/intake-rules/dedup", {"category_code": "06010", "radius_m": "50", "window_min": "60"})
    assert r.status_code == 303
    page = text_of(admin.get("/admin/intake-rules").text)
    assert "garbage-det" in page
    assert "0.95" in page
    assert "50.0" in page
    assert admin.post("/admin/intake-rules/thresholds/delete",
                      {"category_code": "06010", "algorithm": "garbage-det"}).status_code == 303
    assert admin.post("/admin/intake-rules/dedup/delete", {"category_code": "06010"}).status_code == 303
    assert "garbage-det" not in text_of(admin.get("/admin/intake-rules").text)
