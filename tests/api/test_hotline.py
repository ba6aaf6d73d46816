"""12345 hotline transfers over HTTP: pushing work orders (idempotent by the hotline's order number), following
them through the workflow, polling for changes, keys and scopes, and what is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cases.models import Case
from cityloop.core.clock import FakeClock
from cityloop.intake.models import Channel, Report
from tests.api.helpers import Api
from tests.conftest import World
from tests.factories import EPOCH

LAT, LON = 30.2590, 120.1519
GARBAGE = "06010"


def make_key(session: Session, clock: FakeClock, *scopes: ApiScope, name: str = "12345平台") -> str:
    _key, raw = apikeys.create(session, name, scopes, now=clock.now())
    session.commit()  # releases the savepoint only: the outer transaction still undoes it all
    return raw


@pytest.fixture
def key(session: Session, clock: FakeClock, world: World) -> str:
    return make_key(session, clock, ApiScope.HOTLINE)


def order(external_id: str, **fields: Any) -> dict[str, Any]:
    return {"external_id": external_id, "kind": "event", "category_code": GARBAGE,
            "description": "市民来电：小区门口垃圾堆放多日", "lat": LAT, "lon": LON, "address": "北山街12号",
            "contact": {"name": "王五", "phone": "13700003333"}, **fields}


def push(client: TestClient, key: str | None, body: dict[str, Any], expect: int = 201) -> Any:
    r = client.post("/api/v1/intake/hotline/orders", json=body, headers={"X-API-Key": key} if key else {})
    assert r.status_code == expect, r.text
    return r.json()


def status(client: TestClient, key: str, external_id: str, expect: int = 200) -> Any:
    r = client.get(f"/api/v1/intake/hotline/orders/{external_id}", headers={"X-API-Key": key})
    assert r.status_code == expect, r.text
    return r.json()


def changes(client: TestClient, key: str, since: datetime, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/v1/intake/hotline/orders", params={"since": since.isoformat(), **params},
                   headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


def report_rows(session: Session, external_id: str | None = None) -> list[Report]:
    query = sa.select(Report).where(Report.channel == Channel.HOTLINE).order_by(Report.id)
    if external_id is not None:
        query = query.where(Report.external_id == external_id)
    return list(session.scalars(query))


def test_a_pushed_order_opens_a_case(client: TestClient, key: str, session: Session, api: Api) -> None:
    out = push(client, key, order("GD20261125001"))
    assert (out["external_id"], out["outcome"], out["status"], out["status_label"]) == (
        "GD20261125001", "created", "reported", "待受理")
    assert out["number"].startswith("20261125")
    assert (out["unit_name"], out["closed_at"]) == (None, None)
    assert [s["label"] for s in out["steps"]] == ["已上报"]
    case = api.get(out["case_id"])
    assert (case["source"], case["status"], case["public"], case["reporter_id"]) == ("hotline", "reported", True,
                                                                                    None)
    [rep] = report_rows(session)
    assert (rep.external_id, rep.case_id, rep.api_key_id is not None) == ("GD20261125001", out["case_id"], True)
    assert rep.contact == {"name": "王五", "phone": "13700003333"}
    assert rep.origin == f"key:{rep.api_key_id}"


def test_pushing_the_same_order_again_answers_the_same_case(client: TestClient, key: str, session: Session,
                                                            clock: FakeClock) -> None:
    first = push(client, key, order("GD1"))
    clock.advance(timedelta(minutes=5))
    again = push(client, key, order("GD1", description="重复推送", lat=LAT + 0.05), expect=200)
    assert (again["case_id"], again["number"], again["outcome"]) == (first["case_id"], first["number"], "created")
    assert len(report_rows(session, "GD1")) == 1
    assert int(session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0) == 1


def test_order_numbers_are_per_hotline_key(client: TestClient, key: str, session: Session,
                                           clock: FakeClock) -> None:
    other = make_key(session, clock, ApiScope.HOTLINE, name="区12345分中心")
    first = push(client, key, order("GD1"))
    theirs = push(client, other, order("GD1", lat=LAT + 0.01))
    assert theirs["case_id"] != first["case_id"]
    assert status(client, other, "GD1")["case_id"] == theirs["case_id"]
    assert status(client, key, "GD1")["case_id"] == first["case_id"]
    assert status(client, other, "GD404", expect=404)["field"] == "external_id"


def test_status_follows_the_case(client: TestClient, key: str, api: Api, world: World) -> None:
    out = push(client, key, order("GD1"))
    case_id = out["case_id"]
    assert status(client, key, "GD1")["status"] == "reported"
    api.act(case_id, "accept", note="内部：转街道")
    now = status(client, key, "GD1")
    assert (now["status"], now["status_label"]) == ("registered", "待立案")
    api.act(case_id, "file")
    assert status(client, key, "GD1")["status"] == "filed"
    api.act(case_id, "comment", note="已联系来电人，正在处理", public=True)
    api.act(case_id, "dispatch")
    now = status(client, key, "GD1")
    assert (now["status"], now["unit_name"]) == ("dispatched", "处置单位A")
    assert [s["label"] for s in now["steps"]] == ["已上报", "已受理", "已立案", "答复", "已派遣：处置单位A"]
    assert "内部" not in str(now)
    for action in ("complete", "request_check", "check", "close"):
        api.act(case_id, action)
    now = status(client, key, "GD1")
    assert (now["status"], now["closed_at"] is not None) == ("closed", True)
    assert now["steps"][-1]["label"] == "已结案"


def test_polling_lists_orders_changed_since(client: TestClient, key: str, api: Api, clock: FakeClock) -> None:
    start = clock.now()
    a = push(client, key, order("GD-A"))
    push(client, key, order("GD-B", lat=LAT + 0.01))
    assert [o["external_id"] for o in changes(client, key, start - timedelta(seconds=1))] == ["GD-A", "GD-B"]
    assert changes(client, key, start) == []  # strictly after
    clock.advance(timedelta(minutes=10))
    api.act(a["case_id"], "accept")
    listed = changes(client, key, start)
    assert [(o["external_id"], o["status"]) for o in listed] == [("GD-A", "registered")]
    # Polling again with the last updated_at seen finds nothing new.
    last = datetime.fromisoformat(listed[-1]["updated_at"])
    assert changes(client, key, last) == []
    r = client.get("/api/v1/intake/hotline/orders", params={"since": "2026-11-25T10:00:00"},
                   headers={"X-API-Key": key})
    assert (r.status_code, r.json()["field"]) == (422, "since")


def test_polling_with_a_limit_loses_no_order(client: TestClient, key: str, clock: FakeClock) -> None:
    """Orders whose cases changed at the same instant (two orders merged into one case, a job touching many)
    must not be split by the limit: the next poll asks for changes strictly after the last updated_at."""
    start = clock.now() - timedelta(seconds=1)
    for i in range(3):
        push(client, key, order(f"GD{i}", lat=LAT + 0.01 * i))
    seen: list[str] = []
    since = start
    for _ in range(5):
        page = changes(client, key, since, limit=2)
        if not page:
            break
        seen += [o["external_id"] for o in page]
        since = datetime.fromisoformat(page[-1]["updated_at"])
    assert sorted(seen) == ["GD0", "GD1", "GD2"]


def test_a_key_without_the_hotline_scope_is_refused(client: TestClient, session: Session, clock: FakeClock,
                                                    key: str) -> None:
    open311 = make_key(session, clock, ApiScope.OPEN311, name="open311 client")
    push(client, key, order("GD1"))
    body = push(client, open311, order("GD2"), expect=403)
    assert (body["code"], body["field"]) == ("api_key_scope", "X-API-Key")
    assert status(client, open311, "GD1", expect=403)["code"] == "api_key_scope"
    r = client.get("/api/v1/intake/hotline/orders", params={"since": EPOCH.isoformat()},
                   headers={"X-API-Key": open311})
    assert r.status_code == 403
    assert push(client, None, order("GD3"), expect=403)["code"] == "api_key_required"
    assert [r.external_id for r in report_rows(session)] == ["GD1"]


def test_a_revoked_key_is_refused(client: TestClient, session: Session, clock: FakeClock, key: str) -> None:
    push(client, key, order("GD1"))
    apikeys.revoke(session, "12345平台", now=clock.now())
    session.commit()
    assert push(client, key, order("GD2"), expect=403)["code"] == "invalid_api_key"


def test_an_order_without_a_place_is_a_422_naming_lat(client: TestClient, key: str, session: Session) -> None:
    body = push(client, key, order("GD1", lat=None, lon=None), expect=422)
    assert (body["code"], body["field"]) == ("validation_error", "lat")
    assert report_rows(session) == []
    assert int(session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0) == 0
    # The same order with its place is then taken: nothing of the refused push was kept.
    assert push(client, key, order("GD1"))["outcome"] == "created"


def test_an_unknown_part_is_a_422_naming_part_code(client: TestClient, key: str, session: Session) -> None:
    body = push(client, key, order("GD1", lat=None, lon=None, part_code="33010200101001234"), expect=422)
    assert body["field"] == "part_code"
    assert report_rows(session) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"external_id": ""}, "external_id"),
    ({"category_code": "99999"}, "category_code"),
    ({"lat": 91.0}, "lat"),
    ({"kind": "part"}, "category_code"),
])
def test_bad_orders_are_refused_naming_the_field(client: TestClient, key: str, session: Session,
                                                 fields: dict[str, Any], field: str) -> None:
    body = push(client, key, {**order("GD1"), **fields}, expect=422)
    assert body["field"] == field
    assert report_rows(session) == []


def test_an_order_without_external_id_is_refused(client: TestClient, key: str, session: Session) -> None:
    body = order("GD1")
    del body["external_id"]
    assert push(client, key, body, expect=422)["field"] == "external_id"
    assert report_rows(session) == []


def test_a_non_public_order_opens_a_non_public_case(client: TestClient, key: str, session: Session) -> None:
    out = push(client, key, order("GD1", public=False, description="投诉邻居装修噪声，涉及个人信息"))
    case = session.get(Case, out["case_id"])
    assert case is not None
    session.refresh(case)
    assert case.public is False


def test_orders_about_the_same_thing_share_a_case(client: TestClient, key: str, api: Api) -> None:
    first = push(client, key, order("GD1"))
    second = push(client, key, order("GD2", lat=LAT + 0.0001))
    assert (second["outcome"], second["case_id"]) == ("merged", first["case_id"])
    assert api.get(first["case_id"])["report_count"] == 2
