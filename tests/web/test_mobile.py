"""The collector's phone pages: open 核实/核查 tasks, the task page and its form, reporting a problem with GPS and
photos, and case photos served by the web session."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment, Stage
from cityloop.cases.models import Case, Source
from cityloop.cases.workflow import Status
from cityloop.catalog.enums import Kind
from cityloop.intake.models import Channel, Report
from cityloop.settings import Settings
from tests.api.helpers import Api
from tests.conftest import World
from tests.web.helpers import Web, counts, jpeg, stored_files, text_of

LAT, LON = 30.2590, 120.1519








def report_form(**fields: str) -> dict[str, str]:
    return {"category": "part:01001", "description": "供水井盖缺失，有人险些踩空", "lat": str(LAT), "lon": str(LON),
            "crs": "wgs84", "address": "北山街断桥东50米", **fields}


def task_links(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="task" href="/m/cases/(\d+)"', html)}


# --- the collector's home and task page ----------------------------------------------------------------------

def test_home_lists_only_the_collectors_own_open_tasks(client: TestClient, api: Api, world: World) -> None:
    verify = api.case_at(Status.VERIFYING, address="北山街断桥东50米")
    check = api.case_at(Status.CHECKING)
    elsewhere = api.report()  # reported by the collector, but no task
    other = api.report()
    api.act(other["id"], "request_verification", collector_id=world["collector_b"].id)

    r = Web(client, world["collector"]).get("/m")
    assert r.status_code == 200
    assert task_links(r.text) == {verify["id"], check["id"]}
    text = text_of(r.text)
    assert "上报问题" in text
    assert verify["number"] in text
    assert check["number"] in text
    assert "核实 · " + verify["number"] in text
    assert "核查 · " + check["number"] in text
    assert "供水井盖" in text  # the class name, not just its code
    assert "北山街断桥东50米" in text  # where to go (the address, as no map is loaded)
    assert elsewhere["number"] not in text

    assert task_links(Web(client, world["collector_b"]).get("/m").text) == {other["id"]}


def test_home_shows_what_was_just_done(client: TestClient, world: World) -> None:
    r = Web(client, world["collector"]).get("/m?done=reported&case=20261101000007")
    assert '<p class="flash ok" role="status">20261101000007：已上报</p>' in r.text
    # Only codes make a message: text in a link never shows as the console's own words.
    forged = Web(client, world["collector"]).get("/m?done=" + quote("请拨打 400-000 缴纳罚款") + "&case=x").text
    assert "400-000" not in forged
    assert 'class="flash ok"' not in forged
    assert "已上报" in Web(client, world["collector"]).get("/m?done=reported&case=<b>x</b>").text


def test_home_is_for_collectors(client: TestClient, world: World) -> None:
    assert Web(client, world["unit_a_staff"]).get("/m").status_code == 403
    assert Web(client).get("/m").headers["location"] == "/login?next=/m"


def test_verify_task_page_offers_the_verify_form_only(client: TestClient, api: Api, world: World) -> None:
    case = api.case_at(Status.VERIFYING)
    r = Web(client, world["collector"]).get(f"/m/cases/{case['id']}")
    assert r.status_code == 200
    html = r.text
    assert f'action="/cases/{case["id"]}/act/verify"' in html
    assert "/act/check" not in html
    assert 'name="confirmed" value="true"' in html
    assert 'name="confirmed" value="false"' in html
    assert 'name="passed"' not in html
    assert 'enctype="multipart/form-data"' in html
    assert 'hx-boost="false"' in html
    assert re.search(r'<input type="file" name="photos" accept="image/\*" capture="environment" multiple', html)
    assert '<input type="hidden" name="next" value="/m">' in html
    assert f'/map/case/{case["id"]}.geojson' in html
    text = text_of(html)
    assert "属实" in text
    assert "不属实" in text
    assert "供水井盖缺失" in text


def test_check_task_page_offers_the_check_form_only(client: TestClient, api: Api, world: World) -> None:
    case = api.case_at(Status.CHECKING)
    html = Web(client, world["collector"]).get(f"/m/cases/{case['id']}").text
    assert f'action="/cases/{case["id"]}/act/check"' in html
    assert "/act/verify" not in html
    assert 'name="passed" value="true"' in html
    assert 'name="passed" value="false"' in html
    assert 'name="confirmed"' not in html
    assert "通过" in text_of(html)
    assert "不通过" in text_of(html)


def test_no_form_without_a_task_of_ones_own(client: TestClient, api: Api, world: World) -> None:
    reported = api.report()
    html = Web(client, world["collector"]).get(f"/m/cases/{reported['id']}").text  # own report, no task
    assert "/act/" not in html
    assert "没有需要你完成的任务" in text_of(html)
    # Staff who may see every case see the page, not the collector's form.
    verifying = api.case_at(Status.VERIFYING)
    html = Web(client, world["operator"]).get(f"/m/cases/{verifying['id']}").text
    assert "/act/verify" not in html
    assert "已派给其他监督员" in text_of(html)
    # Another collector does not see the case at all.
    assert Web(client, world["collector_b"]).get(f"/m/cases/{verifying['id']}").status_code == 404


def test_verify_form_as_posted_from_the_task_page(client: TestClient, api: Api, world: World,
                                                   session: Session) -> None:
    case = api.case_at(Status.VERIFYING)
    page = Web(client, world["collector"]).get(f"/m/cases/{case['id']}").text
    version = re.search(r'name="expected_version" value="(\d+)"', page)
    assert version is not None
    r = Web(client, world["collector"]).post(
        f"/cases/{case['id']}/act/verify",
        {"confirmed": "true", "note": "现场确认井盖缺失", "next": "/m", "expected_version": version.group(1)},
        files=[("photos", ("scene.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 303, text_of(r.text)[:500]
    assert r.headers["location"].startswith("/m?done=")
    assert api.get(case["id"])["status"] == Status.REGISTERED.value
    stages = session.scalars(sa.select(Attachment.stage).where(Attachment.case_id == case["id"])).all()
    assert stages == [Stage.VERIFY]
    assert task_links(Web(client, world["collector"]).get("/m").text) == set()


# --- photos by the web session -------------------------------------------------------------------------------

def test_photos_show_on_the_task_page_and_are_served_to_who_may_see_the_case(
        client: TestClient, api: Api, world: World, settings: Settings) -> None:
    case = api.case_at(Status.VERIFYING)
    r = client.post(f"/api/v1/cases/{case['id']}/attachments", headers=world["collector"].headers,
                    files=[("files", ("a.jpg", jpeg(), "image/jpeg"))], data={"stage": "report"})
    assert r.status_code == 201, r.text
    att = r.json()[0]["id"]

    html = Web(client, world["collector"]).get(f"/m/cases/{case['id']}").text
    assert f'src="/m/photos/{att}?size=thumb"' in html
    assert "上报" in text_of(html)

    for who in ("collector", "operator"):
        for size, mime in (("thumb", "image/jpeg"), ("display", "image/jpeg")):
            got = Web(client, world[who]).get(f"/m/photos/{att}?size={size}")
            assert got.status_code == 200, (who, size)
            assert got.headers["content-type"] == mime
            assert got.headers["cache-control"] == "private"
            assert got.headers["x-content-type-options"] == "nosniff"
            assert Image.open(io.BytesIO(got.content)).format == "JPEG"

    # Who may not see the case is told nothing about the photo.
    for who in ("collector_b", "unit_a_staff", "citizen"):
        assert Web(client, world[who]).get(f"/m/photos/{att}").status_code == 404, who
    assert Web(client, world["collector"]).get("/m/photos/999999").status_code == 404
    assert Web(client).get(f"/m/photos/{att}").status_code == 303  # signed out: to the login page


# --- 上报问题 ---------------------------------------------------------------------------------------------------

def test_report_form_has_search_gps_map_and_camera(client: TestClient, world: World) -> None:
    r = Web(client, world["collector"]).get("/m/report")
    assert r.status_code == 200
    html = r.text
    assert 'data-filter="#catlist"' in html
    assert 'id="catlist"' in html
    assert 'value="part:01001"' in html
    assert 'value="event:01001"' in html
    assert "部件" in text_of(html)
    assert "事件" in text_of(html)
    assert "data-geolocate" in html
    assert re.search(r'class="map [^"]*"[^>]*data-pick="1"', html)
    for name in ("lat", "lon", "crs"):
        assert f'<input type="hidden" name="{name}"' in html
    assert 'capture="environment"' in html
    assert 'name="self_handled"' in html
    assert 'name="urgent"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'hx-boost="false"' in html


def test_report_creates_the_case_with_its_photos(client: TestClient, world: World, session: Session,
                                                 settings: Settings) -> None:
    r = Web(client, world["collector"]).post(
        "/m/report", report_form(urgent="1"),
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg")), ("photos", ("b.jpg", jpeg((9, 9, 9)), "image/jpeg"))])
    assert r.status_code == 303, text_of(r.text)[:500]
    case = session.scalars(sa.select(Case).order_by(Case.id.desc())).first()
    assert case is not None
    assert r.headers["location"] == f"/m?done=reported&case={case.number}"
    assert (case.reporter_id, case.kind, case.category_code) == (world["collector"].id, Kind.PART, "01001")
    assert (round(case.lat, 4), round(case.lon, 4), case.address) == (LAT, LON, "北山街断桥东50米")
    assert (case.source, case.status, case.urgent, case.self_handled) == (Source.COLLECTOR, Status.REPORTED,
                                                                          True, False)
    # recorded as the staff API records it
    [rep] = session.scalars(sa.select(Report).where(Report.case_id == case.id)).all()
    assert (rep.channel, rep.reporter_id) == (Channel.STAFF, world["collector"].id)
    photos = session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id)).all()
    assert [(a.stage, a.uploaded_by) for a in photos] == [(Stage.REPORT, world["collector"].id)] * 2
    assert len(stored_files(settings)) == 4  # each photo and its thumbnail
    assert case.number in text_of(Web(client, world["collector"]).get(r.headers["location"]).text)


def test_report_without_photos_and_self_handled(client: TestClient, world: World, session: Session) -> None:
    # An empty file input arrives as a nameless empty part: no photo, not a bad one.
    r = Web(client, world["collector"]).post("/m/report", report_form(self_handled="1"),
                                             files=[("photos", ("", b"", "application/octet-stream"))])
    assert r.status_code == 303, text_of(r.text)[:500]
    case = session.scalars(sa.select(Case).order_by(Case.id.desc())).first()
    assert case is not None
    assert case.self_handled
    assert session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_report_without_a_location_is_refused_and_stores_nothing(client: TestClient, world: World,
                                                                 session: Session, settings: Settings) -> None:
    before = counts(session)
    r = Web(client, world["collector"]).post("/m/report", report_form(lat="", lon=""),
                                             files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 422
    text = text_of(r.text)
    assert "位置" in text
    assert "lat" in text
    assert "供水井盖缺失，有人险些踩空" in r.text  # the person's input is kept
    assert 'value="part:01001" required checked' in r.text
    assert counts(session) == before
    assert stored_files(settings) == []


def test_report_with_a_bad_category_or_a_non_image_is_refused(client: TestClient, world: World,
                                                              session: Session, settings: Settings) -> None:
    before = counts(session)
    w = Web(client, world["collector"])
    r = w.post("/m/report", report_form(category="part:99999"))
    assert r.status_code == 422
    assert "问题类别" in text_of(r.text)
    assert "category_code" in text_of(r.text)
    r = w.post("/m/report", report_form(category=""))
    assert r.status_code == 422
    assert "问题类别" in text_of(r.text)

    r = w.post("/m/report", report_form(), files=[("photos", ("good.jpg", jpeg(), "image/jpeg")),
                                                  ("photos", ("notes.jpg", b"not an image at all", "image/jpeg"))])
    assert r.status_code == 422
    assert "照片" in text_of(r.text)
    assert "photos.1" in text_of(r.text)
    assert counts(session) == before
    assert stored_files(settings) == []


def test_only_collectors_may_self_handle(client: TestClient, world: World, session: Session) -> None:
    before = counts(session)
    html = Web(client, world["operator"]).get("/m/report").text
    assert 'name="self_handled"' not in html
    r = Web(client, world["operator"]).post("/m/report", report_form(self_handled="1"))
    assert r.status_code == 403
    assert "自处置" in text_of(r.text)
    assert counts(session) == before


def test_report_needs_the_right_to_report(client: TestClient, world: World, session: Session) -> None:
    w = Web(client, world["unit_a_staff"])
    assert w.get("/m/report").status_code == 403
    assert w.post("/m/report", report_form()).status_code == 403
    assert Web(client, world["citizen"]).get("/m/report").headers["location"] == "/public/report"
    assert Web(client, world["collector"]).post("/m/report", report_form(), csrf=False).status_code == 403
    assert counts(session)[0] == 0
