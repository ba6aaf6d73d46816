"""随手拍 over HTTP: anonymous and signed-in reports, JSON or a form with photos, the progress page a token
opens (public fields only), the rate limit, de-duplication between citizens, and what is refused."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment
from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cases.models import Case
from cityloop.core.clock import FakeClock
from cityloop.intake.models import Channel, Report
from cityloop.main import create_app
from cityloop.settings import Settings
from tests.api.helpers import Api
from tests.conftest import World, share_test_session

GPS_IFD = 0x8825
LAT, LON = 30.2590, 120.1519
GARBAGE = "06010"  # 暴露垃圾
ALICE = {"name": "张三", "phone": "13900001111", "email": "zhangsan@example.com"}
BOB = {"name": "李四", "phone": "13800002222"}


def body(**fields: Any) -> dict[str, Any]:
    return {"kind": "event", "category_code": GARBAGE, "description": "路边一堆垃圾没人清", "lat": LAT, "lon": LON,
            "address": "北山街断桥东", **fields}


def report(client: TestClient, expect: int = 201, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    r = client.post("/api/v1/public/reports", json=body(**fields), headers=headers or {})
    assert r.status_code == expect, r.text
    return r.json()


def progress(client: TestClient, number: str, token: str, expect: int = 200) -> Any:
    r = client.get(f"/api/v1/public/reports/{number}", params={"token": token})
    assert r.status_code == expect, r.text
    return r.json()


def case_of(session: Session, number: str) -> Case:
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case is not None
    return case


def counts(session: Session) -> tuple[int, int, int]:
    return tuple(int(session.scalar(sa.select(sa.func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                 for t in (Case, Report, Attachment))


def jpeg(*, gps: bool = True) -> bytes:
    img = Image.merge("RGB", [Image.effect_noise((320, 240), 40)] * 3)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if gps:  # 30°15'32.4" N, 120°9'7.5" E
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 15.0, 32.4), 3: "E", 4: (120.0, 9.0, 7.5)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


# --- reporting and following ---------------------------------------------------------------------------------------

def test_anonymous_report_gives_a_number_and_a_token(client: TestClient, session: Session) -> None:
    out = report(client, contact=ALICE)
    assert set(out) == {"number", "token"}
    assert len(out["token"]) >= 20
    case = case_of(session, out["number"])
    assert (case.source.value, case.status.value, case.reporter_id, case.public) == ("citizen", "reported", None,
                                                                                     True)
    [rep] = session.scalars(sa.select(Report).where(Report.case_id == case.id)).all()
    assert (rep.channel, rep.origin, rep.reporter_id) == (Channel.PUBLIC, "public", None)
    assert rep.contact == ALICE
    assert rep.token_hash is not None
    assert out["token"] not in (rep.token_hash or "")  # only a digest is kept


def test_progress_shows_public_fields_only(client: TestClient, api: Api, world: World, session: Session) -> None:
    out = report(client, contact=ALICE)
    view = progress(client, out["number"], out["token"])
    assert (view["number"], view["status"], view["status_label"]) == (out["number"], "reported", "待受理")
    assert (view["category_code"], view["category_name"]) == (GARBAGE, "暴露垃圾")
    assert [s["label"] for s in view["steps"]] == ["已上报"]
    assert view["photos"] == []

    case_id = case_of(session, out["number"]).id
    api.act(case_id, "accept", note="内部备注：转环卫所")
    api.act(case_id, "comment", note="内部：该点位本周第三次上报")
    api.act(case_id, "comment", note="感谢您的反映，已安排清运", public=True)
    api.act(case_id, "file")
    view = progress(client, out["number"], out["token"])
    assert view["status"] == "filed"
    labels = [s["label"] for s in view["steps"]]
    assert labels == ["已上报", "已受理", "答复", "已立案"]
    assert [s["reply"] for s in view["steps"]] == [None, None, "感谢您的反映，已安排清运", None]
    text = client.get(f"/api/v1/public/reports/{out['number']}", params={"token": out["token"]}).text
    for secret in ("内部备注", "第三次上报", *ALICE.values(), "operator", "shift_leader", "actor", "contact"):
        assert secret not in text, secret
    assert set(view) == {"number", "status", "status_label", "category_code", "category_name", "reported_at",
                         "updated_at", "closed_at", "lat", "lon", "address", "location_desc", "steps", "photos"}


def test_wrong_token_or_number_is_a_404(client: TestClient) -> None:
    first = report(client)
    second = report(client, lat=LAT + 0.01)
    assert first["number"] != second["number"]
    for number, token in ((first["number"], "x" * 32), ("20991231000001", first["token"]),
                          (second["number"], first["token"]), (first["number"], second["token"])):
        r = client.get(f"/api/v1/public/reports/{number}", params={"token": token})
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (number, token)
    r = client.get(f"/api/v1/public/reports/{first['number']}")
    assert r.status_code == 422
    assert r.json()["field"] == "token"


def test_a_photo_with_gps_locates_a_report_without_coordinates(client: TestClient, session: Session) -> None:
    r = client.post("/api/v1/public/reports",
                    data={"kind": "event", "category_code": GARBAGE, "description": "垃圾", "contact_name": "张三",
                          "contact_phone": "13900001111"},
                    files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    out = r.json()
    case = case_of(session, out["number"])
    assert case.lat == pytest.approx(30.259, abs=1e-6)
    assert case.lon == pytest.approx(120.1520833, abs=1e-6)
    [rep] = session.scalars(sa.select(Report).where(Report.case_id == case.id)).all()
    assert rep.contact == {"name": "张三", "phone": "13900001111"}
    [photo] = session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id)).all()
    assert (photo.report_id, photo.stage.value) == (rep.id, "report")
    view = progress(client, out["number"], out["token"])
    assert len(view["photos"]) == 1
    assert view["photos"][0].endswith(f"/open311/media/{photo.public_id}")


def test_form_coordinates_win_over_the_photos(client: TestClient, session: Session) -> None:
    r = client.post("/api/v1/public/reports",
                    data={"kind": "event", "category_code": GARBAGE, "description": "垃圾", "lat": "30.2700",
                          "lon": "120.1600"},
                    files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    case = case_of(session, r.json()["number"])
    assert case.lat == pytest.approx(30.27)
    assert case.lon == pytest.approx(120.16)


def test_no_coordinates_and_no_gps_is_a_422_naming_lat(client: TestClient, session: Session) -> None:
    before = counts(session)
    r = client.post("/api/v1/public/reports", data={"kind": "event", "category_code": GARBAGE, "description": "垃圾"},
                    files=[("photos", ("a.jpg", jpeg(gps=False), "image/jpeg"))])
    assert (r.status_code, r.json()["field"]) == (422, "lat"), r.text
    assert counts(session) == before


def test_a_photos_gps_is_wgs84_whatever_crs_the_form_names(client: TestClient, session: Session) -> None:
    r = client.post("/api/v1/public/reports",
                    data={"kind": "event", "category_code": GARBAGE, "description": "垃圾", "crs": "gcj02"},
                    files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    case = case_of(session, r.json()["number"])
    assert case.lat == pytest.approx(30.259, abs=1e-6)
    assert case.lon == pytest.approx(120.1520833, abs=1e-6)


def test_a_non_image_photo_refuses_the_whole_report(client: TestClient, session: Session,
                                                    settings: Settings) -> None:
    before = counts(session)
    r = client.post("/api/v1/public/reports",
                    data={"kind": "event", "category_code": GARBAGE, "description": "垃圾", "lat": str(LAT),
                          "lon": str(LON)},
                    files=[("photos", ("a.jpg", b"this is not a picture", "image/jpeg"))])
    assert 400 <= r.status_code < 500
    assert r.json()["field"] == "photos[0]", r.text
    assert counts(session) == before
    root = settings.attachments_path()
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_the_second_bad_photo_is_named(client: TestClient, session: Session) -> None:
    before = counts(session)
    r = client.post("/api/v1/public/reports",
                    data={"kind": "event", "category_code": GARBAGE, "description": "垃圾"},
                    files=[("photos", ("a.jpg", jpeg(), "image/jpeg")),
                           ("photos", ("b.jpg", b"GIF89a", "image/gif"))])
    assert (r.status_code, r.json()["field"]) == (422, "photos[1]"), r.text
    assert counts(session) == before


# --- the rate limit ------------------------------------------------------------------------------------------------

@pytest.fixture
def strict_client(settings: Settings, clock: FakeClock,
                  session_factory: Callable[[], Session]) -> Iterator[TestClient]:
    application = create_app(settings.model_copy(update={"public_reports_per_minute": 2}), clock=clock)
    share_test_session(application, session_factory)
    with TestClient(application) as c:
        yield c
    application.state.engine.dispose()


def test_too_many_reports_from_one_client_are_a_429(strict_client: TestClient, clock: FakeClock,
                                                    session: Session) -> None:
    report(strict_client)
    clock.advance(timedelta(seconds=20))
    report(strict_client, lat=LAT + 0.01)
    before = counts(session)
    r = strict_client.post("/api/v1/public/reports", json=body(lat=LAT + 0.02))
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert r.headers["Retry-After"] == "40"
    assert counts(session) == before
    clock.advance(timedelta(seconds=40))  # the first report leaves the window
    report(strict_client, lat=LAT + 0.03)
    assert strict_client.post("/api/v1/public/reports", json=body(lat=LAT + 0.04)).status_code == 429


def test_signed_in_citizens_are_limited_apart_from_anonymous_ones(strict_client: TestClient, world: World) -> None:
    report(strict_client)
    report(strict_client, lat=LAT + 0.01)
    assert strict_client.post("/api/v1/public/reports", json=body(lat=LAT + 0.02)).status_code == 429
    report(strict_client, headers=world["citizen"].headers, lat=LAT + 0.03)


# --- signed-in citizens --------------------------------------------------------------------------------------------

def test_a_signed_in_citizen_sees_own_reports(client: TestClient, world: World, session: Session) -> None:
    mine = report(client, headers=world["citizen"].headers, contact=BOB)
    report(client, lat=LAT + 0.01)  # anonymous: nobody's list
    second = report(client, headers=world["citizen"].headers, lat=LAT + 0.02, category_code="06012")
    r = client.get("/api/v1/public/reports", headers=world["citizen"].headers)
    assert r.status_code == 200, r.text
    assert [v["number"] for v in r.json()] == [second["number"], mine["number"]]
    assert "李四" not in r.text
    case = case_of(session, mine["number"])
    assert (case.reporter_id, case.source.value) == (world["citizen"].id, "citizen")
    # Other people's lists do not show them; an anonymous caller has no list.
    assert client.get("/api/v1/public/reports", headers=world["collector"].headers).json() == []
    assert client.get("/api/v1/public/reports").status_code == 401


# --- de-duplication ------------------------------------------------------------------------------------------------

def test_two_citizens_reporting_the_same_thing_share_the_case(client: TestClient, world: World,
                                                              session: Session) -> None:
    first = report(client, contact=ALICE)
    second = report(client, contact=BOB, lat=LAT + 0.0001, description="垃圾堆了好几天")  # about 11 m away
    assert second["number"] == first["number"]
    assert second["token"] != first["token"]
    case = case_of(session, first["number"])
    session.refresh(case)
    assert case.report_count == 2
    for mine, theirs in ((first, BOB), (second, ALICE)):
        r = client.get(f"/api/v1/public/reports/{mine['number']}", params={"token": mine["token"]})
        assert r.status_code == 200
        assert r.json()["number"] == first["number"]
        for value in theirs.values():
            assert value not in r.text
    # Staff see both reporters, to call them back.
    r = client.get(f"/api/v1/cases/{case.id}/reports", headers=world["operator"].headers)
    assert [(x["outcome"], x["contact"]) for x in r.json()] == [("created", ALICE), ("merged", BOB)]


def test_a_citizen_never_joins_a_non_public_case(client: TestClient, api: Api, session: Session,
                                                clock: FakeClock) -> None:
    """A hotline complaint naming a person is not public; a citizen reporting the same spot must not be shown
    its case (its address, its replies to the complainant) on the progress page."""
    _key, raw = apikeys.create(session, "12345平台", [ApiScope.HOTLINE], now=clock.now())
    session.commit()
    r = client.post("/api/v1/intake/hotline/orders", headers={"X-API-Key": raw}, json={
        "external_id": "GD1", "kind": "event", "category_code": GARBAGE, "description": "投诉邻居王某乱堆垃圾",
        "lat": LAT, "lon": LON, "address": "北山街12号王某家门口", "public": False})
    assert r.status_code == 201, r.text
    private_id = r.json()["case_id"]
    api.act(private_id, "comment", note="王先生您好，已约谈邻居", public=True)
    mine = report(client)
    view = progress(client, mine["number"], mine["token"])
    assert mine["number"] != r.json()["number"]
    assert "王" not in str(view)
    # Staff still see both; the hotline's own case is untouched.
    assert api.get(private_id)["report_count"] == 1


def test_a_report_far_away_or_of_another_class_opens_its_own_case(client: TestClient) -> None:
    first = report(client)
    assert report(client, lat=LAT + 0.001)["number"] != first["number"]  # 111 m
    assert report(client, category_code="06012")["number"] != first["number"]


# --- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "field"), [
    ({"category_code": None}, "category_code"),
    ({"lat": 91.0}, "lat"),
    ({"lat": None}, "lat"),
    ({"lon": -181}, "lon"),
    ({"category_code": "99999"}, "category_code"),
    ({"kind": "part"}, "category_code"),           # 06010 is an event class
    ({"category_code": "6010x"}, "category_code"),
    ({"kind": "thing"}, "kind"),
    ({"description": ""}, "description"),
    ({"crs": "bd09"}, "crs"),
    ({"unexpected": 1}, "unexpected"),
])
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(client: TestClient, session: Session,
                                                                   fields: dict[str, Any], field: str) -> None:
    before = counts(session)
    data = {k: v for k, v in body(**fields).items() if v is not None}
    r = client.post("/api/v1/public/reports", json=data)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert counts(session) == before


def test_a_body_that_is_not_json_is_a_422_naming_body(client: TestClient, session: Session) -> None:
    before = counts(session)
    r = client.post("/api/v1/public/reports", content=b"{oops", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["field"]) == (422, "body")
    assert counts(session) == before


def test_a_class_closed_to_the_public_is_refused_naming_the_field(client: TestClient, session: Session) -> None:
    from cityloop.catalog import queries as catalog_queries
    from cityloop.catalog.enums import Kind

    fields = body()
    category = catalog_queries.find(session, Kind(fields["kind"]), fields["category_code"])
    assert category is not None
    category.public_intake = False
    session.flush()
    before = counts(session)
    r = report(client, expect=422)
    assert r["field"] == "category_code"
    assert counts(session) == before


def test_a_citizens_report_through_the_case_api_is_on_their_list_too(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/cases", headers=world["citizen"].headers, json=body())
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/public/reports", headers=world["citizen"].headers).json()
    assert [v["number"] for v in listed] == [r.json()["number"]]
