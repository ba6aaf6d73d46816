"""随手拍 in the browser: reporting without an account (number and 查询码 shown once), following progress by
number and token, a signed-in citizen's own reports."""

from __future__ import annotations

import re
from urllib.parse import quote

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment, Stage
from cityloop.cases.models import Case, Source
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.intake.models import Channel, Report
from cityloop.settings import Settings
from tests.api.helpers import Api
from tests.conftest import World
from tests.web.helpers import Web, counts, jpeg, stored_files, text_of

LAT, LON = 30.2590, 120.1519
GARBAGE = "06010"  # 暴露垃圾








def form(**fields: str) -> dict[str, str]:
    return {"category": f"event:{GARBAGE}", "description": "路边一堆垃圾没人清", "lat": str(LAT), "lon": str(LON),
            "crs": "wgs84", "address": "北山街断桥东", **fields}


def submitted(html: str) -> tuple[str, str]:
    number = re.search(r'id="case-number">([^<]+)<', html)
    token = re.search(r'id="case-token">([^<]+)<', html)
    assert number, text_of(html)[:500]
    assert token
    return number.group(1), token.group(1)


def test_report_form_offers_public_classes_with_search_gps_and_camera(client: TestClient,
                                                                      session: Session) -> None:
    hidden = session.scalar(sa.select(Category).where(Category.kind == Kind.EVENT, Category.code == "06012"))
    assert hidden is not None
    hidden.public_intake = False
    session.flush()
    r = Web(client).get("/public/report")
    assert r.status_code == 200
    html = r.text
    assert f'value="event:{GARBAGE}"' in html
    assert 'value="event:06012"' not in html  # not open to citizens
    assert 'data-filter="#catlist"' in html
    assert "data-geolocate" in html
    assert 'data-pick="1"' in html
    assert 'capture="environment"' in html
    assert 'name="contact_phone"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'hx-boost="false"' in html

    r = Web(client).post("/public/report", form(category="event:06012"))
    assert r.status_code == 422
    assert "问题类别" in text_of(r.text)


def test_anonymous_report_shows_number_and_token_that_open_the_progress(
        client: TestClient, session: Session, settings: Settings) -> None:
    r = Web(client).post("/public/report", form(contact_phone="13900001111"),
                         files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 200, text_of(r.text)[:500]
    number, token = submitted(r.text)
    assert len(token) >= 20
    assert "请保存案件编号和查询码" in text_of(r.text)
    assert f'href="/public/track?number={number}&amp;token={quote(token, safe="")}"' in r.text

    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case is not None
    assert (case.source, case.reporter_id, case.public, case.category_code) == (Source.CITIZEN, None, True, GARBAGE)
    assert (round(case.lat, 4), round(case.lon, 4)) == (LAT, LON)
    [rep] = session.scalars(sa.select(Report).where(Report.case_id == case.id)).all()
    assert (rep.channel, rep.contact) == (Channel.PUBLIC, {"phone": "13900001111"})
    [photo] = session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id)).all()
    assert (photo.stage, photo.report_id) == (Stage.REPORT, rep.id)
    assert len(stored_files(settings)) == 2

    track = Web(client).get(f"/public/track?number={number}&token={quote(token, safe='')}")
    assert track.status_code == 200
    text = text_of(track.text)
    assert number in text
    assert "待受理" in text
    assert "已上报" in text
    assert "暴露垃圾" in text
    assert f'src="/open311/media/{photo.public_id}"' in track.text
    assert "13900001111" not in text  # the contact stays with the staff


def test_tracking_with_a_wrong_token_or_number_is_404(client: TestClient) -> None:
    number, token = submitted(Web(client).post("/public/report", form()).text)
    for params in ({"number": number, "token": token[:-2] + "xx"}, {"number": "20990101000001", "token": token},
                   {"number": number, "token": "short"}):
        r = Web(client).get("/public/track", params=params)
        assert r.status_code == 404
        assert "没有找到这条上报" in text_of(r.text)
        assert "待受理" not in text_of(r.text)
    blank = Web(client).get("/public/track")
    assert blank.status_code == 200
    assert 'name="token"' in blank.text


def test_progress_shows_public_replies_not_internal_notes(client: TestClient, api: Api, session: Session) -> None:
    number, token = submitted(Web(client).post("/public/report", form()).text)
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case is not None
    api.act(case.id, "accept", note="内部备注：转环卫所")
    api.act(case.id, "comment", note="内部：本周第三次上报")
    api.act(case.id, "comment", note="已安排环卫工今日清理，感谢反映", public=True)
    text = text_of(Web(client).get("/public/track", params={"number": number, "token": token}).text)
    assert "待立案" in text
    assert "已受理" in text
    assert "已安排环卫工今日清理，感谢反映" in text
    assert "内部" not in text


def test_a_report_without_a_location_is_refused_and_stores_nothing(client: TestClient, session: Session,
                                                                   settings: Settings) -> None:
    before = counts(session)
    r = Web(client).post("/public/report", form(lat="", lon=""), files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))])
    assert r.status_code == 422
    assert "位置" in text_of(r.text)
    assert "lat" in text_of(r.text)
    assert "路边一堆垃圾没人清" in r.text
    r = Web(client).post("/public/report", form(), files=[("photos", ("x.jpg", b"GIF89a nope", "image/jpeg"))])
    assert r.status_code == 422
    assert "照片" in text_of(r.text)
    too_many = [("photos", (f"{i}.jpg", jpeg(), "image/jpeg")) for i in range(10)]
    r = Web(client).post("/public/report", form(), files=too_many)
    assert r.status_code == 422
    assert "最多上传 9 张照片" in text_of(r.text)
    assert counts(session) == before
    assert stored_files(settings) == []


def test_reports_share_the_public_apis_rate_limit(client: TestClient, settings: Settings) -> None:
    for _ in range(settings.public_reports_per_minute):
        assert Web(client).post("/public/report", form(description="一次")).status_code == 200
    r = Web(client).post("/public/report", form())
    assert r.status_code == 429
    assert "提交过于频繁" in text_of(r.text)
    assert client.post("/api/v1/public/reports", json={"kind": "event", "category_code": GARBAGE,
                                                       "description": "x", "lat": LAT, "lon": LON}).status_code == 429


def test_signed_in_citizen_finds_the_report_under_mine(client: TestClient, world: World, session: Session) -> None:
    w = Web(client, world["citizen"])
    number, _token = submitted(w.post("/public/report", form()).text)
    case = session.scalar(sa.select(Case).where(Case.number == number))
    assert case is not None
    assert case.reporter_id == world["citizen"].id
    Web(client).post("/public/report", form(lat=str(LAT + 0.02)))  # someone else's, anonymous

    r = Web(client, world["citizen"]).get("/public/mine")
    assert r.status_code == 200
    text = text_of(r.text)
    assert number in text
    assert "待受理" in text
    assert "已上报" in text
    assert text.count("暴露垃圾") == 2  # the summary line and the details: one report only
    assert f'id="r-{number}"' in r.text


def test_mine_is_for_signed_in_citizens(client: TestClient, world: World) -> None:
    assert Web(client).get("/public/mine").headers["location"] == "/login?next=/public/mine"
    assert Web(client, world["collector"]).get("/public/mine").status_code == 403
