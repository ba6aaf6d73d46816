"""Every way in, in the demo: an Open311 client and the 12345 platform with published keys, a fleet of six
devices (AI cameras, a drone, a vehicle camera, a waterlogging sensor) whose detections go through the real
batch intake — some file themselves, some join cases, some wait for review, some are dropped, the sensor raises
an emergency — a citizen's 随手拍, a hotline work order and an Open311 request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.intake import devices, machine, rules
from cityloop.intake import service as intake
from cityloop.intake.models import Channel, Device, DeviceType
from cityloop.intake.schemas import ContactIn, DedupRuleIn, DeviceIn, ReportIn

# Published like the demo password; they exist only in a database the demo loaded.
OPEN311_KEY = "cl_demoopen311_cityloop-demo-open311-client"
HOTLINE_KEY = "cl_demohotline_cityloop-demo-12345-platform"
# (key, name, type, vendor, algorithm, version, lon, lat, alarm threshold)
DEVICES: tuple[tuple[str, str, DeviceType, str, str, str, float | None, float | None, float | None], ...] = (
    ("cl_democam1_cityloop-demo-camera-1", "演示文三路智能摄像头", DeviceType.VIDEO_AI, "演示厂商甲", "垃圾识别", "2.1",
     120.1349, 30.2782, None),
    ("cl_democam2_cityloop-demo-camera-2", "演示黄龙路智能摄像头", DeviceType.VIDEO_AI, "演示厂商乙", "占道经营识别",
     "1.4", 120.1380, 30.2715, None),
    ("cl_demodrone1_cityloop-demo-drone-1", "演示西湖区巡查无人机", DeviceType.DRONE, "演示厂商丙", "垃圾识别", "2.1",
     None, None, None),
    ("cl_democar1_cityloop-demo-vehicle-1", "演示环卫车载摄像头", DeviceType.VEHICLE_CAMERA, "演示厂商甲", "垃圾识别",
     "2.0", None, None, None),
    ("cl_demowater1_cityloop-demo-water-1", "演示曙光路积水传感器", DeviceType.IOT_SENSOR, "演示厂商丁", "水位", "1.0",
     120.1450, 30.2705, 15.0),
)


def is_loaded(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Device)) != 0


def _code(session: Session, kind: Kind, name: str) -> str:
    """The adopted directory's code for a class, by its name (the demo runs on 运城's legacy codes)."""
    code = session.scalar(sa.select(Category.code).where(
        Category.scheme == catalog_queries.adopted_version(session), Category.kind == kind, Category.name == name))
    assert code is not None, f"the adopted directory has no {name}"
    return code


PUBLISHED_KEYS: dict[str, str] = {"Open311 客户端": OPEN311_KEY, "12345 热线平台": HOTLINE_KEY,
                                  **{name: key for key, name, *_ in DEVICES}}


def load(session: Session, now: datetime) -> None:
    """Register the keys and devices and send their traffic."""
    open311_key, _ = apikeys.create(session, "演示Open311客户端", [ApiScope.OPEN311], now=now, raw=OPEN311_KEY)
    hotline_key, _ = apikeys.create(session, "演示12345热线平台", [ApiScope.HOTLINE], now=now, raw=HOTLINE_KEY)
    garbage, vendor = _code(session, Kind.EVENT, "暴露生活垃圾"), _code(session, Kind.EVENT, "无照经营游商")
    water = _code(session, Kind.EVENT, "道路积水")
    # A garbage heap stays until someone clears it: sightings a day apart are still the same heap.
    rules.set_dedup_rule(session, DedupRuleIn(category_code=garbage, radius_m=30, window_min=24 * 60), now=now)
    fleet = {}
    for key, name, type_, maker, algorithm, version, lon, lat, alarm in DEVICES:
        device, _ = devices.add(session, DeviceIn(
            name=name, type=type_, vendor=maker, algorithm=algorithm, algorithm_version=version, lon=lon, lat=lat,
            alarm_threshold=alarm, alarm_category_code=water if alarm is not None else None), now=now, raw=key)
        fleet[key] = device
    cam1, cam2, drone, car, sensor = (fleet[d[0]] for d in DEVICES)

    def ev(n: int, code: str, confidence: float, minutes_ago: float, lon: float | None = None,
           lat: float | None = None, **more: Any) -> dict[str, Any]:
        return {"device_event_id": f"demo-{n}", "occurred_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
                "kind": "event", "category_code": code, "confidence": confidence, "lon": lon, "lat": lat, **more}

    # The camera on 文三路 keeps seeing the garbage a citizen reported: its detections join that case.
    machine.submit_events(session, cam1, [ev(i, garbage, 0.95, 50 - i * 8) for i in range(1, 6)], now=now)
    # The drone finds new garbage heaps: confident, so they are filed without a person; a second pass joins.
    machine.submit_events(session, drone, [
        ev(1, garbage, 0.93, 40, 120.1410, 30.2745), ev(2, garbage, 0.91, 38, 120.1290, 30.2760),
        ev(3, garbage, 0.94, 12, 120.14102, 30.27452)], now=now)
    # Street vendors at 黄龙: the algorithm is less sure; the sightings wait, grouped, for the operator.
    machine.submit_events(session, cam2, [ev(i, vendor, 0.72, 30 - i * 5) for i in range(1, 5)], now=now)
    # A vehicle camera's weak detections are counted and dropped.
    machine.submit_events(session, car, [ev(1, garbage, 0.35, 20, 120.1330, 30.2700),
                                         ev(2, garbage, 0.41, 18, 120.1335, 30.2702)], now=now)
    # Water on 曙光路 above 15 cm: an emergency case, filed and dispatched at once.
    machine.submit_events(session, sensor, [ev(1, water, 1.0, 9, value=8.0), ev(2, water, 1.0, 4, value=22.5)],
                          now=now)

    citizen = intake.Sender(Channel.PUBLIC, "public")
    intake.submit_report(session, citizen, ReportIn(
        kind=Kind.EVENT, category_code=garbage, description="保俶路公交站后面有人倾倒建筑垃圾", lat=30.2672,
        lon=120.1462, address="西湖区保俶路公交站", contact=ContactIn(name="演示市民", phone="13800000000")),
        now=now - timedelta(minutes=25), issue_token=True)
    hotline = intake.Sender(Channel.HOTLINE, f"key:{hotline_key.id}", api_key_id=hotline_key.id)
    intake.submit_report(session, hotline, ReportIn(
        kind=Kind.EVENT, category_code=vendor, description="市民来电：黄龙体育中心南门晚上有流动摊贩占道", lat=30.2695,
        lon=120.1372, address="西湖区黄龙路南门", external_id="12345-DEMO-0001",
        contact=ContactIn(name="来电市民", phone="13900000000")), now=now - timedelta(minutes=15))
    client = intake.Sender(Channel.OPEN311, f"key:{open311_key.id}", api_key_id=open311_key.id)
    intake.submit_report(session, client, ReportIn(
        kind=Kind.EVENT, category_code=garbage, description="Open311 客户端上报：曙光路绿化带内有垃圾", lat=30.2720,
        lon=120.1440), now=now - timedelta(minutes=5))
