"""Every status × every action over HTTP: the table decides, and a refused action leaves no trace."""

from __future__ import annotations

from typing import Any

import pytest

from cityloop.cases.routes import ACTIONS
from cityloop.cases.workflow import TRANSITIONS, Action, Outcome, RequestKind, Status
from tests.api.helpers import ACTOR, Api
from tests.conftest import PERSONAS

API_ACTIONS = [action.value for action in ACTIONS]
# The outcome that api.body()'s default body asks for.
BODY_OUTCOME = {"verify": Outcome.CONFIRMED, "check": Outcome.PASSED}
# approve_*/deny_* → the request_* that opens what they settle.
OPENER = {"approve_return": "request_return", "deny_return": "request_return",
          "approve_extension": "request_extension", "deny_extension": "request_extension",
          "approve_suspension": "request_suspension", "deny_suspension": "request_suspension"}
UNIT_ACTIONS = {"request_return", "request_extension", "request_suspension", "complete"}


def post(api: Api, case_id: int, action: str, who: str, **overrides: Any) -> Any:
    return api.client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=api.body(action, **overrides),
                           headers=api.world[who].headers)


def snapshot(api: Api, case_id: int) -> tuple[int, str, int, list[str]]:
    case = api.get(case_id)
    return case["version"], case["status"], len(api.events(case_id)), sorted(
        r["kind"] for r in case["pending_requests"])


def test_the_action_routes_cover_every_action_but_report_and_breach() -> None:
    # report is POST /api/v1/cases; breach is written by the worker, never asked for over HTTP.
    assert set(ACTIONS) == set(Action) - {Action.REPORT, Action.BREACH}
    assert set(ACTOR) == set(API_ACTIONS)


@pytest.mark.parametrize("action", API_ACTIONS)
@pytest.mark.parametrize("status", list(Status), ids=str)
def test_action_from_status_follows_the_table(api: Api, status: Status, action: str) -> None:
    case = api.case_at(status)
    case_id = case["id"]
    if action in OPENER and status is Status.DISPATCHED:
        api.act(case_id, OPENER[action])
    version, _status, n_events, pending = snapshot(api, case_id)
    actor = api.world[ACTOR[action]]
    row = TRANSITIONS.get((status, Action(action), BODY_OUTCOME.get(action)))

    r = post(api, case_id, action, ACTOR[action])

    if row is None:
        if action in UNIT_ACTIONS and case["unit_id"] != api.world.unit_a:
            # Unit staff do not even see a case that is not at their unit.
            assert r.status_code == 404, r.text
            assert r.json()["code"] == "not_found"
        else:
            assert r.status_code == 409, r.text
            body = r.json()
            assert body["code"] == "invalid_transition"
            assert body["details"]["status"] == status.value
            assert body["details"]["action"] == action
            assert action not in body["details"]["allowed"]
        assert snapshot(api, case_id) == (version, status.value, n_events, pending)
        return

    assert r.status_code == 200, r.text
    after = r.json()
    assert after["status"] == row.to.value
    assert after["version"] == (version if action == "comment" else version + 1)
    assert api.get(case_id)["version"] == after["version"]
    events = api.events(case_id)
    assert len(events) == n_events + 1
    event = events[-1]
    assert event["action"] == action
    assert event["from_status"] == status.value
    assert event["to_status"] == row.to.value
    assert event["actor_id"] == actor.id
    assert event["role"] == PERSONAS[ACTOR[action]][0].value


@pytest.mark.parametrize("action", list(OPENER))
def test_deciding_with_no_pending_request_is_refused_and_changes_nothing(api: Api, action: str) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    before = snapshot(api, case_id)
    r = post(api, case_id, action, ACTOR[action])
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "no_pending_request"
    assert snapshot(api, case_id) == before


@pytest.mark.parametrize("action", ["request_return", "request_extension", "request_suspension"])
def test_a_second_request_of_a_pending_kind_is_refused(api: Api, action: str) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    api.act(case_id, action)
    before = snapshot(api, case_id)
    r = post(api, case_id, action, "unit_a_staff")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "request_pending"
    assert snapshot(api, case_id) == before


def test_requests_of_different_kinds_stand_side_by_side(api: Api) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    for action in ("request_return", "request_extension", "request_suspension"):
        api.act(case_id, action)
    assert snapshot(api, case_id)[3] == ["extension", "return", "suspension"]


def test_approving_a_suspension_lapses_the_pending_extension(api: Api) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    api.act(case_id, "request_extension")
    api.act(case_id, "request_suspension")
    case = api.act(case_id, "approve_suspension")
    assert case["status"] == "suspended"
    assert case["pending_requests"] == []
    event = api.events(case_id)[-1]
    assert event["action"] == "approve_suspension"
    assert len(event["details"]["lapsed_request_ids"]) == 1


def test_denying_a_request_keeps_the_others_pending(api: Api) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    api.act(case_id, "request_extension")
    api.act(case_id, "request_suspension")
    case = api.act(case_id, "deny_suspension")
    assert [r["kind"] for r in case["pending_requests"]] == [RequestKind.EXTENSION.value]


def test_a_refuted_verification_rejects_the_report(api: Api) -> None:
    case_id = api.case_at(Status.VERIFYING)["id"]
    case = api.act(case_id, "verify", confirmed=False)
    assert case["status"] == "rejected"
    assert api.events(case_id)[-1]["details"]["outcome"] == "refuted"


def test_a_failed_check_sends_the_case_back_to_the_unit_for_rework(api: Api) -> None:
    case_id = api.case_at(Status.CHECKING)["id"]
    case = api.act(case_id, "check", passed=False)
    assert case["status"] == "dispatched"
    assert case["rework_count"] == 1
    assert case["unit_id"] == api.world.unit_a


def test_filing_a_self_handled_report_skips_to_checked(api: Api) -> None:
    case_id = api.report(self_handled=True)["id"]
    api.act(case_id, "accept")
    case = api.act(case_id, "file")
    assert case["status"] == "checked"
    assert api.events(case_id)[-1]["details"]["outcome"] == "self_handled"


def test_allowed_actions_of_the_case_agree_with_what_the_table_lets_the_caller_do(api: Api) -> None:
    case_id = api.case_at(Status.DISPATCHED)["id"]
    assert api.get(case_id, who="unit_a_staff")["allowed_actions"] == [
        "request_return", "request_extension", "request_suspension", "complete", "comment"]
    assert api.get(case_id, who="dispatcher")["allowed_actions"] == ["comment"]
    api.act(case_id, "request_return")
    assert api.get(case_id, who="dispatcher")["allowed_actions"] == ["approve_return", "deny_return", "comment"]
    assert "request_return" not in api.get(case_id, who="unit_a_staff")["allowed_actions"]
