"""Machine collection (智能采集) over HTTP: devices and their keys, event batches and their per-event outcomes,
confidence bands, de-duplication, idempotent retries, the review queue, sensor alarms and the machine figures."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import Stage
from cityloop.attachments.storage import storage_for
from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.workflow import Action
from cityloop.core.clock import FakeClock
from cityloop.intake.models import Device, Report
from cityloop.settings import Settings
from tests import mapworld
from tests.api.helpers import Api
from tests.api.test_attachments_api import photo
from tests.api.test_dispatch_by_area import set_policy
from tests.api.test_routing_api import city
from tests.conftest import World
from tests.factories import EPOCH

__all__ = ["city"]  # a fixture, used by name

LAT, LON = 30.2590, 120.1519  # no map is loaded in most tests: any valid point will do
GARBAGE = "06010"             # 暴露垃圾 (event)
LITTER = "06012"              # 道路不洁 (event)
SNOW = "10001"                # 道路积雪、结冰 (event)
M_PER_DEG = 111_320.0


def moved(lat: float, lon: float, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    return lat + north_m / M_PER_DEG, lon + east_m / (M_PER_DEG * math.cos(math.radians(lat)))


def event(ident: str, confidence: float = 0.95, *, lat: float | None = LAT, lon: float | None = LON,
          code: str = GARBAGE, kind: str = "event", at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"device_event_id": ident, "occurred_at": (at or EPOCH).isoformat(), "kind": kind,
                            "category_code": code, "confidence": confidence, **extra}
    if lat is not None:
        body["lat"] = lat
    if lon is not None:
        body["lon"] = lon
    return body


def add_device(client: TestClient, world: World, **fields: Any) -> tuple[int, str]:
    body = {"name": "北山街AI摄像头", "type": "video_ai", "vendor": "海康", "algorithm": "garbage-det",
            "algorithm_version": "2.1", **fields}
    r = client.post("/api/v1/intake/devices", json=body, headers=world["admin"].headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert set(out) == {"id", "api_key"}
    return out["id"], out["api_key"]


def send(client: TestClient, key: str | None, *events: Any, expect: int = 200) -> Any:
    headers = {"X-API-Key": key} if key is not None else {}
    r = client.post("/api/v1/intake/events", json={"events": list(events)}, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()["results"] if expect == 200 else r.json()


def outcomes(results: list[dict[str, Any]]) -> list[str]:
    return [r["outcome"] for r in results]


def reports(session: Session, device_id: int | None = None) -> list[Report]:
    query = sa.select(Report).order_by(Report.id)
    if device_id is not None:
        query = query.where(Report.device_id == device_id)
    return list(session.scalars(query))


def case_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0)


def put(client: TestClient, world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.put(f"/api/v1/intake/{path}", json=body, headers=world["admin"].headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


@pytest.fixture
def device(client: TestClient, world: World) -> tuple[int, str]:
    return add_device(client, world)


@pytest.fixture
def key(device: tuple[int, str]) -> str:
    return device[1]


# --- the registry -------------------------------------------------------------------------------------------------

def test_admin_registers_a_device_and_sees_its_key_once(client: TestClient, world: World,
                                                        session: Session) -> None:
    device_id, raw = add_device(client, world, lat=LAT, lon=LON)
    assert raw.startswith(apikeys.KEY_PREFIX)
    r = client.get(f"/api/v1/intake/devices/{device_id}", headers=world["admin"].headers)
    assert r.status_code == 200
    out = r.json()
    assert (out["name"], out["type"], out["active"], out["lat"], out["lon"]) == ("北山街AI摄像头", "video_ai", True,
                                                                                 LAT, LON)
    assert raw not in r.text
    # Only the key's hash is kept.
    stored = session.get(Device, device_id)
    assert stored is not None
    listed = client.get("/api/v1/intake/devices", headers=world["admin"].headers).json()
    assert [d["id"] for d in listed] == [device_id]


@pytest.mark.parametrize("who", ["operator", "dispatcher", "collector", "citizen"])
def test_only_admins_manage_devices(client: TestClient, world: World, who: str) -> None:
    r = client.post("/api/v1/intake/devices", json={"name": "x", "type": "drone"}, headers=world[who].headers)
    assert r.status_code == 403
    assert client.get("/api/v1/intake/devices", headers=world[who].headers).status_code == 403
    assert client.put("/api/v1/intake/thresholds", json={"category_code": "*", "auto_at": 0.5, "review_at": 0.2},
                      headers=world[who].headers).status_code == 403


def test_a_device_place_needs_both_coordinates(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/intake/devices", json={"name": "x", "type": "drone", "lat": LAT},
                    headers=world["admin"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "lat")


# --- confidence bands -----------------------------------------------------------------------------------------------

def test_a_confident_event_files_a_case_without_a_person(client: TestClient, world: World, api: Api,
                                                         device: tuple[int, str], session: Session) -> None:
    device_id, key = device
    [result] = send(client, key, event("e1", 0.95, snapshot_url="https://cam.example/e1.jpg"))
    assert (result["device_event_id"], result["outcome"], result["reason"]) == ("e1", "created", None)
    case = api.get(result["case_id"])
    assert (case["status"], case["source"], case["report_count"]) == ("filed", "device", 1)
    assert (case["kind"], case["category_code"]) == ("event", GARBAGE)
    assert "北山街AI摄像头发现暴露垃圾" in case["description"]
    events = api.events(case["id"])
    assert [e["action"] for e in events] == ["report", "accept", "file"]
    assert all(e["role"] == "system" and e["actor_id"] is None for e in events)
    r = client.get(f"/api/v1/cases/{case['id']}/reports", headers=world["operator"].headers)
    assert r.status_code == 200
    [rep] = r.json()
    assert (rep["channel"], rep["device_id"], rep["external_id"], rep["outcome"]) == ("device", device_id, "e1",
                                                                                     "created")
    assert (rep["confidence"], rep["algorithm"]) == (0.95, "garbage-det@2.1")
    assert rep["extra"] == {"snapshot_url": "https://cam.example/e1.jpg"}


def test_an_auto_dispatch_class_is_dispatched_at_once(client: TestClient, world: World, api: Api,
                                                      city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", GARBAGE, "district", auto=True)
    _id, key = add_device(client, world)
    lon, lat = mapworld.center("330101", 2, 1)
    [result] = send(client, key, event("e1", 0.99, lat=lat, lon=lon))
    assert result["outcome"] == "created"
    case = api.get(result["case_id"])
    assert (case["status"], case["source"]) == ("dispatched", "device")
    assert case["unit_id"] == city.unit("330101002-HW").id
    assert case["street_code"] == "330101002"


def test_a_middling_event_waits_for_review_and_is_accepted(client: TestClient, world: World, api: Api,
                                                           device: tuple[int, str], session: Session) -> None:
    device_id, key = device
    near = moved(LAT, LON, north_m=10)
    results = send(client, key, event("q1", 0.7), event("q2", 0.65, lat=near[0], lon=near[1]))
    assert outcomes(results) == ["queued", "queued"]
    assert all(r["case_id"] is None for r in results)
    assert case_count(session) == 0

    r = client.get("/api/v1/intake/review", headers=world["operator"].headers)
    assert r.status_code == 200
    queue = r.json()
    assert queue["total"] == 1  # the second joined the first while both wait
    [item] = queue["items"]
    assert (item["external_id"], item["device_id"], item["duplicates"], item["review"]) == ("q1", device_id, 1,
                                                                                            "pending")

    r = client.post(f"/api/v1/intake/review/{item['id']}/accept", json={"note": "复核属实"},
                    headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    case = r.json()
    assert (case["status"], case["source"], case["report_count"]) == ("registered", "device", 2)
    assert [rep.case_id for rep in reports(session, device_id)] == [case["id"], case["id"]]
    assert client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["total"] == 0
    again = client.post(f"/api/v1/intake/review/{item['id']}/accept", json={}, headers=world["operator"].headers)
    assert (again.status_code, again.json()["code"]) == (409, "already_reviewed")
    # A retry of the queued event now answers with the case it went into.
    [replayed] = send(client, key, event("q1", 0.7))
    assert (replayed["outcome"], replayed["case_id"]) == ("queued", case["id"])


def test_a_middling_event_joins_one_waiting_from_an_earlier_batch(client: TestClient, world: World, api: Api,
                                                                  key: str, clock: FakeClock) -> None:
    send(client, key, event("q1", 0.7))
    clock.advance(timedelta(minutes=30))
    lat, lon = moved(LAT, LON, east_m=12)
    [second] = send(client, key, event("q2", 0.75, lat=lat, lon=lon, at=clock.now()))
    assert (second["outcome"], second["case_id"]) == ("queued", None)
    queue = client.get("/api/v1/intake/review", headers=world["operator"].headers).json()
    assert [(i["external_id"], i["duplicates"]) for i in queue["items"]] == [("q1", 1)]
    case = client.post(f"/api/v1/intake/review/{queue['items'][0]['id']}/accept",
                       headers=world["operator"].headers).json()
    assert case["report_count"] == 2
    assert case["last_report_at"].startswith("2026-11-25T10:30")
    # Later events of the spot join the case.
    [third] = send(client, key, event("q3", 0.7, at=clock.now()))
    assert (third["outcome"], third["case_id"]) == ("merged", case["id"])
    assert api.get(case["id"])["report_count"] == 3


def test_accepting_a_report_joins_a_case_opened_meanwhile(client: TestClient, world: World, api: Api, key: str,
                                                          session: Session) -> None:
    """While a report waits for review, a confident event (or a citizen) opens a case at the same spot: the
    confirmed report joins that case rather than opening a second one."""
    [queued] = send(client, key, event("q1", 0.7))
    [confident] = send(client, key, event("e2", 0.97, code=GARBAGE))
    assert confident["outcome"] == "created"  # a waiting report is no case to join
    [item] = client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["items"]
    r = client.post(f"/api/v1/intake/review/{item['id']}/accept", headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["status"]) == (confident["case_id"], "filed")
    assert api.get(confident["case_id"])["report_count"] == 2
    assert case_count(session) == 1
    assert queued["outcome"] == "queued"


def test_photos_of_a_queued_report_follow_it_into_its_case(client: TestClient, world: World, key: str,
                                                           session: Session, settings: Settings,
                                                           clock: FakeClock) -> None:
    send(client, key, event("q1", 0.7))
    [item] = client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["items"]
    attachment = attachment_service.save(
        session, storage_for(settings), data=photo(), filename="cam.jpg", stage=Stage.REPORT, case_id=None,
        report_id=item["id"], uploaded_by=None, now=clock.now(), max_bytes=10 * 1024 * 1024,
        max_pixels=settings.max_image_pixels)
    session.commit()
    case = client.post(f"/api/v1/intake/review/{item['id']}/accept", headers=world["operator"].headers).json()
    session.refresh(attachment)
    assert attachment.case_id == case["id"]
    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=world["operator"].headers)
    assert [a["id"] for a in listed.json()] == [attachment.id]


def test_a_rejected_review_opens_nothing(client: TestClient, world: World, key: str, session: Session) -> None:
    send(client, key, event("q1", 0.7))
    [item] = client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["items"]
    missing = client.post(f"/api/v1/intake/review/{item['id']}/reject", json={},
                          headers=world["operator"].headers)
    assert (missing.status_code, missing.json()["field"]) == (422, "reason")
    r = client.post(f"/api/v1/intake/review/{item['id']}/reject", json={"reason": "塑料袋，非暴露垃圾"},
                    headers=world["operator"].headers)
    assert r.status_code == 200, r.text
    assert (r.json()["review"], r.json()["review_note"]) == ("rejected", "塑料袋，非暴露垃圾")
    assert case_count(session) == 0
    assert client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["total"] == 0


@pytest.mark.parametrize("who", ["collector", "dispatcher", "citizen", "unit_a_staff"])
def test_only_reviewers_see_the_queue(client: TestClient, world: World, who: str) -> None:
    assert client.get("/api/v1/intake/review", headers=world[who].headers).status_code == 403
    for verdict in ("accept", "reject"):
        r = client.post(f"/api/v1/intake/review/1/{verdict}", json={"reason": "x"}, headers=world[who].headers)
        assert r.status_code == 403


def test_the_queue_filters_by_class_and_answers_404_for_unknown_reports(client: TestClient, world: World,
                                                                        key: str) -> None:
    far = moved(LAT, LON, north_m=500)
    send(client, key, event("q1", 0.7), event("q2", 0.7, code=LITTER, lat=far[0], lon=far[1]))
    r = client.get("/api/v1/intake/review", params={"category_code": LITTER}, headers=world["operator"].headers)
    assert [i["external_id"] for i in r.json()["items"]] == ["q2"]
    r = client.post("/api/v1/intake/review/999999/accept", headers=world["operator"].headers)
    assert (r.status_code, r.json()["field"]) == (404, "report_id")


def test_a_weak_event_is_counted_and_dropped(client: TestClient, world: World, device: tuple[int, str],
                                             session: Session) -> None:
    device_id, key = device
    [result] = send(client, key, event("d1", 0.3))
    assert (result["outcome"], result["case_id"]) == ("dropped", None)
    assert case_count(session) == 0
    assert [(r.outcome.value, r.review) for r in reports(session, device_id)] == [("dropped", None)]
    assert client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["total"] == 0


@pytest.mark.parametrize(("confidence", "outcome"), [(0.9, "created"), (0.8999, "queued"), (0.6, "queued"),
                                                      (0.5999, "dropped")])
def test_band_edges_follow_the_defaults(client: TestClient, key: str, confidence: float, outcome: str) -> None:
    assert outcomes(send(client, key, event("e", confidence))) == [outcome]


# --- what is refused -------------------------------------------------------------------------------------------------

def test_bad_events_are_refused_one_by_one_and_the_good_ones_stored(client: TestClient, world: World,
                                                                    device: tuple[int, str],
                                                                    session: Session) -> None:
    device_id, key = device
    results = send(client, key,
                   event("good1", 0.95),
                   event("badlat", 0.95, lat=91.0),
                   event("badcode", 0.95, code="99999"),
                   event("wrongkind", 0.95, kind="part"),           # 06010 is an event class
                   event("noplace", 0.95, lat=None, lon=None),        # the device has no fixed place
                   event("halfplace", 0.95, lon=None),
                   {"device_event_id": "noconf", "occurred_at": EPOCH.isoformat(), "kind": "event",
                    "category_code": GARBAGE, "lat": LAT, "lon": LON},
                   event("future", 0.95, at=EPOCH + timedelta(hours=1)),
                   "not an object",
                   event("good2", 0.7, lat=moved(LAT, LON, north_m=500)[0]))
    assert outcomes(results) == ["created", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected",
                                 "rejected", "rejected", "queued"]
    by_id = {r["device_event_id"]: r for r in results}
    assert by_id["badlat"]["reason"].startswith("lat:")
    assert by_id["badcode"]["reason"].startswith("category_code:")
    assert "99999" in by_id["badcode"]["reason"]
    assert by_id["wrongkind"]["reason"].startswith("category_code:")
    assert by_id["noplace"]["reason"].startswith("lat:")
    assert by_id["halfplace"]["reason"].startswith("lon:")
    assert by_id["noconf"]["reason"].startswith("confidence:")
    assert by_id["future"]["reason"].startswith("occurred_at:")
    assert results[8]["device_event_id"] is None
    assert all(r["case_id"] is None for r in results[1:])
    # Only the good ones were stored.
    assert sorted(r.external_id or "" for r in reports(session, device_id)) == ["good1", "good2"]
    assert case_count(session) == 1


@pytest.mark.parametrize(("ahead", "outcome"), [(timedelta(minutes=4), "created"),
                                                 (timedelta(minutes=6), "rejected")])
def test_a_device_clock_a_little_ahead_is_tolerated(client: TestClient, key: str, ahead: timedelta,
                                                    outcome: str) -> None:
    assert outcomes(send(client, key, event("e1", 0.95, at=EPOCH + ahead))) == [outcome]


def test_a_time_without_offset_is_business_time(client: TestClient, api: Api, key: str, session: Session) -> None:
    body = event("e1", 0.95) | {"occurred_at": "2026-11-25T09:15:00"}  # 01:15 UTC
    [result] = send(client, key, body)
    assert api.get(result["case_id"])["last_report_at"].startswith("2026-11-25T09:15:00+08:00")
    [rep] = reports(session)
    assert rep.occurred_at == EPOCH - timedelta(minutes=45)


def test_an_event_without_a_place_takes_the_devices(client: TestClient, world: World, api: Api) -> None:
    _id, key = add_device(client, world, lat=LAT, lon=LON)
    [result, half] = send(client, key, event("e1", 0.95, lat=None, lon=None), event("e2", 0.95, lat=None))
    case = api.get(result["case_id"])
    assert (case["lat"], case["lon"]) == (pytest.approx(LAT), pytest.approx(LON))
    # Half a position is refused, not silently replaced by the device's.
    assert (half["outcome"], half["reason"].split(":")[0]) == ("rejected", "lat")


def test_a_place_outside_the_city_is_refused(client: TestClient, world: World, city: mapworld.MapWorld,
                                             session: Session) -> None:
    device_id, key = add_device(client, world)
    lon, lat = mapworld.center("330102", 1, 1)
    results = send(client, key, event("out", 0.95, lat=30.30, lon=120.00), event("in", 0.95, lat=lat, lon=lon))
    assert outcomes(results) == ["rejected", "created"]
    assert results[0]["reason"].startswith("lat/lon:")
    assert "outside the city" in results[0]["reason"]
    assert [r.external_id for r in reports(session, device_id)] == ["in"]
    case = session.get(Case, results[1]["case_id"])
    assert case is not None
    assert (case.district_code, case.street_code) == ("330102", "330102001")


def test_a_batch_over_the_limit_is_refused_whole(client: TestClient, key: str, session: Session) -> None:
    body = send(client, key, *[event(f"e{i}", 0.95) for i in range(1001)], expect=422)
    assert (body["code"], body["field"]) == ("validation_error", "events")
    assert "1000" in body["message"]
    assert reports(session) == []
    assert len(send(client, key, *[event(f"e{i}", 0.1) for i in range(1000)])) == 1000


@pytest.mark.parametrize(("content", "field"), [
    (b"{not json", "body"),
    (b"\xff\xfe", "body"),
    (b"[]", "events"),
    (b'{"events": {"a": 1}}', "events"),
    (b'{"items": []}', "events"),
])
def test_a_malformed_body_is_a_422(client: TestClient, key: str, content: bytes, field: str) -> None:
    r = client.post("/api/v1/intake/events", content=content,
                    headers={"X-API-Key": key, "Content-Type": "application/json"})
    assert (r.status_code, r.json()["field"]) == (422, field), r.text


def test_an_empty_batch_is_answered_empty(client: TestClient, key: str) -> None:
    assert send(client, key) == []


# --- keys ------------------------------------------------------------------------------------------------------------

def test_events_need_a_valid_device_key(client: TestClient, world: World, session: Session,
                                        clock: FakeClock, key: str) -> None:
    for bad, code in ((None, "api_key_required"), ("", "api_key_required"), ("cl_nope_nope", "invalid_api_key"),
                      (key + "x", "invalid_api_key"), ("garbage", "invalid_api_key")):
        body = send(client, bad, event("e1"), expect=403)
        assert (body["code"], body["field"]) == (code, "X-API-Key"), bad
    _hotline, hotline_raw = apikeys.create(session, "12345平台", [ApiScope.HOTLINE], now=clock.now())
    session.commit()
    assert send(client, hotline_raw, event("e1"), expect=403)["code"] == "api_key_scope"
    # A staff token is not a device key either.
    r = client.post("/api/v1/intake/events", json={"events": [event("e1")]}, headers=world["admin"].headers)
    assert r.status_code == 403
    assert reports(session) == []


def test_a_rotated_key_stops_working(client: TestClient, world: World, device: tuple[int, str]) -> None:
    device_id, old = device
    r = client.post(f"/api/v1/intake/devices/{device_id}/rotate-key", headers=world["admin"].headers)
    assert r.status_code == 200, r.text
    new = r.json()["api_key"]
    assert new != old
    assert send(client, old, event("e1"), expect=403)["code"] == "invalid_api_key"
    assert outcomes(send(client, new, event("e1"))) == ["created"]


def test_a_retired_device_is_refused(client: TestClient, world: World, device: tuple[int, str]) -> None:
    device_id, key = device
    r = client.patch(f"/api/v1/intake/devices/{device_id}", json={"active": False}, headers=world["admin"].headers)
    assert (r.status_code, r.json()["active"]) == (200, False)
    assert send(client, key, event("e1"), expect=403)["field"] == "X-API-Key"


def test_an_inactive_device_is_refused_even_with_a_live_key(client: TestClient, device: tuple[int, str],
                                                            session: Session) -> None:
    device_id, key = device
    row = session.get(Device, device_id)
    assert row is not None
    row.active = False
    session.commit()
    body = send(client, key, event("e1"), expect=403)
    assert (body["code"], body["field"]) == ("invalid_api_key", "X-API-Key")
    assert reports(session) == []


# --- de-duplication --------------------------------------------------------------------------------------------------

def test_a_second_event_nearby_joins_the_open_case(client: TestClient, world: World, api: Api, key: str,
                                                   session: Session, clock: FakeClock) -> None:
    [first] = send(client, key, event("e1", 0.95))
    clock.advance(timedelta(minutes=30))
    lat, lon = moved(LAT, LON, north_m=20, east_m=-15)  # 25 m away
    [second] = send(client, key, event("e2", 0.95, lat=lat, lon=lon, at=EPOCH + timedelta(minutes=30)))
    assert (second["outcome"], second["case_id"]) == ("merged", first["case_id"])
    case = api.get(first["case_id"])
    assert case["report_count"] == 2
    assert case["last_report_at"].startswith("2026-11-25T10:30")  # business time
    assert case_count(session) == 1
    r = client.get(f"/api/v1/cases/{first['case_id']}/reports", headers=world["operator"].headers)
    assert [(x["external_id"], x["outcome"]) for x in r.json()] == [("e1", "created"), ("e2", "merged")]


def test_a_middling_event_near_an_open_case_joins_it(client: TestClient, api: Api, key: str) -> None:
    [first] = send(client, key, event("e1", 0.95))
    [second] = send(client, key, event("e2", 0.7))
    assert (second["outcome"], second["case_id"]) == ("merged", first["case_id"])
    assert api.get(first["case_id"])["report_count"] == 2


def test_events_of_one_batch_join_each_other(client: TestClient, api: Api, key: str, session: Session) -> None:
    near = moved(LAT, LON, east_m=10)
    far = moved(LAT, LON, east_m=200)
    results = send(client, key, event("a", 0.95), event("b", 0.95, lat=near[0], lon=near[1]),
                   event("c", 0.95, lat=far[0], lon=far[1]), event("d", 0.95, lat=near[0], lon=near[1]))
    assert outcomes(results) == ["created", "merged", "created", "merged"]
    assert results[1]["case_id"] == results[3]["case_id"] == results[0]["case_id"]
    assert results[2]["case_id"] != results[0]["case_id"]
    assert api.get(results[0]["case_id"])["report_count"] == 3
    assert api.get(results[2]["case_id"])["report_count"] == 1
    assert case_count(session) == 2


@pytest.mark.parametrize(("north_m", "minutes", "joins"), [
    (29.0, 0, True), (31.0, 0, False),         # the default radius, 30 m
    (0.0, 120, True), (0.0, 121, False),       # the default window, 120 minutes
])
def test_radius_and_window(client: TestClient, key: str, clock: FakeClock, north_m: float, minutes: int,
                           joins: bool) -> None:
    [first] = send(client, key, event("e1", 0.95))
    clock.advance(timedelta(minutes=minutes))
    lat, lon = moved(LAT, LON, north_m=north_m)
    [second] = send(client, key, event("e2", 0.95, lat=lat, lon=lon, at=clock.now()))
    if joins:
        assert (second["outcome"], second["case_id"]) == ("merged", first["case_id"])
    else:
        assert second["outcome"] == "created"
        assert second["case_id"] != first["case_id"]


def test_the_window_runs_from_the_latest_report(client: TestClient, api: Api, key: str, clock: FakeClock) -> None:
    [first] = send(client, key, event("e1", 0.95))
    for i, minutes in enumerate((100, 200, 300), start=2):
        clock.set(EPOCH + timedelta(minutes=minutes))
        [later] = send(client, key, event(f"e{i}", 0.95, at=clock.now()))
        assert (later["outcome"], later["case_id"]) == ("merged", first["case_id"]), minutes
    case = api.get(first["case_id"])
    assert case["report_count"] == 4
    assert case["last_report_at"].startswith("2026-11-25T15:00")


def test_a_late_event_does_not_move_the_latest_report_back(client: TestClient, api: Api, key: str,
                                                           clock: FakeClock) -> None:
    clock.advance(timedelta(minutes=90))
    [first] = send(client, key, event("e1", 0.95, at=clock.now()))
    [late] = send(client, key, event("e0", 0.95, at=EPOCH))  # seen 90 minutes earlier, sent late
    assert (late["outcome"], late["case_id"]) == ("merged", first["case_id"])
    assert api.get(first["case_id"])["last_report_at"].startswith("2026-11-25T11:30")


def test_another_class_at_the_same_spot_is_another_case(client: TestClient, key: str) -> None:
    [first] = send(client, key, event("e1", 0.95))
    [other] = send(client, key, event("e2", 0.95, code=LITTER))
    assert other["outcome"] == "created"
    assert other["case_id"] != first["case_id"]


def test_a_closed_case_is_not_joined(client: TestClient, world: World, api: Api, key: str) -> None:
    [first] = send(client, key, event("e1", 0.95))
    case_id = first["case_id"]
    for action in ("dispatch", "complete", "request_check", "check", "close"):
        api.act(case_id, action)
    assert api.get(case_id)["status"] == "closed"
    [again] = send(client, key, event("e2", 0.95))
    assert again["outcome"] == "created"
    assert again["case_id"] != case_id
    assert api.get(case_id)["report_count"] == 1


def test_a_voided_case_is_not_joined(client: TestClient, api: Api, key: str) -> None:
    [first] = send(client, key, event("e1", 0.95))
    api.act(first["case_id"], "void")
    [again] = send(client, key, event("e2", 0.95))
    assert again["outcome"] == "created"
    assert again["case_id"] != first["case_id"]


def test_a_collectors_case_is_joined_by_a_device(client: TestClient, api: Api, key: str) -> None:
    case = api.report(kind="event", category_code=GARBAGE, lat=LAT, lon=LON)
    [result] = send(client, key, event("e1", 0.95))
    assert (result["outcome"], result["case_id"]) == ("merged", case["id"])
    assert api.get(case["id"])["report_count"] == 2


# --- idempotency -----------------------------------------------------------------------------------------------------

def test_a_resent_batch_gets_the_same_answers_and_stores_nothing_new(client: TestClient, api: Api, key: str,
                                                                    session: Session) -> None:
    near = moved(LAT, LON, north_m=10)
    far = moved(LAT, LON, north_m=300)
    batch = [event("c", 0.95), event("m", 0.95, lat=near[0], lon=near[1]), event("q", 0.7, lat=far[0], lon=far[1]),
             event("d", 0.2), event("x", 0.95, lat=95.0)]
    first = send(client, key, *batch)
    assert outcomes(first) == ["created", "merged", "queued", "dropped", "rejected"]
    stored = len(reports(session))
    assert stored == 4
    again = send(client, key, *batch)
    assert [(r["outcome"], r["case_id"]) for r in again] == [(r["outcome"], r["case_id"]) for r in first]
    assert len(reports(session)) == stored
    assert case_count(session) == 1
    assert api.get(first[0]["case_id"])["report_count"] == 2
    # A retry with changed content is still the same event.
    [changed] = send(client, key, event("c", 0.2, code=LITTER))
    assert (changed["outcome"], changed["case_id"]) == ("created", first[0]["case_id"])
    assert len(reports(session)) == stored


def test_the_same_event_twice_in_one_batch_is_one_report(client: TestClient, api: Api, key: str,
                                                         device: tuple[int, str], session: Session) -> None:
    results = send(client, key, event("e1", 0.95), event("e2", 0.95, code=LITTER), event("e1", 0.95))
    assert outcomes(results) == ["created", "created", "created"]
    assert results[0] == results[2]
    assert [r.external_id for r in reports(session, device[0])] == ["e1", "e2"]
    assert api.get(results[0]["case_id"])["report_count"] == 1


def test_event_ids_are_per_device(client: TestClient, world: World, api: Api, key: str) -> None:
    _other_id, other_key = add_device(client, world, name="车载视频1", type="vehicle_camera")
    [first] = send(client, key, event("e1", 0.95))
    [second] = send(client, other_key, event("e1", 0.95))
    assert (second["outcome"], second["case_id"]) == ("merged", first["case_id"])
    assert api.get(first["case_id"])["report_count"] == 2


# --- thresholds and dedup rules --------------------------------------------------------------------------------------

def test_a_class_threshold_changes_the_outcome(client: TestClient, world: World, key: str) -> None:
    assert outcomes(send(client, key, event("a", 0.55))) == ["dropped"]
    put(client, world, "thresholds", {"category_code": GARBAGE, "auto_at": 0.5, "review_at": 0.3})
    assert outcomes(send(client, key, event("b", 0.55))) == ["created"]
    far = moved(LAT, LON, north_m=500)
    assert outcomes(send(client, key, event("c", 0.4, lat=far[0], lon=far[1]))) == ["queued"]
    # Other classes keep the default.
    assert outcomes(send(client, key, event("d", 0.55, code=LITTER))) == ["dropped"]
    listed = client.get("/api/v1/intake/thresholds", headers=world["admin"].headers).json()
    assert listed == [{"category_code": GARBAGE, "algorithm": "*", "auto_at": 0.5, "review_at": 0.3}]


def test_the_most_specific_threshold_wins(client: TestClient, world: World, key: str) -> None:
    put(client, world, "thresholds", {"category_code": "*", "algorithm": "garbage-det", "auto_at": 0.8,
                                      "review_at": 0.5})
    assert outcomes(send(client, key, event("a", 0.85))) == ["created"]
    put(client, world, "thresholds", {"category_code": GARBAGE, "auto_at": 0.99, "review_at": 0.95})
    far = moved(LAT, LON, north_m=500)
    assert outcomes(send(client, key, event("b", 0.85, lat=far[0], lon=far[1]))) == ["dropped"]
    put(client, world, "thresholds", {"category_code": GARBAGE, "algorithm": "garbage-det", "auto_at": 0.7,
                                      "review_at": 0.6})
    far2 = moved(LAT, LON, north_m=1000)
    assert outcomes(send(client, key, event("c", 0.75, lat=far2[0], lon=far2[1]))) == ["created"]
    # Another algorithm is not matched by the class-and-algorithm row.
    _id, other = add_device(client, world, name="无人机1", type="drone", algorithm="drone-seg")
    far3 = moved(LAT, LON, north_m=1500)
    assert outcomes(send(client, other, event("d", 0.97, lat=far3[0], lon=far3[1]))) == ["queued"]
    r = client.delete(f"/api/v1/intake/thresholds/{GARBAGE}/garbage-det", headers=world["admin"].headers)
    assert r.status_code == 204
    far4 = moved(LAT, LON, north_m=2000)
    assert outcomes(send(client, key, event("e", 0.75, lat=far4[0], lon=far4[1]))) == ["dropped"]


def test_a_threshold_needs_review_below_auto(client: TestClient, world: World) -> None:
    r = client.put("/api/v1/intake/thresholds", json={"category_code": GARBAGE, "auto_at": 0.5, "review_at": 0.7},
                   headers=world["admin"].headers)
    assert r.status_code == 422
    assert "review_at: must not exceed auto_at" in r.json()["message"]
    assert client.get("/api/v1/intake/thresholds", headers=world["admin"].headers).json() == []
    r = client.put("/api/v1/intake/thresholds", json={"category_code": "abc", "auto_at": 0.5, "review_at": 0.2},
                   headers=world["admin"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "category_code")


def test_a_threshold_error_names_review_at_as_its_field(client: TestClient, world: World) -> None:
    r = client.put("/api/v1/intake/thresholds", json={"category_code": GARBAGE, "auto_at": 0.5, "review_at": 0.7},
                   headers=world["admin"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "review_at")


def test_a_class_dedup_rule_changes_what_joins(client: TestClient, world: World, key: str,
                                               clock: FakeClock) -> None:
    [first] = send(client, key, event("a", 0.95))
    lat, lon = moved(LAT, LON, north_m=60)
    [apart] = send(client, key, event("b", 0.95, lat=lat, lon=lon))
    assert apart["outcome"] == "created"
    put(client, world, "dedup-rules", {"category_code": GARBAGE, "radius_m": 100, "window_min": 600})
    lat, lon = moved(LAT, LON, north_m=-70)
    clock.advance(timedelta(hours=5))
    [joined] = send(client, key, event("c", 0.95, lat=lat, lon=lon, at=clock.now()))
    assert (joined["outcome"], joined["case_id"]) == ("merged", first["case_id"])
    listed = client.get("/api/v1/intake/dedup-rules", headers=world["admin"].headers).json()
    assert listed == [{"category_code": GARBAGE, "radius_m": 100.0, "window_min": 600}]
    # A narrower default for every class leaves the class rule in force.
    put(client, world, "dedup-rules", {"category_code": "*", "radius_m": 5, "window_min": 10})
    lat, lon = moved(LAT, LON, north_m=-40)
    [still] = send(client, key, event("d", 0.95, lat=lat, lon=lon, at=clock.now()))
    assert still["outcome"] == "merged"
    lat, lon = moved(LAT, LON, north_m=500)
    results = send(client, key, event("e", 0.95, code=LITTER, lat=lat, lon=lon, at=clock.now()),
                   event("f", 0.95, code=LITTER, lat=moved(lat, lon, north_m=8)[0], lon=lon, at=clock.now()))
    assert outcomes(results) == ["created", "created"]
    assert client.delete(f"/api/v1/intake/dedup-rules/{GARBAGE}", headers=world["admin"].headers).status_code == 204
    assert client.delete(f"/api/v1/intake/dedup-rules/{GARBAGE}",
                         headers=world["admin"].headers).status_code == 404


# --- sensors ---------------------------------------------------------------------------------------------------------

def test_a_sensor_alarm_files_and_dispatches_an_urgent_case_at_once(client: TestClient, world: World, api: Api,
                                                                    city: mapworld.MapWorld,
                                                                    session: Session) -> None:
    lon, lat = mapworld.center("330102", 2, 2)
    _id, key = add_device(client, world, name="路面结冰传感器", type="iot_sensor", algorithm="", lat=lat, lon=lon,
                          alarm_threshold=5.0, alarm_category_code=SNOW)
    results = send(client, key,
                   event("r1", 1.0, lat=None, lon=None, code=SNOW, value=2.5),
                   event("r2", 1.0, lat=None, lon=None, code=SNOW, value=5.0))
    assert outcomes(results) == ["dropped", "created"]
    case = api.get(results[1]["case_id"])
    assert (case["status"], case["urgent"], case["source"]) == ("dispatched", True, "device")
    sd = city.unit("330102002-SD")
    assert case["unit_id"] == sd.id
    actions = [e["action"] for e in api.events(case["id"])]
    assert actions == ["report", "accept", "file", "dispatch"]
    dispatch = session.scalar(sa.select(CaseEvent).where(CaseEvent.case_id == case["id"],
                                                         CaseEvent.action == Action.DISPATCH))
    assert dispatch is not None
    assert dispatch.actor_id is None
    assert "读数5" in case["description"]


def test_a_sensor_alarm_dispatches_even_a_class_not_marked_for_auto_dispatch(
        client: TestClient, world: World, api: Api, city: mapworld.MapWorld) -> None:
    set_policy(client, world, "event", SNOW, "district", auto=False)
    lon, lat = mapworld.center("330101", 1, 1)
    _id, key = add_device(client, world, name="积雪传感器", type="iot_sensor", lat=lat, lon=lon,
                          alarm_threshold=10, alarm_category_code=SNOW)
    [result] = send(client, key, event("r1", 1.0, lat=None, lon=None, code=GARBAGE, value=12))
    case = api.get(result["case_id"])
    assert (case["category_code"], case["status"]) == (SNOW, "dispatched")
    assert case["unit_id"] == city.unit("330101001-SD").id


# --- figures ---------------------------------------------------------------------------------------------------------

def test_precision_counts_rejections_and_voided_cases_against_the_algorithm(
        client: TestClient, world: World, api: Api, key: str, clock: FakeClock) -> None:
    spots = [moved(LAT, LON, north_m=300 * i) for i in range(6)]
    results = send(client, key,
                   event("good", 0.95, lat=spots[0][0], lon=spots[0][1]),
                   event("voided", 0.95, lat=spots[1][0], lon=spots[1][1]),
                   event("rejected", 0.7, lat=spots[2][0], lon=spots[2][1]),
                   event("accepted", 0.7, lat=spots[3][0], lon=spots[3][1]),
                   event("pending", 0.7, lat=spots[4][0], lon=spots[4][1]),
                   event("dropped", 0.1, lat=spots[5][0], lon=spots[5][1]))
    assert outcomes(results) == ["created", "created", "queued", "queued", "queued", "dropped"]
    api.act(results[1]["case_id"], "void")
    queue = {i["external_id"]: i["id"] for i in
             client.get("/api/v1/intake/review", headers=world["operator"].headers).json()["items"]}
    r = client.post(f"/api/v1/intake/review/{queue['rejected']}/reject", json={"reason": "误报"},
                    headers=world["operator"].headers)
    assert r.status_code == 200
    r = client.post(f"/api/v1/intake/review/{queue['accepted']}/accept", headers=world["operator"].headers)
    assert r.status_code == 200
    clock.advance(timedelta(minutes=1))
    r = client.get("/api/v1/intake/stats/precision", headers=world["leader"].headers)
    assert r.status_code == 200, r.text
    assert r.json() == [{"algorithm": "garbage-det@2.1", "reports": 6, "confirmed": 2, "rejected": 2, "pending": 1,
                         "dropped": 1, "precision": 0.5}]
    by_device = client.get("/api/v1/intake/stats/precision", params={"by": "device"},
                           headers=world["leader"].headers).json()
    assert [(d["device_name"], d["confirmed"], d["rejected"]) for d in by_device] == [("北山街AI摄像头", 2, 2)]


def test_machine_share_as_documented(client: TestClient, world: World, api: Api, key: str,
                                     clock: FakeClock) -> None:
    api.report()  # a collector's report: one staff report, one collector case
    far = moved(LAT, LON, north_m=500)
    results = send(client, key, event("c", 0.95), event("m", 0.95), event("q", 0.7, lat=far[0], lon=far[1]),
                   event("d", 0.1), event("x", 0.95, lat=99.0))
    assert outcomes(results) == ["created", "merged", "queued", "dropped", "rejected"]
    clock.advance(timedelta(minutes=1))
    r = client.get("/api/v1/intake/stats/machine-share", headers=world["leader"].headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["reports"] == {"total": 4, "machine": 3, "share": 0.75, "by_channel": {"staff": 1, "device": 3}}
    assert out["cases"] == {"total": 2, "machine": 1, "share": 0.5, "by_source": {"collector": 1, "device": 1}}
    assert out["dropped_events"] == 1
    # A window before any of it is empty.
    r = client.get("/api/v1/intake/stats/machine-share", headers=world["leader"].headers,
                   params={"start": "2026-10-01T00:00:00+08:00", "end": "2026-11-01T00:00:00+08:00"})
    assert r.json()["reports"] == {"total": 0, "machine": 0, "share": None, "by_channel": {}}
    r = client.get("/api/v1/intake/stats/machine-share", headers=world["leader"].headers,
                   params={"start": "2026-10-01T00:00:00"})
    assert (r.status_code, r.json()["field"]) == (422, "start")


@pytest.mark.parametrize("who", ["collector", "citizen", "unit_a_staff"])
def test_figures_need_stats_permission(client: TestClient, world: World, who: str) -> None:
    assert client.get("/api/v1/intake/stats/machine-share", headers=world[who].headers).status_code == 403
    assert client.get("/api/v1/intake/stats/precision", headers=world[who].headers).status_code == 403



def test_a_burst_of_new_problems_is_stored_in_slices_and_answered_in_order(client: TestClient, session: Session,
                                                                         key: str) -> None:
    # 250 places 100 m apart (no two within the dedup radius), each seen twice: 250 new cases in one call, more
    # than one transaction's share (100), and the second sighting of each joins the first across the slices.
    places = [moved(LAT, LON, north_m=100 * (i // 16), east_m=100 * (i % 16)) for i in range(250)]
    batch = [event(f"burst-{i}", lat=la, lon=lo) for i, (la, lo) in enumerate(places)]
    batch += [event(f"again-{i}", lat=la, lon=lo) for i, (la, lo) in enumerate(places)]
    batch.insert(120, batch[3])  # a repeat of an event answered in an earlier slice
    before = case_count(session)
    results = send(client, key, *batch)
    assert [r["device_event_id"] for r in results] == [e["device_event_id"] for e in batch]
    assert outcomes(results).count("created") == 251  # the repeat is answered as its first occurrence was
    assert len({r["case_id"] for r in results if r["outcome"] == "created"}) == 250
    assert case_count(session) - before == 250
    first = {r["device_event_id"]: r["case_id"] for r in results if r["device_event_id"].startswith("burst")}
    assert results[120] == results[3]
    for i in range(250):
        again = next(r for r in results if r["device_event_id"] == f"again-{i}")
        assert (again["outcome"], again["case_id"]) == ("merged", first[f"burst-{i}"])
    assert len(reports(session)) == 500
