"""Every path of the case loop over HTTP, walked by the personas; each ends on the whole timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from cityloop.core.clock import FakeClock
from tests.api.helpers import Api

Step = tuple[str, str | None, str, str]


def story(api: Api, case_id: int, who: str = "operator") -> list[Step]:
    """(action, from_status, to_status, actor) for every event, oldest first."""
    return [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in api.events(case_id, who)]


def notes(api: Api, case_id: int) -> list[str]:
    return [e["note"] for e in api.events(case_id)]


def queue_ids(client: TestClient, api: Api, who: str) -> list[int]:
    r = client.get("/api/v1/queue", headers=api.world[who].headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


def dispatched(api: Api, **report_fields: Any) -> int:
    case = api.report(**report_fields)
    for action in ("accept", "file", "dispatch"):
        api.act(case["id"], action)
    return int(case["id"])


DISPATCHED_PREFIX: list[Step] = [
    ("report", None, "reported", "collector"),
    ("accept", "reported", "registered", "operator"),
    ("file", "registered", "filed", "shift_leader"),
    ("dispatch", "filed", "dispatched", "dispatcher"),
]


def test_main_path_from_report_to_close_tells_the_whole_story(api: Api, clock: FakeClock) -> None:
    w = api.world
    case = api.report()
    cid = case["id"]
    assert (case["status"], case["source"], case["unit_id"]) == ("reported", "collector", None)
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("accept", "operator", {"note": "属实，受理"}),
        ("file", "shift_leader", {"note": "符合立案标准"}),
        ("dispatch", "dispatcher", {"note": "请A单位处置"}),
        ("complete", "unit_a_staff", {"note": "已更换井盖"}),
        ("request_check", "operator", {"note": "请核查"}),
        ("check", "collector", {"passed": True, "note": "井盖已恢复"}),
        ("close", "shift_leader", {"note": "结案"}),
    ]
    for action, who, body in steps:
        clock.advance(timedelta(minutes=30))
        case = api.act(cid, action, who, **body)
        if action == "dispatch":
            assert case["unit_id"] == w.unit_a
        if action == "request_check":
            assert case["open_task"]["kind"] == "check"
            assert case["open_task"]["collector_id"] == w["collector"].id
    assert (case["status"], case["open_task"]) == ("closed", None)
    assert case["closed_at"] == "2026-11-25T13:30:00+08:00"
    assert case["allowed_actions"] == ["comment"]

    events = api.events(cid)
    assert story(api, cid) == [
        *DISPATCHED_PREFIX,
        ("complete", "dispatched", "handled", "unit_a_staff"),
        ("request_check", "handled", "checking", "operator"),
        ("check", "checking", "checked", "collector"),
        ("close", "checked", "closed", "shift_leader"),
    ]
    assert notes(api, cid) == ["", "属实，受理", "符合立案标准", "请A单位处置", "已更换井盖", "请核查", "井盖已恢复",
                               "结案"]
    assert [e["role"] for e in events] == ["collector", "operator", "shift_leader", "dispatcher", "unit_staff",
                                           "operator", "collector", "shift_leader"]
    assert [e["at"][11:16] for e in events] == ["10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00",
                                                "13:30"]
    dispatched = events[3]["details"]
    assert {k: dispatched[k] for k in ("unit_id", "unit_code", "followed_suggestion", "command_level")} == {
        "unit_id": w.unit_a, "unit_code": "UA", "followed_suggestion": False, "command_level": "district"}
    assert dispatched["routing"]["unit"] is None  # no routing rules in this world: nothing was suggested
    assert events[3]["unit"] == "处置单位A"
    assert events[5]["details"] == {"collector_id": w["collector"].id}
    assert events[6]["details"] == {"outcome": "passed"}


def test_verification_confirmed_registers_the_report(api: Api) -> None:
    cid = api.report()["id"]
    case = api.act(cid, "request_verification", note="请核实")
    assert (case["status"], case["open_task"]["kind"]) == ("verifying", "verify")
    case = api.act(cid, "verify", confirmed=True, note="现场属实")
    assert (case["status"], case["open_task"]) == ("registered", None)
    assert story(api, cid) == [
        ("report", None, "reported", "collector"),
        ("request_verification", "reported", "verifying", "operator"),
        ("verify", "verifying", "registered", "collector"),
    ]
    assert api.events(cid)[2]["details"] == {"outcome": "confirmed"}
    assert notes(api, cid) == ["", "请核实", "现场属实"]


def test_verification_refuted_rejects_the_report(api: Api) -> None:
    cid = api.report(who="citizen")["id"]
    case = api.act(cid, "request_verification")
    case = api.act(cid, "verify", confirmed=False, note="现场无此问题")
    assert case["status"] == "rejected"
    assert story(api, cid) == [
        ("report", None, "reported", "citizen"),
        ("request_verification", "reported", "verifying", "operator"),
        ("verify", "verifying", "rejected", "collector"),
    ]
    assert api.events(cid)[2]["details"] == {"outcome": "refuted"}


def test_approved_return_takes_the_case_from_unit_a_and_unit_b_completes_it(api: Api, client: TestClient) -> None:
    w = api.world
    cid = dispatched(api)
    case = api.act(cid, "request_return", reason="非本单位职责")
    assert [(r["kind"], r["state"]) for r in case["pending_requests"]] == [("return", "pending")]
    assert cid in queue_ids(client, api, "dispatcher")
    case = api.act(cid, "approve_return", note="同意，改派")
    assert (case["status"], case["unit_id"], case["pending_requests"]) == ("filed", None, [])
    api.get(cid, "unit_a_staff", expect=404)
    assert cid not in queue_ids(client, api, "unit_a_staff")

    case = api.act(cid, "dispatch", unit_id=w.unit_b, note="改派B单位")
    assert case["unit_id"] == w.unit_b
    api.get(cid, "unit_a_staff", expect=404)
    assert queue_ids(client, api, "unit_b_staff") == [cid]
    case = api.act(cid, "complete", "unit_b_staff", note="B单位已处置")
    assert case["status"] == "handled"

    events = api.events(cid)
    assert story(api, cid) == [
        *DISPATCHED_PREFIX,
        ("request_return", "dispatched", "dispatched", "unit_a_staff"),
        ("approve_return", "dispatched", "filed", "dispatcher"),
        ("dispatch", "filed", "dispatched", "dispatcher"),
        ("complete", "dispatched", "handled", "unit_b_staff"),
    ]
    assert notes(api, cid)[4:] == ["非本单位职责", "同意，改派", "改派B单位", "B单位已处置"]
    request_id = events[4]["details"]["request_id"]
    assert events[4]["details"] == {"kind": "return", "request_id": request_id}
    assert events[5]["details"] == {"returned_by_unit_id": w.unit_a, "request_id": request_id}
    assert [e["unit_id"] for e in events[4:]] == [w.unit_a, w.unit_a, w.unit_b, w.unit_b]


def test_denied_return_keeps_the_case_at_its_unit(api: Api) -> None:
    w = api.world
    cid = dispatched(api)
    api.act(cid, "request_return", reason="非本单位职责")
    case = api.act(cid, "deny_return", reason="属于本单位")
    assert (case["status"], case["unit_id"], case["pending_requests"]) == ("dispatched", w.unit_a, [])
    assert api.get(cid, "unit_a_staff")["status"] == "dispatched"
    assert story(api, cid) == [
        *DISPATCHED_PREFIX,
        ("request_return", "dispatched", "dispatched", "unit_a_staff"),
        ("deny_return", "dispatched", "dispatched", "dispatcher"),
    ]
    assert notes(api, cid)[4:] == ["非本单位职责", "属于本单位"]


def test_failed_check_sends_the_case_back_to_the_same_unit_for_rework(api: Api, client: TestClient) -> None:
    w = api.world
    cid = dispatched(api)
    api.act(cid, "complete", note="已修复")
    api.act(cid, "request_check")
    case = api.act(cid, "check", passed=False, note="井盖仍松动")
    assert (case["status"], case["unit_id"], case["rework_count"]) == ("dispatched", w.unit_a, 1)
    assert cid in queue_ids(client, api, "unit_a_staff")
    api.act(cid, "complete", note="已加固")
    api.act(cid, "request_check", collector_id=w["collector_b"].id)
    case = api.act(cid, "check", "collector_b", passed=True)
    case = api.act(cid, "close")
    assert (case["status"], case["rework_count"]) == ("closed", 1)
    assert story(api, cid) == [
        *DISPATCHED_PREFIX,
        ("complete", "dispatched", "handled", "unit_a_staff"),
        ("request_check", "handled", "checking", "operator"),
        ("check", "checking", "dispatched", "collector"),
        ("complete", "dispatched", "handled", "unit_a_staff"),
        ("request_check", "handled", "checking", "operator"),
        ("check", "checking", "checked", "collector_b"),
        ("close", "checked", "closed", "shift_leader"),
    ]
    assert notes(api, cid)[4:7] == ["已修复", "", "井盖仍松动"]
    assert [e["details"].get("outcome") for e in api.events(cid)[6::3]] == ["failed", "passed"]


def test_approved_suspension_parks_the_case_until_resumed(api: Api, client: TestClient) -> None:
    cid = dispatched(api)
    api.act(cid, "request_suspension", reason="需专项资金")
    case = api.act(cid, "approve_suspension", note="同意挂账")
    assert (case["status"], case["pending_requests"]) == ("suspended", [])
    assert cid in queue_ids(client, api, "dispatcher")
    assert cid not in queue_ids(client, api, "unit_a_staff")
    case = api.act(cid, "resume", note="资金到位")
    assert case["status"] == "dispatched"
    assert story(api, cid) == [
        *DISPATCHED_PREFIX,
        ("request_suspension", "dispatched", "dispatched", "unit_a_staff"),
        ("approve_suspension", "dispatched", "suspended", "dispatcher"),
        ("resume", "suspended", "dispatched", "dispatcher"),
    ]
    assert notes(api, cid)[4:] == ["需专项资金", "同意挂账", "资金到位"]


def test_denied_suspension_keeps_the_case_in_hand(api: Api) -> None:
    cid = dispatched(api)
    api.act(cid, "request_suspension")
    case = api.act(cid, "deny_suspension", reason="可以处置")
    assert (case["status"], case["pending_requests"]) == ("dispatched", [])
    assert story(api, cid)[4:] == [
        ("request_suspension", "dispatched", "dispatched", "unit_a_staff"),
        ("deny_suspension", "dispatched", "dispatched", "dispatcher"),
    ]
    assert notes(api, cid)[4:] == ["需专项资金", "可以处置"]


def test_extension_request_is_shown_pending_and_its_approval_records_amount_and_unit(api: Api) -> None:
    cid = dispatched(api)
    case = api.act(cid, "request_extension", reason="需采购配件", amount=3, unit="自然日")
    [req] = case["pending_requests"]
    assert (req["kind"], req["state"], req["amount"], req["amount_unit"], req["reason"]) == (
        "extension", "pending", 3, "自然日", "需采购配件")
    assert req["requested_by"] == api.world["unit_a_staff"].id
    assert api.get(cid, "dispatcher")["allowed_actions"] == ["approve_extension", "deny_extension", "comment"]
    case = api.act(cid, "approve_extension", note="同意延期3天")
    assert (case["status"], case["pending_requests"]) == ("dispatched", [])
    events = api.events(cid)
    assert story(api, cid)[4:] == [
        ("request_extension", "dispatched", "dispatched", "unit_a_staff"),
        ("approve_extension", "dispatched", "dispatched", "dispatcher"),
    ]
    assert events[4]["details"] == {"kind": "extension", "amount": 3, "unit": "自然日", "request_id": req["id"]}
    # The default handling limit (1 工作日, the class has no filing standard rows) ran to Thursday 10:00;
    # three natural days move it to Sunday 10:00.
    assert events[5]["details"] == {"amount": 3, "unit": "自然日", "request_id": req["id"],
                                    "due_at": "2026-11-29T10:00:00+08:00"}
    assert events[5]["note"] == "同意延期3天"


def test_denied_extension_and_a_second_request_while_one_is_pending(api: Api) -> None:
    cid = dispatched(api)
    api.act(cid, "request_extension")
    err = api.act(cid, "request_extension", reason="再次申请", expect=409)
    assert err["code"] == "request_pending"
    assert len(api.get(cid)["pending_requests"]) == 1
    case = api.act(cid, "deny_extension", reason="时限充足")
    assert case["pending_requests"] == []
    case = api.act(cid, "request_extension", reason="配件缺货", amount=1, unit="工作日")
    assert [r["reason"] for r in case["pending_requests"]] == ["配件缺货"]
    assert story(api, cid)[4:] == [
        ("request_extension", "dispatched", "dispatched", "unit_a_staff"),
        ("deny_extension", "dispatched", "dispatched", "dispatcher"),
        ("request_extension", "dispatched", "dispatched", "unit_a_staff"),
    ]
    assert notes(api, cid)[4:] == ["需采购配件", "时限充足", "配件缺货"]


def test_pending_extension_lapses_when_the_case_is_suspended(api: Api) -> None:
    cid = dispatched(api)
    ext = api.act(cid, "request_extension")["pending_requests"][0]
    case = api.act(cid, "request_suspension")
    assert sorted(r["kind"] for r in case["pending_requests"]) == ["extension", "suspension"]
    case = api.act(cid, "approve_suspension")
    assert (case["status"], case["pending_requests"]) == ("suspended", [])
    case = api.act(cid, "resume")
    assert case["pending_requests"] == []
    # the lapsed request no longer blocks a new one
    assert len(api.act(cid, "request_extension")["pending_requests"]) == 1
    events = api.events(cid)
    assert story(api, cid)[4:] == [
        ("request_extension", "dispatched", "dispatched", "unit_a_staff"),
        ("request_suspension", "dispatched", "dispatched", "unit_a_staff"),
        ("approve_suspension", "dispatched", "suspended", "dispatcher"),
        ("resume", "suspended", "dispatched", "dispatcher"),
        ("request_extension", "dispatched", "dispatched", "unit_a_staff"),
    ]
    assert events[6]["details"]["lapsed_request_ids"] == [ext["id"]]
    assert events[6]["details"]["request_id"] == events[5]["details"]["request_id"] != ext["id"]


def test_void_from_registered_and_from_filed_records_the_reason(api: Api) -> None:
    registered = api.report()["id"]
    api.act(registered, "accept")
    case = api.act(registered, "void", reason="重复案件")
    assert (case["status"], case["closed_at"]) == ("voided", None)
    filed = api.report()["id"]
    api.act(filed, "accept")
    api.act(filed, "file")
    assert api.act(filed, "void", reason="误立案")["status"] == "voided"
    assert story(api, registered) == [
        ("report", None, "reported", "collector"),
        ("accept", "reported", "registered", "operator"),
        ("void", "registered", "voided", "shift_leader"),
    ]
    assert story(api, filed)[2:] == [
        ("file", "registered", "filed", "shift_leader"),
        ("void", "filed", "voided", "shift_leader"),
    ]
    assert notes(api, registered)[-1] == "重复案件"
    assert notes(api, filed)[-1] == "误立案"


def test_reject_records_the_reason(api: Api) -> None:
    cid = api.report(who="citizen")["id"]
    case = api.act(cid, "reject", reason="不属于城管范围")
    assert case["status"] == "rejected"
    assert story(api, cid) == [
        ("report", None, "reported", "citizen"),
        ("reject", "reported", "rejected", "operator"),
    ]
    assert notes(api, cid) == ["", "不属于城管范围"]


def test_self_handled_report_goes_from_filing_straight_to_closing(api: Api) -> None:
    case = api.report(self_handled=True, description="井盖移位，已现场复位")
    assert case["self_handled"] is True
    cid = case["id"]
    api.act(cid, "accept")
    case = api.act(cid, "file")
    assert (case["status"], case["unit_id"]) == ("checked", None)
    case = api.act(cid, "close", note="自处置结案")
    assert case["status"] == "closed"
    events = api.events(cid)
    assert story(api, cid) == [
        ("report", None, "reported", "collector"),
        ("accept", "reported", "registered", "operator"),
        ("file", "registered", "checked", "shift_leader"),
        ("close", "checked", "closed", "shift_leader"),
    ]
    assert events[0]["details"] == {"source": "collector", "urgent": False, "self_handled": True}
    assert events[2]["details"] == {"outcome": "self_handled"}


def test_only_a_collector_may_report_a_self_handled_case(api: Api) -> None:
    for who in ("operator", "citizen", "leader"):
        err = api.report(who=who, expect=403, self_handled=True)
        assert (err["code"], err["field"]) == ("forbidden", "self_handled")


def test_force_close_of_a_dispatched_case_lets_its_pending_request_lapse(api: Api, client: TestClient) -> None:
    cid = dispatched(api)
    req = api.act(cid, "request_suspension")["pending_requests"][0]
    case = api.act(cid, "force_close", reason="单位撤销，无法处置")
    assert (case["status"], case["pending_requests"]) == ("closed", [])
    assert case["closed_at"] == case["updated_at"]
    assert cid not in queue_ids(client, api, "dispatcher")
    events = api.events(cid)
    assert story(api, cid)[4:] == [
        ("request_suspension", "dispatched", "dispatched", "unit_a_staff"),
        ("force_close", "dispatched", "closed", "shift_leader"),
    ]
    assert events[5]["details"] == {"forced": True, "lapsed_request_ids": [req["id"]]}
    assert events[5]["note"] == "单位撤销，无法处置"


def test_force_close_while_checking_cancels_the_open_task(api: Api, client: TestClient) -> None:
    cid = dispatched(api)
    api.act(cid, "complete")
    api.act(cid, "request_check")
    assert queue_ids(client, api, "collector") == [cid]
    case = api.act(cid, "force_close", "admin", reason="系统迁移")
    assert (case["status"], case["open_task"]) == ("closed", None)
    assert case["closed_at"] is not None
    assert queue_ids(client, api, "collector") == []
    assert api.act(cid, "check", expect=409)["code"] == "invalid_transition"
    events = api.events(cid)
    assert story(api, cid)[-1] == ("force_close", "checking", "closed", "admin")
    assert events[-1]["role"] == "admin"
    assert events[-1]["details"] == {"forced": True}


def test_leader_supervises_without_changing_the_status(api: Api, client: TestClient) -> None:
    cid = dispatched(api)
    other = api.report()["id"]
    assert queue_ids(client, api, "leader") == []
    case = api.act(cid, "supervise", note="三日内办结")
    assert (case["status"], case["supervised"]) == ("dispatched", True)
    assert queue_ids(client, api, "leader") == [cid]
    assert api.get(other)["supervised"] is False
    events = api.events(cid)
    assert story(api, cid)[4:] == [("supervise", "dispatched", "dispatched", "leader")]
    assert (events[-1]["role"], events[-1]["note"]) == ("leader", "三日内办结")


def test_comments_by_several_personas_join_the_timeline(api: Api) -> None:
    cid = api.report(who="citizen")["id"]
    api.act(cid, "comment", "citizen", note="井盖还在冒水")
    api.act(cid, "accept")
    api.act(cid, "file")
    api.act(cid, "dispatch")
    for who, note in (("unit_a_staff", "已安排人员"), ("leader", "请加快"), ("dispatcher", "已催办")):
        case = api.act(cid, "comment", who, note=note)
        assert case["status"] == "dispatched"
    err = api.act(cid, "comment", "unit_b_staff", expect=404)
    assert err["code"] == "not_found"
    assert api.act(cid, "comment", note="   ", expect=422)["field"] == "note"
    assert story(api, cid) == [
        ("report", None, "reported", "citizen"),
        ("comment", "reported", "reported", "citizen"),
        ("accept", "reported", "registered", "operator"),
        ("file", "registered", "filed", "shift_leader"),
        ("dispatch", "filed", "dispatched", "dispatcher"),
        ("comment", "dispatched", "dispatched", "unit_a_staff"),
        ("comment", "dispatched", "dispatched", "leader"),
        ("comment", "dispatched", "dispatched", "dispatcher"),
    ]
    assert [n for (a, *_), n in zip(story(api, cid), notes(api, cid), strict=True) if a == "comment"] == [
        "井盖还在冒水", "已安排人员", "请加快", "已催办"]
