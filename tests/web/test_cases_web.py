"""The work queues and the case page, driven as a person would with forms (no browser: see tests/browser)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment, Stage
from cityloop.cases.models import Case
from tests.api.helpers import Api
from tests.conftest import World
from tests.web.helpers import CSRF, Web, jpeg, text_of


def web(client: TestClient, world: World, who: str) -> Web:
    return Web(client, world[who])


def act(client: TestClient, world: World, who: str, case_id: int, action: str, expect: int = 303,
        files: object = None, **fields: object) -> str:
    version = client.get(f"/api/v1/cases/{case_id}", headers=world[who].headers).json()["version"]
    r = web(client, world, who).post(f"/cases/{case_id}/act/{action}",
                                     {"expected_version": version, **fields}, files=files)
    assert r.status_code == expect, f"{action} by {who}: {r.status_code} {text_of(r.text)[:600]}"
    return r.headers.get("location", "") if expect == 303 else r.text


def actions_offered(html: str) -> set[str]:
    return set(re.findall(r'data-action="(\w+)"', html))




def test_signed_out_pages_send_the_browser_to_login_and_back(client: TestClient) -> None:
    r = Web(client).get("/work/intake?page=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/work/intake%3Fpage%3D1"
    assert Web(client).get("/").headers["location"] == "/login"


@pytest.mark.parametrize(("who", "landing"), [
    ("operator", "/work/intake"), ("shift_leader", "/work/filing"), ("dispatcher", "/work/dispatch"),
    ("unit_a_staff", "/work/unit"), ("leader", "/work/leader"), ("collector", "/m"), ("admin", "/admin"),
    ("citizen", "/public/mine")])
def test_each_role_lands_on_its_own_work(client: TestClient, world: World, who: str, landing: str) -> None:
    assert web(client, world, who).get("/").headers["location"] == landing


def test_login_form_sets_a_session_and_refuses_a_wrong_password(client: TestClient, world: World) -> None:
    w = Web(client)
    bad = w.post("/login", {"username": "operator", "password": "wrong-password"})
    assert bad.status_code == 401
    assert "用户名或密码错误" in bad.text
    assert "cityloop_session" not in bad.headers.get("set-cookie", "")
    from tests.factories import PASSWORD

    ok = w.post("/login", {"username": "operator", "password": PASSWORD, "next": "/cases"})
    assert ok.status_code == 303, text_of(ok.text)
    assert ok.headers["location"] == "/cases"
    assert "cityloop_session=" in ok.headers["set-cookie"]
    assert "HttpOnly" in ok.headers["set-cookie"]
    # A `next` pointing off-site is ignored: the user lands on their own queue.
    again = w.post("/login", {"username": "operator", "password": PASSWORD, "next": "//evil.example/x"})
    assert again.headers["location"] == "/work/intake"


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, world: World, api: Api) -> None:
    case = api.report()
    r = web(client, world, "operator").post(f"/cases/{case['id']}/act/accept", {"note": "x"}, csrf=False)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert api.get(case["id"])["status"] == "reported"


def test_the_whole_loop_by_forms_with_a_return_and_a_failed_check(client: TestClient, world: World, api: Api,
                                                                    session: Session) -> None:
    case = api.report()
    cid, number = case["id"], case["number"]

    # 受理: the operator's queue lists it by number; the page offers accept/reject/verification only.
    op = web(client, world, "operator")
    assert number in op.get("/work/intake").text
    page = op.get(f"/cases/{cid}").text
    assert actions_offered(page) == {"accept", "reject", "request_verification", "comment"}
    assert act(client, world, "operator", cid, "accept", note="属实").startswith(f"/cases/{cid}?done=")

    # 立案 with the class's standard row; the shift leader's queue lists it first.
    assert number in web(client, world, "shift_leader").get("/work/filing").text
    act(client, world, "shift_leader", cid, "file", note="符合立案条件")

    # 派遣: no routing rule covers this world, so a dispatch without a unit is refused naming unit_id.
    board = web(client, world, "dispatcher").get("/work/dispatch").text
    assert number in board
    assert "无建议" in board
    refused = act(client, world, "dispatcher", cid, "dispatch", expect=422)
    assert "unit_id" in text_of(refused)
    assert api.get(cid)["status"] == "filed"
    act(client, world, "dispatcher", cid, "dispatch", unit_id=world.unit_b, note="B 单位就近")

    # Unit B asks for a return; the dispatcher approves it and sends it to unit A.
    assert number in web(client, world, "unit_b_staff").get("/work/unit").text
    act(client, world, "unit_b_staff", cid, "request_return", reason="非本单位职责")
    assert "回退" in web(client, world, "dispatcher").get("/work/dispatch").text
    act(client, world, "dispatcher", cid, "approve_return", note="同意")
    act(client, world, "dispatcher", cid, "dispatch", unit_id=world.unit_a, note="改派A")

    # Unit A completes with an after-photo; the photo is stored under the 处置后 stage.
    files = [("photos", ("after.jpg", jpeg(), "image/jpeg"))]
    act(client, world, "unit_a_staff", cid, "complete", note="已修复", files=files)
    stages = [a.stage for a in session.query(Attachment).filter(Attachment.case_id == cid)]
    assert stages == [Stage.AFTER]

    # 核查 fails: back to unit A for rework; the second round passes and the case closes.
    act(client, world, "operator", cid, "request_check", collector_id=world["collector"].id)
    act(client, world, "collector", cid, "check", passed="false", note="未修复到位")
    assert api.get(cid)["status"] == "dispatched"
    act(client, world, "unit_a_staff", cid, "complete", note="返工完成")
    act(client, world, "operator", cid, "request_check", collector_id=world["collector"].id)
    act(client, world, "collector", cid, "check", passed="true", note="已恢复")
    act(client, world, "shift_leader", cid, "close", note="结案")

    closed = session.get(Case, cid)
    assert closed is not None
    session.refresh(closed)
    assert closed.status.value == "closed"
    assert closed.rework_count == 1
    timeline = text_of(web(client, world, "leader").get(f"/cases/{cid}").text)
    for label in ("受理", "立案", "派遣", "申请回退", "同意回退", "处置完成", "核查", "结案"):
        assert label in timeline, label


def test_a_refused_action_keeps_what_was_typed_and_names_the_field(client: TestClient, world: World,
                                                                   api: Api) -> None:
    case = api.report()
    html = act(client, world, "operator", case["id"], "reject", expect=422)
    assert "reason" in text_of(html)
    assert 'data-action="reject" open' in html
    assert api.get(case["id"])["status"] == "reported"


def test_a_stale_version_is_a_conflict_shown_on_the_page(client: TestClient, world: World, api: Api) -> None:
    case = api.report()
    r = web(client, world, "operator").post(f"/cases/{case['id']}/act/accept",
                                            {"expected_version": case["version"] + 5})
    assert r.status_code == 409
    assert api.get(case["id"])["status"] == "reported"


def test_the_page_offers_only_what_the_user_may_do(client: TestClient, world: World, api: Api) -> None:
    case = api.report()
    for who in ("shift_leader", "operator", "leader", "dispatcher"):
        offered = actions_offered(web(client, world, who).get(f"/cases/{case['id']}").text)
        assert offered == set(api.get(case["id"], who=who)["allowed_actions"]), who
    # A unit sees nothing of a case not at its unit: 404, not a hint that it exists.
    assert web(client, world, "unit_a_staff").get(f"/cases/{case['id']}").status_code == 404
    r = web(client, world, "unit_a_staff").post(f"/cases/{case['id']}/act/accept", {})
    assert r.status_code == 404


def test_a_queue_of_another_role_is_forbidden(client: TestClient, world: World) -> None:
    r = web(client, world, "unit_a_staff").get("/work/dispatch")
    assert r.status_code == 403
    assert "派遣" in r.text
    assert web(client, world, "operator").get("/work/nothing").status_code == 404


def test_the_leader_sees_overdue_cases_and_can_supervise(client: TestClient, world: World, api: Api,
                                                        clock: object) -> None:
    from datetime import timedelta

    case = api.report(urgent=True)
    for action in ("accept", "file", "dispatch"):
        api.act(case["id"], action)
    clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    page = web(client, world, "leader").get("/work/leader").text
    assert case["number"] in page
    assert "data-chart" in page
    # One click from the list: back on the list, the case now marked 督办中.
    r = web(client, world, "leader").post(f"/cases/{case['id']}/act/supervise",
                                          {"expected_version": api.get(case["id"])["version"],
                                           "next": "/work/leader"})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/work/leader?done=supervise")
    assert api.get(case["id"])["supervised"] is True
    assert "督办中" in web(client, world, "leader").get("/work/leader").text


def test_search_filters_by_number_and_reports_a_bad_filter(client: TestClient, world: World, api: Api) -> None:
    a, b = api.report(), api.report(description="另一处")
    w = web(client, world, "operator")
    found = w.get(f"/cases?number={a['number']}").text
    assert a["number"] in found
    assert b["number"] not in found
    bad = w.get("/cases?area=12")
    assert bad.status_code == 422
    assert "area" in bad.text


def test_an_operator_types_in_a_hotline_call_with_its_source(client: TestClient, world: World, session: Session,
                                                             api: Api) -> None:
    w = web(client, world, "operator")
    form = w.get("/m/report").text
    assert 'name="source"' in form
    r = w.post("/m/report", {"category": "part:01001", "description": "市民来电：井盖缺失", "lat": "30.2590",
                             "lon": "120.1519", "crs": "wgs84", "address": "北山街", "source": "hotline"})
    assert r.status_code == 303, text_of(r.text)[:500]
    assert r.headers["location"].startswith("/cases/")
    case_id = int(r.headers["location"].split("/")[2].split("?")[0])
    assert api.get(case_id)["source"] == "hotline"
    # A collector has no say over the channel: no field, and the case is the collector's own report.
    assert 'name="source"' not in web(client, world, "collector").get("/m/report").text


def test_a_queue_refreshes_itself_as_a_fragment(client: TestClient, world: World, api: Api) -> None:
    first = api.report()
    w = web(client, world, "operator")
    page = w.get("/work/intake").text
    assert 'hx-trigger="every 30s"' in page
    second = api.report(description="刚上报的")
    fragment = w.client.get("/work/intake?page=1", headers={"HX-Request": "true", "HX-Target": "queue"}).text
    assert fragment.lstrip().startswith('<div id="queue"')
    assert "<html" not in fragment
    assert first["number"] in fragment
    assert second["number"] in fragment


def test_a_form_posted_after_the_session_ended_returns_to_its_page_after_login(client: TestClient,
                                                                            api: Api) -> None:
    case = api.report()
    w = Web(client)  # no session cookie: signed out (expired) in the meantime
    r = w.client.post(f"/cases/{case['id']}/act/accept", data={"csrf_token": CSRF},
                      headers={"Referer": f"http://testserver/cases/{case['id']}?x=1"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/cases/{case['id']}%3Fx%3D1"
    assert api.get(case["id"])["status"] == "reported"
