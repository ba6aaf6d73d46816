"""The read methods over HTTP (TestClient): every endpoint in JSON and XML, each error row of doc §10, bodies
validated with the strict schemas (extended ones when extensions=true), XML compared with JSON (doc §16.8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.open311.timefmt import parse_dt
from tests.open311 import seed
from tests.open311.contract import assert_valid, parse_xml, same_data, spark

V2 = "/open311/v2"
FORMATS = ("json", "xml")
JURISDICTION = "hangzhou.gov.cn"
PATTERN_DT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$"


def get_both(client: TestClient, path: str, **query: Any) -> tuple[httpx.Response, httpx.Response]:
    """The same resource as .json and .xml; both must agree."""
    j = client.get(f"{path}.json", params=query)
    x = client.get(f"{path}.xml", params=query)
    assert j.status_code == x.status_code, (j.text, x.text)
    assert j.headers["content-type"] == "application/json; charset=utf-8"
    assert x.headers["content-type"] == "text/xml; charset=utf-8"
    assert same_data(j.json(), x.content), (j.json(), spark(parse_xml(x.content)))
    return j, x


def numbers(r: httpx.Response) -> list[str]:
    return [item["service_request_id"] for item in r.json()]


def assert_error(r: httpx.Response, status: int, description: str, fmt: str = "json") -> None:
    assert r.status_code == status, r.text
    if fmt == "json":
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert_valid("errors", r.json())
        assert [e["description"] for e in r.json()] == [description]
        assert all(e["code"] == status for e in r.json())
    else:
        assert r.headers["content-type"] == "text/xml; charset=utf-8"
        root = parse_xml(r.content)
        assert root.tag == "errors"
        assert [e.tag for e in root] == ["error"]
        assert spark(root) == [{"code": str(status), "description": description}]


# --- discovery and unknown paths ---------------------------------------------------------------------------------

def test_discovery(client: TestClient) -> None:
    j, x = get_both(client, "/open311/discovery")
    body = j.json()
    assert_valid("discovery", body)
    assert [e["type"] for e in body["endpoints"]] == ["production", "test"]
    assert all(set(e["formats"]) == {"text/xml", "application/json"} for e in body["endpoints"])
    assert body["endpoints"][0]["url"] == "http://127.0.0.1:8000/open311/v2"
    assert parse_dt(body["changeset"]) <= parse_dt("2026-11-25T10:00:00+08:00")  # the fake clock's now
    root = parse_xml(x.content)
    assert [e.tag for e in root] == ["changeset", "contact", "key_service", "endpoints"]
    assert [f.tag for f in root.find("endpoints/endpoint/formats")] == ["format", "format"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("path", "fmt"), [
    ("/open311/v2/services", "xml"), ("/open311/v2/services.txt", "xml"), ("/open311/v2/services.JSON", "xml"),
    ("/open311/v2/requests", "xml"), ("/open311/v2/requests/123", "xml"), ("/open311/discovery", "xml"),
    ("/open311/v2/nothing.json", "json"), ("/open311/v3/services.json", "json"), ("/open311/v2/", "xml"),
])
def test_unknown_paths_and_suffixes_are_404_in_the_spec_shape(client: TestClient, path: str, fmt: str) -> None:
    assert_error(client.get(path), 404, "not found", fmt)


def test_a_method_the_path_lacks_is_404(client: TestClient) -> None:
    assert_error(client.post(f"{V2}/services.json"), 404, "not found")
    assert_error(client.delete(f"{V2}/requests.xml"), 404, "not found", "xml")


def test_the_accept_header_is_ignored(client: TestClient) -> None:
    r = client.get(f"{V2}/services.xml", headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "text/xml; charset=utf-8"


def test_open311_stays_out_of_cityloops_openapi(client: TestClient) -> None:
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/open311")]


# --- services ----------------------------------------------------------------------------------------------------

def test_service_list(client: TestClient, scene: seed.Scene) -> None:
    j, x = get_both(client, f"{V2}/services")
    services = j.json()
    assert_valid("services", services)
    codes = [s["service_code"] for s in services]
    assert codes == sorted(codes)
    assert len(codes) > 2
    assert len(set(codes)) == len(codes)
    by_code = {s["service_code"]: s for s in services}
    assert by_code[seed.EVENT] == {
        "service_code": "SJ06010", "service_name": "暴露垃圾",
        "description": "公共场所暴露垃圾、渣土等废弃物，面积大于0.5㎡",
        "metadata": True, "type": "realtime", "keywords": None, "group": "市容环境类"}
    assert by_code["BJ01001"]["metadata"] is True  # ASSET_CODE
    assert by_code["SJ06001"]["metadata"] is False
    assert by_code["SJ06001"]["description"] is None
    root = parse_xml(x.content)
    assert root.tag == "services"
    assert {c.tag for c in root} == {"service"}
    assert root.find("service/keywords").text is None  # type: ignore[union-attr]


def test_only_public_intake_classes_are_services(client: TestClient, scene: seed.Scene, session: Session) -> None:
    from cityloop.catalog import queries as catalog_queries
    from cityloop.catalog.enums import Kind
    category = catalog_queries.find(session, Kind.EVENT, "06001")
    assert category is not None
    category.public_intake = False
    session.commit()
    codes = {s["service_code"] for s in client.get(f"{V2}/services.json").json()}
    assert "SJ06001" not in codes
    assert "SJ06010" in codes
    assert_error(client.get(f"{V2}/services/SJ06001.json"), 404, "service_code not found")


def test_service_definition(client: TestClient, scene: seed.Scene) -> None:
    j, x = get_both(client, f"{V2}/services/{seed.EVENT}")
    body = j.json()
    assert_valid("service-definition", body)
    assert body["service_code"] == seed.EVENT
    assert [(a["code"], a["variable"], a["order"]) for a in body["attributes"]] == [
        ("FILING_NOTE", False, 1), ("FILING_ROW", True, 2)]
    assert [v["key"] for v in body["attributes"][1]["values"]] == ["1", "2"]
    assert "values" not in body["attributes"][0]
    root = parse_xml(x.content)
    assert root.tag == "service_definition"
    note, row = root.findall("attributes/attribute")
    assert note.find("values") is None
    assert row.find("values") is not None
    values = root.findall("attributes/attribute/values/value")
    assert [v.findtext("key") for v in values] == ["1", "2"]
    # a note's text is escaped, not dropped
    assert "& <紧急>" in root.findtext("attributes/attribute/description", "")


def test_definition_of_a_part_and_of_a_class_without_attributes(client: TestClient, scene: seed.Scene) -> None:
    part, _ = get_both(client, f"{V2}/services/{seed.PART}")
    assert [a["code"] for a in part.json()["attributes"]] == ["FILING_NOTE", "ASSET_CODE"]
    bare, bare_xml = get_both(client, f"{V2}/services/SJ06001")
    assert bare.json() == {"service_code": "SJ06001", "attributes": []}
    assert b"<attributes></attributes>" in bare_xml.content


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", ["SJ99999", "06010", "XX06010", "SJ06010x"])
def test_unknown_service_code(client: TestClient, code: str, fmt: str) -> None:
    assert_error(client.get(f"{V2}/services/{code}.{fmt}"), 404, "service_code not found", fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ["services", f"services/{seed.EVENT}", "requests", "tokens/t-created-0001"])
def test_jurisdiction_id(client: TestClient, scene: seed.Scene, path: str, fmt: str) -> None:
    for value in ("", JURISDICTION):
        assert client.get(f"{V2}/{path}.{fmt}", params={"jurisdiction_id": value}).status_code == 200
    assert_error(client.get(f"{V2}/{path}.{fmt}", params={"jurisdiction_id": "ningbo.gov.cn"}), 404,
                 "jurisdiction_id not found", fmt)


# --- requests ----------------------------------------------------------------------------------------------------

def test_request_list_newest_first_public_only(client: TestClient, scene: seed.Scene) -> None:
    j, x = get_both(client, f"{V2}/requests")
    body = j.json()
    assert_valid("requests", body)
    assert set(numbers(j)) == scene.public_numbers()
    assert scene.numbers["private"] not in numbers(j)
    stamps = [parse_dt(r["requested_datetime"]) for r in body]
    assert stamps == sorted(stamps, reverse=True)
    assert j.headers["x-total-count"] == str(len(body))
    assert "link" not in j.headers
    root = parse_xml(x.content)
    assert root.tag == "service_requests"
    assert {c.tag for c in root} == {"request"}
    for r in root:
        assert r.findtext("status") in {"open", "closed"}


def test_request_fields(client: TestClient, scene: seed.Scene) -> None:
    r = client.get(f"{V2}/requests/{scene.numbers['extended']}.json")
    [item] = r.json()
    assert item == {
        "service_request_id": scene.numbers["extended"], "status": "open",
        "status_notes": "已延期至2026-11-27 10:00：处置单位A", "service_name": "暴露垃圾", "service_code": "SJ06010",
        "description": "extended：文三路口有问题 <b>&</b>", "agency_responsible": "处置单位A",
        "service_notice": "处置时限：2工作时", "requested_datetime": "2026-11-24T18:00:00+08:00",
        "updated_datetime": "2026-11-24T18:25:00+08:00", "expected_datetime": "2026-11-27T10:00:00+08:00",
        "address": "测试市甲区文三路", "address_id": None, "zipcode": None, "lat": round(seed.LAT, 6),
        "long": round(seed.LON, 6), "media_url": None}


EXPECTED_STATUS = {
    "reported": ("open", "已上报，待受理"), "verifying": ("open", "已受理，待核实"),
    "registered": ("open", "已受理，待立案"), "filed": ("open", "已立案，待派遣"),
    "dispatched": ("open", "已派遣：处置单位A"), "suspended": ("open", "已挂账，暂缓处置"),
    "returned": ("open", "改派中"),
    "handled": ("open", "处置完成，待核查"), "checking": ("open", "处置完成，核查中"),
    "rework": ("open", "核查未通过，返工：处置单位A"), "checked": ("open", "核查通过，待结案"),
    "closed": ("closed", "已结案"), "forced": ("closed", "已强制结案（未修复）"), "rejected": ("closed", "不予受理"),
    "refuted": ("closed", "经核实不属实，不予受理"), "voided": ("closed", "已作废，不予立案"),
    "part_closed": ("closed", "已结案"), "part_dispatched": ("open", "已派遣：处置单位A"),
}


def test_every_status_as_published(client: TestClient, scene: seed.Scene) -> None:
    by_number = {r["service_request_id"]: r for r in client.get(f"{V2}/requests.json").json()}
    for label, (status, notes) in EXPECTED_STATUS.items():
        item = by_number[scene.numbers[label]]
        assert (item["status"], item["status_notes"]) == (status, notes), label
        # the handling deadline is published while it runs, and only then
        running = label in {"dispatched", "extended", "rework", "part_dispatched"}
        assert (item["expected_datetime"] is not None) == running, label


def test_closed_requests_keep_their_close_time(client: TestClient, scene: seed.Scene, people: seed.People,
                                               session: Session, clock: Any) -> None:
    from cityloop.cases import service as cases
    from cityloop.cases.schemas import RequiredNoteIn
    before = {r["service_request_id"]: r for r in client.get(f"{V2}/requests.json").json()}
    closes = {"closed": "2026-11-25T01:35:00+08:00", "forced": "2026-11-25T02:20:00+08:00",
              "rejected": "2026-11-25T03:05:00+08:00", "voided": "2026-11-25T05:10:00+08:00"}
    for label, at in closes.items():
        assert before[scene.numbers[label]]["updated_datetime"] == at
        # a later internal comment does not move it
        cases.comment(session, people.operator, scene.ids[label], RequiredNoteIn(note="回访满意"),
                      now=clock.now() + timedelta(hours=1))
    session.commit()
    after = {r["service_request_id"]: r for r in client.get(f"{V2}/requests.json").json()}
    assert all(after[scene.numbers[label]]["updated_datetime"] == at for label, at in closes.items())


@pytest.mark.parametrize(("status", "labels"), [
    ("open", {"reported", "dispatched", "checked"}), ("closed", {"closed", "rejected", "voided"}),
    ("OPEN,closed", {"reported", "closed"}), ("", {"reported", "closed"})])
def test_status_filter(client: TestClient, scene: seed.Scene, status: str, labels: set[str]) -> None:
    j, _ = get_both(client, f"{V2}/requests", status=status)
    got = {r["status"] for r in j.json()}
    wanted = {s.lower() for s in status.split(",") if s} or {"open", "closed"}
    assert got == wanted
    assert {scene.numbers[label] for label in labels} <= set(numbers(j))


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_status_is_400(client: TestClient, fmt: str) -> None:
    assert_error(client.get(f"{V2}/requests.{fmt}", params={"status": "fixed"}), 400,
                 "status must be open, closed or open,closed; got 'fixed'", fmt)


def test_service_code_filter(client: TestClient, scene: seed.Scene) -> None:
    parts = client.get(f"{V2}/requests.json", params={"service_code": seed.PART})
    assert set(numbers(parts)) == {scene.numbers["part_closed"], scene.numbers["part_dispatched"]}
    both = client.get(f"{V2}/requests.json", params={"service_code": f"{seed.PART}, SJ06010,nonsense"})
    assert set(numbers(both)) == scene.public_numbers()
    assert client.get(f"{V2}/requests.json", params={"service_code": "SJ99999,junk"}).json() == []
    assert len(client.get(f"{V2}/requests.json", params={"service_code": ""}).json()) == len(scene.public_numbers())


def test_ids_override_every_other_argument(client: TestClient, scene: seed.Scene) -> None:
    wanted = [scene.numbers["closed"], scene.numbers["reported"], scene.numbers["private"], "nonexistent"]
    j, _ = get_both(client, f"{V2}/requests", service_request_id=",".join(wanted), status="open",
                    service_code=seed.PART, start_date="2020-01-01", end_date="2020-01-02", page_size="1")
    # unknown and non-public ids are silently left out
    assert set(numbers(j)) == {scene.numbers["closed"], scene.numbers["reported"]}


def test_date_window(client: TestClient, scene: seed.Scene) -> None:
    everything = len(scene.public_numbers())
    # the fake clock stands at 2026-11-25T10:00+08:00; the scene's cases are from the 20 hours before
    cases = [("start_date", "2026-11-25T00:00:00+08:00"), ("end_date", "2026-11-25T00:00:00 08:00"),
             ("start_date", "2026-11-24T16:00:00Z")]
    counts = [len(client.get(f"{V2}/requests.json", params=dict([c])).json()) for c in cases]
    assert counts == [8, 12, 8]
    assert sum(counts[:2]) == everything + 1  # the case reported at 00:00 is inside both windows (inclusive)
    assert client.get(f"{V2}/requests.json", params={"end_date": "2026-08-01"}).json() == []
    both = client.get(f"{V2}/requests.json", params={"start_date": "2026-11-24", "end_date": "2026-11-25"})
    assert len(both.json()) == 12


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("query", "message"), [
    ({"start_date": "2026-11-25", "end_date": "2026-11-24"}, "end_date is before start_date"),
    ({"start_date": "2026-01-01", "end_date": "2026-11-24"}, "date range exceeds 90 days"),
    ({"start_date": "yesterday"},
     "start_date: 'yesterday' is not an ISO 8601 datetime (e.g. 2026-11-01T00:00:00+08:00)"),
    ({"page_size": "5000"}, "page_size must be an integer from 1 to 1000"),
])
def test_bad_query_is_400(client: TestClient, query: dict[str, str], message: str, fmt: str) -> None:
    assert_error(client.get(f"{V2}/requests.{fmt}", params=query), 400, message, fmt)


def test_the_default_window_is_the_last_90_days(client: TestClient, scene: seed.Scene, session: Session) -> None:
    from cityloop.cases.models import Case
    old = session.get(Case, scene.ids["closed"])
    assert old is not None
    old.created_at = scene.now - timedelta(days=91)
    session.commit()
    assert scene.numbers["closed"] not in numbers(client.get(f"{V2}/requests.json"))
    assert scene.numbers["closed"] in numbers(client.get(f"{V2}/requests.json",
                                                         params={"service_request_id": scene.numbers["closed"]}))


def test_unknown_parameters_are_ignored(client: TestClient, scene: seed.Scene) -> None:
    assert len(client.get(f"{V2}/requests.json", params={"foo": "bar", "Status": "nonsense"}).json()) == len(
        scene.public_numbers())


# --- paging (§13.1) ----------------------------------------------------------------------------------------------

def test_paging_by_page(client: TestClient, scene: seed.Scene) -> None:
    total = len(scene.public_numbers())
    everything = numbers(client.get(f"{V2}/requests.json"))
    pages: list[str] = []
    for page in (1, 2, 3, 4):
        r = client.get(f"{V2}/requests.json", params={"page": page, "page_size": 5, "status": "open,closed"})
        assert r.headers["x-total-count"] == str(total)
        assert isinstance(r.json(), list)
        assert_valid("requests", r.json())  # paging never changes the body's shape
        pages += numbers(r)
        links = r.headers.get("link", "")
        assert ('rel="next"' in links) == (page < 4)
        assert ('rel="prev"' in links) == (page > 1)
        if page == 2:
            assert "page=3&page_size=5" in links
            assert "status=open%2Cclosed" in links
    assert pages == everything


def test_paging_by_offset_matches_pages(client: TestClient, scene: seed.Scene) -> None:
    by_page = numbers(client.get(f"{V2}/requests.json", params={"page": 2, "page_size": 4}))
    r = client.get(f"{V2}/requests.json", params={"limit": 4, "offset": 4})
    assert numbers(r) == by_page
    assert "limit=4&offset=8" in r.headers["link"]
    assert "limit=4&offset=0" in r.headers["link"]


def test_the_cap_keeps_the_newest_and_links_to_the_rest(client: TestClient, scene: seed.Scene,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cityloop.open311 import params
    everything = numbers(client.get(f"{V2}/requests.json"))
    monkeypatch.setattr(params, "MAX_ROWS", 3)
    r = client.get(f"{V2}/requests.json")
    assert numbers(r) == everything[:3]
    assert r.headers["x-total-count"] == str(len(everything))
    assert r.headers["link"].endswith('page=2&page_size=3>; rel="next"')


# --- extensions=true (§13.2) ---------------------------------------------------------------------------------------

def test_extensions(client: TestClient, scene: seed.Scene) -> None:
    plain = client.get(f"{V2}/requests.json").json()
    j, x = get_both(client, f"{V2}/requests", extensions="true")
    body = j.json()
    assert_valid("requests", body, extended=True)
    assert [{k: v for k, v in r.items() if k not in ("extended_attributes", "notes")} for r in body] == plain
    by_number = {r["service_request_id"]: r for r in body}
    closed = by_number[scene.numbers["closed"]]
    ext = closed["extended_attributes"]
    assert (ext["detailed_status"], ext["state"], ext["state_label"], ext["closure_reason"]) == (
        "PROCESSED", "CLOSED", "已结案", "FIXED")
    assert (ext["channel"], ext["district"], ext["street"]) == ("patrol", "甲区", "甲区1街道")
    assert len(ext["media_urls"]) == 2
    assert ext["media_urls"][0] == closed["media_url"]
    assert [n["description"] for n in closed["notes"]][-2:] == ["核查通过，待结案", "已结案"]
    assert by_number[scene.numbers["forced"]]["extended_attributes"]["closure_reason"] == "CLOSED"
    assert by_number[scene.numbers["voided"]]["extended_attributes"]["closure_reason"] == "NO_FURTHER_ACTION"
    # the dispatched case's 2 工作时 ran out at 09:15, the fake clock says 10:00; the extended one runs to the 27th
    assert by_number[scene.numbers["dispatched"]]["extended_attributes"]["overdue"] is True
    assert by_number[scene.numbers["extended"]]["extended_attributes"]["overdue"] is False
    assert by_number[scene.numbers["closed"]]["extended_attributes"]["overdue"] is False
    # internal steps (the unit's request, its denial, comments) never show in the public timeline
    returned = [n["description"] for n in by_number[scene.numbers["returned"]]["notes"]]
    assert returned == ["已上报，待受理", "已受理，待立案", "已立案，待派遣", "已派遣：处置单位A", "改派中"]
    root = parse_xml(x.content)
    assert root.find("request/extended_attributes/media_urls") is not None
    assert [n.tag for n in root.find("request/notes") or []] == ["note"] * len(body[0]["notes"])


def test_overdue(client: TestClient, scene: seed.Scene, clock: Any) -> None:
    clock.advance(timedelta(days=3))
    r = client.get(f"{V2}/requests/{scene.numbers['extended']}.json", params={"extensions": "true"})
    assert r.json()[0]["extended_attributes"]["overdue"] is True


@pytest.mark.parametrize("value", ["", "false", "1"])
def test_without_extensions_true_the_strict_shape_holds(client: TestClient, scene: seed.Scene, value: str) -> None:
    assert_valid("requests", client.get(f"{V2}/requests.json", params={"extensions": value}).json())


# --- one request -------------------------------------------------------------------------------------------------

def test_one_request_is_an_array_of_one(client: TestClient, scene: seed.Scene) -> None:
    j, x = get_both(client, f"{V2}/requests/{scene.numbers['closed']}")
    assert_valid("requests", j.json())
    assert numbers(j) == [scene.numbers["closed"]]
    root = parse_xml(x.content)
    assert root.tag == "service_requests"
    assert [c.tag for c in root] == ["request"]
    ext = client.get(f"{V2}/requests/{scene.numbers['closed']}.json", params={"extensions": "true"}).json()
    assert_valid("requests", ext, extended=True)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", ["private", None])
def test_unknown_or_private_request_is_404(client: TestClient, scene: seed.Scene, label: str | None,
                                           fmt: str) -> None:
    number = scene.numbers[label] if label else "20261125999999"
    assert_error(client.get(f"{V2}/requests/{number}.{fmt}"), 404, "service_request_id not found", fmt)


def test_datetimes_and_coordinates(client: TestClient, scene: seed.Scene) -> None:
    import re
    body = client.get(f"{V2}/requests.json", params={"extensions": "true"}).json()
    for r in body:
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert r[key] is None or re.match(PATTERN_DT, r[key]), r[key]
        assert all(re.match(PATTERN_DT, n["datetime"]) for n in r["notes"])
        assert isinstance(r["lat"], float)
        assert isinstance(r["long"], float)
        assert isinstance(r["service_request_id"], str)
        assert isinstance(r["service_code"], str)


# --- tokens ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("label", "case"), [("created", "dispatched"), ("merged", "closed"), ("pending", None),
                                             ("joined", None)])
def test_token_states(client: TestClient, scene: seed.Scene, label: str, case: str | None) -> None:
    token = scene.tokens[label]
    j, x = get_both(client, f"{V2}/tokens/{token}")
    assert_valid("token-response", j.json())
    assert j.json() == [{"service_request_id": scene.numbers[case] if case else None, "token": token}]
    assert [c.tag for c in parse_xml(x.content)] == ["request"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("label", "message"), [
    ("dropped", "token discarded: below the confidence threshold"),
    ("rejected", "token discarded: rejected on review"),
    (None, "token not found")])
def test_discarded_and_unknown_tokens_are_404(client: TestClient, scene: seed.Scene, label: str | None,
                                              message: str, fmt: str) -> None:
    token = scene.tokens[label] if label else "t-never-issued"
    r = client.get(f"{V2}/tokens/{token}.{fmt}")
    assert_error(r, 404, message, fmt)
    assert "内部备注" not in r.text  # the reviewer's note stays internal


# --- photos ------------------------------------------------------------------------------------------------------

def test_media_url_serves_the_report_photo(client: TestClient, scene: seed.Scene, app: FastAPI) -> None:
    [item] = client.get(f"{V2}/requests/{scene.numbers['dispatched']}.json").json()
    public_id = scene.photos["dispatched"]
    assert item["media_url"] == f"http://127.0.0.1:8000/open311/media/{public_id}"
    r = client.get(f"/open311/media/{public_id}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    assert_valid("requests", [item])


def test_photos_of_private_cases_and_unknown_ids_are_404(client: TestClient, scene: seed.Scene) -> None:
    for public_id in (scene.photos["private"], "nonexistent"):
        r = client.get(f"/open311/media/{public_id}")
        assert r.status_code == 404
        assert r.headers["content-type"] == "text/xml; charset=utf-8"


# --- faults ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unexpected_fault_is_500_in_the_spec_shape(client: TestClient, scene: seed.Scene, fmt: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cityloop.open311 import queries

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret stack detail")

    monkeypatch.setattr(queries, "find_requests", boom)
    r = client.get(f"{V2}/requests.{fmt}")
    assert_error(r, 500, "internal error", fmt)
    assert "secret" not in r.text


# --- servicerequestupdates (§13.4, FixMyStreet) ------------------------------------------------------------------

WINDOW = {"start_date": "2026-11-24T00:00:00+08:00", "end_date": "2026-11-25T12:00:00+08:00"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_updates_need_a_key(client: TestClient, scene: seed.Scene, fmt: str) -> None:
    for key in (None, "wrong"):
        query = {**WINDOW, **({"api_key": key} if key else {})}
        assert_error(client.get(f"{V2}/servicerequestupdates.{fmt}", params=query), 403,
                     "api_key missing or invalid", fmt)


def test_updates(client: TestClient, scene: seed.Scene) -> None:
    j, x = get_both(client, f"{V2}/servicerequestupdates", api_key=scene.api_key, **WINDOW)
    updates = j.json()
    assert_valid("updates", updates)
    assert [c.tag for c in parse_xml(x.content)] == ["request_update"] * len(updates)
    ids = [u["update_id"] for u in updates]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("ev-") for i in ids)
    stamps = [parse_dt(u["updated_datetime"]) for u in updates]
    assert stamps == sorted(stamps)
    assert scene.numbers["private"] not in {u["service_request_id"] for u in updates}
    last = {u["service_request_id"]: u for u in updates}  # the latest update of each case
    finals = {label: last[scene.numbers[label]]["status"] for label in ("closed", "forced", "rejected", "voided")}
    assert finals == {"closed": "FIXED", "forced": "CLOSED", "rejected": "NO_FURTHER_ACTION",
                      "voided": "NO_FURTHER_ACTION"}
    assert {u["status"] for u in updates} <= {"OPEN", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "FIXED",
                                              "CLOSED", "NO_FURTHER_ACTION"}
    closing = last[scene.numbers["closed"]]
    assert closing["external_status_code"] == "closed"
    assert closing["media_url"] is not None
    assert not closing["media_url"].endswith(scene.photos["closed"])  # the "after" photo, not the report's
    returned = [u["description"] for u in updates if u["service_request_id"] == scene.numbers["returned"]]
    assert returned[-1] == "改派中"
    assert len(returned) == 5  # the unit's request to return it is internal


def test_updates_are_stable_and_page(client: TestClient, scene: seed.Scene) -> None:
    query = {"api_key": scene.api_key, **WINDOW}
    first = client.get(f"{V2}/servicerequestupdates.json", params=query).json()
    again = client.get(f"{V2}/servicerequestupdates.json", params=query).json()
    assert first == again
    page = client.get(f"{V2}/servicerequestupdates.json", params={**query, "page": 2, "page_size": 10})
    assert page.json() == first[10:20]
    assert page.headers["x-total-count"] == str(len(first))
    assert 'rel="next"' in page.headers["link"]
    outside = client.get(f"{V2}/servicerequestupdates.json",
                         params={"api_key": scene.api_key, "start_date": "2026-10-01", "end_date": "2026-10-02"})
    assert outside.json() == []


# --- efficiency --------------------------------------------------------------------------------------------------

def test_a_list_costs_the_same_number_of_queries_for_any_number_of_rows(
        client: TestClient, scene: seed.Scene, people: seed.People, session: Session, connection: Any,
        clock: Any) -> None:
    import sqlalchemy as sa

    from cityloop.cases import service as cases
    from cityloop.cases.schemas import CaseIn
    from cityloop.catalog.enums import Kind

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    def cost(query: dict[str, str]) -> int:
        statements.clear()
        sa.event.listen(connection, "before_cursor_execute", count)
        try:
            assert client.get(f"{V2}/requests.json", params=query).status_code == 200
        finally:
            sa.event.remove(connection, "before_cursor_execute", count)
        return len(statements)

    small = {"page_size": "2"}, {"page_size": "2", "extensions": "true"}
    before = [cost(q) for q in small]
    for _ in range(10):
        cases.create_case(session, people.collector, CaseIn(kind=Kind.EVENT, category_code="06010", description="x",
                                                            lat=seed.LAT, lon=seed.LON), now=clock.now())
    session.commit()
    large = {"page_size": "30"}, {"page_size": "30", "extensions": "true"}
    assert [cost(q) for q in large] == before
