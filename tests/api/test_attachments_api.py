"""Case photos over HTTP: who may add which stage, what is refused, and what comes back out."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import Attachment, Stage
from cityloop.attachments.storage import LocalStorage, storage_for
from cityloop.cases.workflow import Status
from cityloop.catalog.enums import Kind
from cityloop.core.clock import FakeClock
from cityloop.intake.models import Channel, Outcome, Report
from cityloop.main import create_app
from cityloop.settings import Settings
from tests.api.helpers import Api
from tests.conftest import Persona, World, share_test_session

GPS_IFD = 0x8825


def photo(size: tuple[int, int] = (640, 480), fmt: str = "JPEG", *, gps: bool = True) -> bytes:
    """A phone-like photo: noisy pixels (so it is not tiny), the GPS position and the maker in its EXIF."""
    img = Image.merge("RGB", [Image.effect_noise(size, 40)] * 3)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 15.0, 32.4), 3: "E", 4: (120.0, 9.0, 7.5)})
    out = io.BytesIO()
    img.save(out, fmt, exif=exif)
    return out.getvalue()


def stored_files(settings: Settings) -> list[Path]:
    root = settings.attachments_path()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(client: TestClient, who: Persona, case_id: int, *files: tuple[str, bytes], stage: str | None = None,
           field: str = "files", expect: int = 201) -> Any:
    r = client.post(f"/api/v1/cases/{case_id}/attachments", headers=who.headers,
                    files=[(field, (name, content, "image/jpeg")) for name, content in files],
                    data={"stage": stage} if stage else {})
    assert r.status_code == expect, r.text
    return r.json()


def content(client: TestClient, who: Persona, attachment_id: int, size: str | None = None) -> Any:
    params = {"size": size} if size else {}
    return client.get(f"/api/v1/attachments/{attachment_id}/content", params=params, headers=who.headers)


# ---- adding photos ----

def test_collector_adds_report_photos_to_own_case(api: Api, client: TestClient, world: World,
                                                   settings: Settings) -> None:
    case = api.report()
    out = upload(client, world["collector"], case["id"], ("a.jpg", photo()), ("b.webp", photo(fmt="WEBP")))
    assert [(a["stage"], a["stage_label"], a["mime"]) for a in out] == [
        ("report", "上报", "image/jpeg"), ("report", "上报", "image/webp")]
    first = out[0]
    assert (first["width"], first["height"], first["uploaded_by"]) == (640, 480, world["collector"].id)
    assert first["gps_lat"] == pytest.approx(30.259, abs=1e-3)
    assert first["gps_lon"] == pytest.approx(120.1521, abs=1e-3)
    assert first["url"] == f"/api/v1/attachments/{first['id']}/content"
    assert first["thumb_url"] == f"{first['url']}?size=thumb"
    assert first["created_at"].endswith("+08:00")
    assert len(first["public_id"]) <= 32
    assert len(stored_files(settings)) == 4  # each photo and its thumbnail

    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=world["operator"].headers)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [a["id"] for a in out]


def test_single_file_field_is_accepted_too(api: Api, client: TestClient, world: World) -> None:
    case = api.report()
    [out] = upload(client, world["collector"], case["id"], ("a.png", photo(fmt="PNG")), field="file")
    assert out["mime"] == "image/png"


def test_unit_staff_adds_before_and_after_photos(api: Api, client: TestClient, world: World) -> None:
    case = api.case_at(Status.DISPATCHED)
    for stage, label in (("before", "处置前"), ("after", "处置后")):
        [out] = upload(client, world["unit_a_staff"], case["id"], ("x.jpg", photo()), stage=stage)
        assert (out["stage"], out["stage_label"]) == (stage, label)


def test_collector_adds_verify_and_check_photos(api: Api, client: TestClient, world: World) -> None:
    case = api.report()
    for stage in ("verify", "check"):
        upload(client, world["collector"], case["id"], ("x.jpg", photo()), stage=stage)


@pytest.mark.parametrize(("who", "stage"), [
    ("collector", "after"), ("collector", "before"), ("unit_a_staff", "report"), ("unit_a_staff", "check"),
    ("operator", "verify"), ("operator", "after"), ("dispatcher", "before"),
])
def test_stage_not_of_ones_role_is_forbidden(api: Api, client: TestClient, world: World, settings: Settings,
                                             who: str, stage: str) -> None:
    case = api.case_at(Status.DISPATCHED)
    body = upload(client, world[who], case["id"], ("x.jpg", photo()), stage=stage, expect=403)
    assert (body["code"], body["field"]) == ("forbidden", "stage")
    assert stored_files(settings) == []


def test_operator_adds_report_photos(api: Api, client: TestClient, world: World) -> None:
    upload(client, world["operator"], api.report()["id"], ("x.jpg", photo()))


def test_other_units_staff_cannot_add_photos(api: Api, client: TestClient, world: World) -> None:
    case = api.case_at(Status.DISPATCHED)
    body = upload(client, world["unit_b_staff"], case["id"], ("x.jpg", photo()), stage="after", expect=404)
    assert body["field"] == "case_id"


def test_unknown_stage_is_a_422_naming_stage(api: Api, client: TestClient, world: World) -> None:
    body = upload(client, world["collector"], api.report()["id"], ("x.jpg", photo()), stage="during", expect=422)
    assert body["field"] == "stage"


# ---- refused uploads ----

def test_non_image_is_refused_naming_the_field(api: Api, client: TestClient, world: World,
                                               settings: Settings) -> None:
    case = api.report()
    body = upload(client, world["collector"], case["id"], ("photo.jpg", b"I am text pretending to be a JPEG"),
                  expect=422)
    assert (body["code"], body["field"]) == ("unsupported_image", "files.0")
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    body = upload(client, world["collector"], case["id"], ("photo.jpg", gif.getvalue()), field="file", expect=422)
    assert (body["code"], body["field"]) == ("unsupported_image", "file")
    assert stored_files(settings) == []


def test_nothing_is_stored_when_the_second_of_two_files_is_bad(api: Api, client: TestClient, world: World,
                                                               settings: Settings) -> None:
    case = api.report()
    body = upload(client, world["collector"], case["id"], ("good.jpg", photo()), ("bad.jpg", b"not an image"),
                  expect=422)
    assert body["field"] == "files.1"
    assert stored_files(settings) == []
    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=world["collector"].headers)
    assert listed.json() == []


def test_files_already_written_are_removed_when_storage_fails_midway(
        api: Api, client: TestClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    case = api.report()
    real_put = LocalStorage.put
    calls: list[str] = []

    def put_then_fail(self: LocalStorage, key: str, data: bytes, content_type: str) -> None:
        calls.append(key)
        if len(calls) == 3:  # the second photo's clean copy, after the first photo and its thumbnail
            raise OSError("No space left on device")
        real_put(self, key, data, content_type)

    monkeypatch.setattr(LocalStorage, "put", put_then_fail)
    with pytest.raises(OSError, match="No space"):
        upload(client, world["collector"], case["id"], ("a.jpg", photo()), ("b.jpg", photo()))
    assert len(calls) == 3
    assert stored_files(settings) == []


@pytest.mark.parametrize(("files", "data"), [
    ({}, {"stage": "report"}),                                              # no file at all
    ({"photo": ("a.jpg", b"x", "image/jpeg")}, {}),                         # a field of another name
], ids=["none", "wrong-field"])
def test_upload_without_files_is_a_422_naming_files(api: Api, client: TestClient, world: World,
                                                     files: dict[str, Any], data: dict[str, str]) -> None:
    r = client.post(f"/api/v1/cases/{api.report()['id']}/attachments", files=files or None, data=data,
                    headers=world["collector"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "files"


def test_text_sent_where_a_file_belongs_is_a_422_naming_files(api: Api, client: TestClient, world: World) -> None:
    r = client.post(f"/api/v1/cases/{api.report()['id']}/attachments", data={"files": "not a file"},
                    headers=world["collector"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("files")


def test_too_many_files_in_one_upload(api: Api, client: TestClient, world: World) -> None:
    small = photo((16, 16))
    files = [(f"{i}.jpg", small) for i in range(attachment_service.MAX_PER_UPLOAD + 1)]
    body = upload(client, world["collector"], api.report()["id"], *files, expect=422)
    assert (body["code"], body["field"]) == ("too_many_files", "files")


@pytest.fixture
def small_limit_client(settings: Settings, clock: FakeClock,
                       session_factory: Callable[[], Session]) -> Iterator[TestClient]:
    application = create_app(settings.model_copy(update={"max_upload_mb": 0.01}), clock=clock)  # ~10 KB
    share_test_session(application, session_factory)
    with TestClient(application) as c:
        yield c
    application.state.engine.dispose()


def test_oversized_photo_is_a_413(api: Api, small_limit_client: TestClient, world: World,
                                  settings: Settings) -> None:
    case = api.report()
    big = photo((400, 400))
    assert len(big) > 0.01 * 1024 * 1024
    body = upload(small_limit_client, world["collector"], case["id"], ("small.jpg", photo((16, 16))),
                  ("big.jpg", big), expect=413)
    assert (body["code"], body["field"]) == ("too_large", "files.1")
    assert stored_files(settings) == []


# ---- reading photos ----

def test_download_is_the_exif_free_copy(api: Api, client: TestClient, world: World) -> None:
    case = api.report()
    original = photo()
    [out] = upload(client, world["collector"], case["id"], ("a.jpg", original))
    assert b"PhoneMaker" in original
    r = content(client, world["operator"], out["id"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "private"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert len(r.content) == out["size"]
    assert b"Exif" not in r.content
    assert b"PhoneMaker" not in r.content
    img = Image.open(io.BytesIO(r.content))
    assert not img.getexif()
    assert img.size == (640, 480)


def test_thumbnail_download(api: Api, client: TestClient, world: World) -> None:
    [out] = upload(client, world["collector"], api.report()["id"], ("a.png", photo((1000, 400), "PNG")))
    r = content(client, world["collector"], out["id"], "thumb")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (320, 128)
    assert content(client, world["collector"], out["id"], "huge").json()["field"] == "size"


def test_only_those_who_see_the_case_may_read_its_photos(api: Api, client: TestClient, world: World) -> None:
    case = api.case_at(Status.DISPATCHED)
    [out] = upload(client, world["unit_a_staff"], case["id"], ("x.jpg", photo()), stage="after")
    for who in ("unit_a_staff", "collector", "operator", "dispatcher", "leader"):
        assert content(client, world[who], out["id"]).status_code == 200, who
    for who in ("unit_b_staff", "citizen", "collector_b"):
        r = content(client, world[who], out["id"])
        assert r.status_code == 404, who
        assert r.json()["field"] == "attachment_id"
        listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=world[who].headers)
        assert listed.status_code == 404, who
    assert client.get(f"/api/v1/attachments/{out['id']}/content").status_code == 401


def test_unknown_attachment_is_a_404(client: TestClient, world: World) -> None:
    r = content(client, world["operator"], 999_999)
    assert (r.status_code, r.json()["field"]) == (404, "attachment_id")


def test_photos_of_a_queued_report_follow_it_into_its_case(api: Api, client: TestClient, world: World,
                                                           session: Session, settings: Settings,
                                                           clock: FakeClock) -> None:
    now = clock.now()
    report = Report(channel=Channel.DEVICE, origin="device:1", kind=Kind.PART, category_code="01001", lat=30.259,
                    lon=120.1519, occurred_at=now, received_at=now, outcome=Outcome.QUEUED)
    session.add(report)
    session.flush()  # flush: the photo names the report by id
    storage = storage_for(settings)
    attachment = attachment_service.save(
        session, storage, data=photo(), filename="cam.jpg", stage=Stage.REPORT, case_id=None, report_id=report.id,
        uploaded_by=None, now=now, max_bytes=10 * 1024 * 1024, max_pixels=settings.max_image_pixels)
    session.commit()
    assert attachment_service.get_public(session, attachment.public_id) is attachment

    # Before there is a case: intake reviewers see it, a collector does not.
    assert content(client, world["operator"], attachment.id).status_code == 200
    assert content(client, world["collector"], attachment.id).status_code == 404

    case = api.report()  # the collector's case, standing in for the one the review opens
    assert attachment_service.attach_to_case(session, report.id, case["id"]) == 1
    session.commit()
    assert content(client, world["collector"], attachment.id).status_code == 200
    assert [a.id for a in attachment_service.list_for_case(session, case["id"])] == [attachment.id]
    # A photo already in a case stays there.
    assert attachment_service.attach_to_case(session, report.id, case["id"] + 1) == 0


def test_capture_time_from_a_wrong_camera_clock_is_dropped(session: Session, settings: Settings,
                                                           clock: FakeClock, world: World) -> None:
    img = Image.new("RGB", (32, 32), "green")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2099:01:01 12:00:00"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    attachment = attachment_service.save(
        session, storage_for(settings), data=out.getvalue(), filename="C:\\fakepath\\x.jpg", stage=Stage.REPORT,
        case_id=None, report_id=None, uploaded_by=world["collector"].id, now=clock.now(), max_bytes=10**6,
        max_pixels=10**6)
    assert attachment.taken_at is None
    assert attachment.original_name == "x.jpg"
    assert isinstance(session.get(Attachment, attachment.id), Attachment)
