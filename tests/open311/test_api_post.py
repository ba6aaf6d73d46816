"""POST requests over HTTP (doc §5, §10, §16.8 lines 16–23): the validation order, every 400 collected, the
intake's locating and de-duplication, idempotency, and what is stored (never echoed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.cases.models import Case
from cityloop.intake.models import Channel, Report
from tests.open311 import seed
from tests.open311.contract import assert_valid, parse_xml, spark
from tests.open311.test_api_read import FORMATS, V2, assert_error

# 300 m north of the scene's cases: far enough not to join them
LAT, LON = seed.LAT + 0.003, seed.LON


def form(scene: seed.Scene, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"api_key": scene.api_key, "service_code": seed.EVENT, "lat": LAT, "long": LON,
                            "description": "文三路口有一堆生活垃圾"}
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def post(client: TestClient, data: dict[str, Any], fmt: str = "json", **kw: Any) -> httpx.Response:
    return client.post(f"{V2}/requests.{fmt}", data=data, **kw)


def created(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    assert_valid("post-response", body)
    number = body[0]["service_request_id"]
    assert isinstance(number, str)
    return number


def case_count(session: Session) -> int:
    return seed.case_count(session)


# --- the happy path ----------------------------------------------------------------------------------------------

def test_a_report_becomes_a_case(client: TestClient, scene: seed.Scene, session: Session) -> None:
    before = case_count(session)
    r = post(client, form(scene, email="zhang@example.cn", phone="13800000000", first_name="三", last_name="张",
                          address_string="文三路与学院路口", **{"attribute[FILING_ROW]": "2", "device_id": "d-1"}))
    number = created(r)
    assert r.json() == [{"service_request_id": number, "service_notice": "已收到，等待受理", "account_id": None}]
    assert case_count(session) == before + 1
    [item] = client.get(f"{V2}/requests/{number}.json", params={"extensions": "true"}).json()
    assert (item["status"], item["service_code"], item["address"]) == ("open", seed.EVENT, "文三路与学院路口")
    assert (item["lat"], item["long"]) == (round(LAT, 6), round(LON, 6))
    assert item["extended_attributes"]["channel"] == "open311"
    assert "zhang" not in str(item)
    assert "13800000000" not in str(item)
    report = session.scalar(sa.select(Report).join(Case, Case.id == Report.case_id).where(Case.number == number))
    assert report is not None
    assert (report.channel, report.api_key_id, report.origin) == (Channel.OPEN311, scene.key_id, f"key:{scene.key_id}")
    assert report.contact == {"name": "张 三", "phone": "13800000000", "email": "zhang@example.cn"}
    assert report.extra is not None
    assert report.extra["attributes"] == {"FILING_ROW": "2"}


def test_xml_answer(client: TestClient, scene: seed.Scene) -> None:
    r = post(client, form(scene), "xml")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    root = parse_xml(r.content)
    assert root.tag == "service_requests"
    assert [c.tag for c in root] == ["request"]
    [item] = spark(root)
    assert item["account_id"] is None
    assert item["service_request_id"]
    assert [c.tag for c in root[0]] == ["service_request_id", "service_notice", "account_id"]


def test_a_duplicate_joins_the_existing_case(client: TestClient, scene: seed.Scene, session: Session) -> None:
    first = created(post(client, form(scene)))
    before = case_count(session)
    r = post(client, form(scene, description="同一堆垃圾，还没人管"))
    assert created(r) == first
    assert r.json()[0]["service_notice"] == f"同一问题已有上报，已并入案件 {first}"
    assert case_count(session) == before


@pytest.mark.parametrize("how", ["header", "fixmystreet_id"])
def test_a_retry_with_the_same_key_replays_the_answer(client: TestClient, scene: seed.Scene, session: Session,
                                                      how: str) -> None:
    headers = {"Idempotency-Key": "retry-1"} if how == "header" else {}
    extra = {"attribute[fixmystreet_id]": "fms-42"} if how != "header" else {}
    first = created(post(client, form(scene, **extra), headers=headers))
    before = case_count(session)
    # somewhere else entirely: only the key can make this the same report
    again = post(client, form(scene, lat=seed.LAT + 0.006, **extra), headers=headers)
    assert created(again) == first
    assert case_count(session) == before


def test_an_api_key_in_the_header_is_accepted(client: TestClient, scene: seed.Scene) -> None:
    created(post(client, form(scene, api_key=None), headers={"X-Api-Key": scene.api_key}))


def test_an_asset_code_locates_the_report(client: TestClient, scene: seed.Scene, session: Session) -> None:
    for fields in ({"address_id": seed.PART_CODE}, {"attribute[ASSET_CODE]": seed.PART_CODE}):
        number = created(post(client, form(scene, service_code=seed.PART, lat=None, long=None, **fields)))
        [item] = client.get(f"{V2}/requests/{number}.json").json()
        assert item["address_id"] == seed.PART_CODE
        assert (item["lat"], item["long"]) == (round(seed.LAT + 0.002, 6), round(seed.LON + 0.002, 6))


def test_gcj02_coordinates_are_converted(client: TestClient, scene: seed.Scene) -> None:
    number = created(post(client, form(scene, coord_system="gcj02")))
    [item] = client.get(f"{V2}/requests/{number}.json").json()
    assert item["lat"] != round(LAT, 6)
    assert abs(item["lat"] - LAT) < 0.01


def test_blank_fields_count_as_absent(client: TestClient, scene: seed.Scene) -> None:
    created(post(client, form(scene, jurisdiction_id="", address_string="", address_id="", email="",
                              **{"attribute[FILING_ROW]": ""})))
    created(post(client, form(scene, jurisdiction_id="hangzhou.gov.cn")))


def test_description_limits_count_characters(client: TestClient, scene: seed.Scene) -> None:
    created(post(client, form(scene, description="垃" * 4000)))
    assert_error(post(client, form(scene, description="垃" * 4001)), 400, "description exceeds 4000 characters")


def test_html_is_stripped_from_the_description(client: TestClient, scene: seed.Scene) -> None:
    number = created(post(client, form(scene, description="<script>x</script>垃圾<b>很多</b>")))
    [item] = client.get(f"{V2}/requests/{number}.json").json()
    assert item["description"] == "x垃圾很多"


def test_list_attributes_in_the_array_form(client: TestClient, scene: seed.Scene) -> None:
    created(post(client, form(scene, **{"attribute[FILING_ROW][]": "1"})))


# --- the validation order and the error table ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_keys_are_403(client: TestClient, scene: seed.Scene, session: Session, fmt: str) -> None:
    _, hotline = apikeys.create(session, "hotline only", [ApiScope.HOTLINE], now=scene.now)
    revoked, revoked_raw = apikeys.create(session, "revoked", [ApiScope.OPEN311], now=scene.now)
    apikeys.revoke(session, str(revoked.id), now=scene.now)
    session.commit()
    for key in (None, "", "wrong", "cl_nope_nope", hotline, revoked_raw, scene.api_key + "x"):
        # the key is checked first: an unknown service code or a bad jurisdiction does not tell more
        r = post(client, form(scene, api_key=key, service_code="SJ99999", jurisdiction_id="x"), fmt)
        assert_error(r, 403, "api_key missing or invalid", fmt)
        assert (key or "§") not in r.text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"jurisdiction_id": "ningbo.gov.cn", "service_code": "SJ99999"}, 404, "jurisdiction_id not found"),
    ({"service_code": None}, 400, "service_code is required"),
    ({"service_code": "SJ99999", "lat": None}, 404, "service_code not found"),
    ({"service_code": "06010"}, 404, "service_code not found"),
])
def test_jurisdiction_and_service_code(client: TestClient, scene: seed.Scene, fields: dict[str, Any], status: int,
                                       message: str, fmt: str) -> None:
    assert_error(post(client, form(scene, **fields), fmt), status, message, fmt)


@pytest.mark.parametrize(("fields", "message"), [
    ({"lat": None, "long": None}, "location required: lat+long, address_string or address_id"),
    ({"lat": None, "long": None, "address_string": "文三路"},
     "address_string alone cannot be located yet: send lat+long or address_id"),
    ({"long": None}, "lat and long must be given together"),
    ({"lat": None}, "lat and long must be given together"),
    ({"lat": 91}, "lat must be between -90 and 90"),
    ({"long": "east"}, "long must be a number, got 'east'"),
    ({"lat": "nan"}, "lat must be between -90 and 90"),
    ({"lat": seed.OUTSIDE[1], "long": seed.OUTSIDE[0]}, "location outside jurisdiction"),
    ({"lat": None, "long": None, "address_id": "12345"}, "address_id must be a 17-digit 部件 code (部件标识码)"),
    ({"lat": None, "long": None, "address_id": "99999999999999999"},
     "address_id: no 部件 99999999999999999 in the inventory"),
    ({"address_id": seed.PART_CODE, "attribute[ASSET_CODE]": "33010100100100002", "service_code": seed.PART},
     "address_id and attribute[ASSET_CODE] name different 部件"),
    ({"attribute[FILING_ROW]": "3"}, "attribute[FILING_ROW]: '3' is not one of 1, 2"),
    ({"coord_system": "bd09"}, "coord_system must be wgs84 or gcj02"),
    ({"email": "x" * 201}, "email exceeds 200 characters"),
])
def test_bad_data_is_400(client: TestClient, scene: seed.Scene, session: Session, fields: dict[str, Any],
                         message: str) -> None:
    before = case_count(session)
    assert_error(post(client, form(scene, **fields)), 400, message)
    assert case_count(session) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_400_is_reported_at_once(client: TestClient, scene: seed.Scene, fmt: str) -> None:
    r = post(client, form(scene, long=None, description="垃" * 4001,
                          **{"attribute[FILING_ROW]": "9", "attribute[UNKNOWN]": "ignored",
                             "attribute[FILING_NOTE]": "ignored"}), fmt)
    assert r.status_code == 400
    expected = ["lat and long must be given together", "attribute[FILING_ROW]: '9' is not one of 1, 2",
                "description exceeds 4000 characters"]
    if fmt == "json":
        assert_valid("errors", r.json())
        assert r.json() == [{"code": 400, "description": d} for d in expected]
    else:
        assert spark(parse_xml(r.content)) == [{"code": "400", "description": d} for d in expected]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_body_that_is_not_a_form_is_400(client: TestClient, scene: seed.Scene, fmt: str) -> None:
    r = client.post(f"{V2}/requests.{fmt}", content=b"abc", headers={"Content-Type": "multipart/form-data"})
    assert_error(r, 400, "the body must be application/x-www-form-urlencoded", fmt)


def test_a_json_body_has_no_api_key(client: TestClient, scene: seed.Scene) -> None:
    assert_error(client.post(f"{V2}/requests.json", json=form(scene)), 403, "api_key missing or invalid")
