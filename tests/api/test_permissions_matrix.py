"""Each action × each persona over HTTP: 200 for those allowed, 403 for staff who see the case but may not act,
404 for those who may not see it; plus who sees which case, and what happens without a valid token."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityloop.auth.permissions import Role
from cityloop.cases.routes import ACTIONS
from cityloop.cases.workflow import Status
from tests import factories
from tests.api.helpers import Api
from tests.conftest import PERSONAS

PEOPLE = list(PERSONAS)
SEE_ALL = {"operator", "shift_leader", "dispatcher", "leader", "admin"}

# The status each action is taken from in the matrix; approve_*/deny_* also need the request they decide.
SETUP: dict[str, tuple[Status, str | None]] = {
    "accept": (Status.REPORTED, None), "reject": (Status.REPORTED, None),
    "request_verification": (Status.REPORTED, None), "verify": (Status.VERIFYING, None),
    "file": (Status.REGISTERED, None), "void": (Status.REGISTERED, None), "dispatch": (Status.FILED, None),
    "request_return": (Status.DISPATCHED, None), "approve_return": (Status.DISPATCHED, "request_return"),
    "deny_return": (Status.DISPATCHED, "request_return"), "request_extension": (Status.DISPATCHED, None),
    "approve_extension": (Status.DISPATCHED, "request_extension"),
    "deny_extension": (Status.DISPATCHED, "request_extension"), "request_suspension": (Status.DISPATCHED, None),
    "approve_suspension": (Status.DISPATCHED, "request_suspension"),
    "deny_suspension": (Status.DISPATCHED, "request_suspension"), "resume": (Status.SUSPENDED, None),
    "complete": (Status.DISPATCHED, None), "request_check": (Status.HANDLED, None),
    "check": (Status.CHECKING, None), "close": (Status.CHECKED, None), "force_close": (Status.DISPATCHED, None),
    "supervise": (Status.DISPATCHED, None), "comment": (Status.DISPATCHED, None),
}
# Who may take each action, written out by hand. None: everyone who can see the case.
ALLOWED: dict[str, set[str] | None] = {
    "accept": {"operator"}, "reject": {"operator"}, "request_verification": {"operator"},
    "verify": {"collector"}, "file": {"shift_leader"}, "void": {"shift_leader"}, "dispatch": {"dispatcher"},
    "request_return": {"unit_a_staff"}, "approve_return": {"dispatcher"}, "deny_return": {"dispatcher"},
    "request_extension": {"unit_a_staff"}, "approve_extension": {"dispatcher"}, "deny_extension": {"dispatcher"},
    "request_suspension": {"unit_a_staff"}, "approve_suspension": {"dispatcher"},
    "deny_suspension": {"dispatcher"}, "resume": {"dispatcher"}, "complete": {"unit_a_staff"},
    "request_check": {"operator"}, "check": {"collector"}, "close": {"shift_leader"},
    "force_close": {"shift_leader", "admin"}, "supervise": {"leader"}, "comment": None,
}
AT_UNIT_A = {Status.DISPATCHED, Status.SUSPENDED, Status.HANDLED, Status.CHECKING, Status.CHECKED}


def sees_collector_report(persona: str, status: Status) -> bool:
    """Who sees a case the collector reported (and, from verifying/checking on, was given the task of)."""
    return persona in SEE_ALL | {"collector"} or (persona == "unit_a_staff" and status in AT_UNIT_A)


def post(api: Api, case_id: int, action: str, who: str | None, **body: Any) -> Any:
    headers = api.world[who].headers if who else {}
    return api.client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=api.body(action, **body),
                           headers=headers)


def trace(api: Api, case_id: int) -> tuple[int, str, int]:
    case = api.get(case_id)
    return case["version"], case["status"], len(api.events(case_id))


def test_the_matrix_names_every_action() -> None:
    assert set(SETUP) == set(ALLOWED) == {a.value for a in ACTIONS}


@pytest.mark.parametrize("persona", PEOPLE)
@pytest.mark.parametrize("action", list(SETUP))
def test_who_may_take_each_action(api: Api, action: str, persona: str) -> None:
    status, opener = SETUP[action]
    case_id = api.case_at(status)["id"]
    if opener:
        api.act(case_id, opener)
    before = trace(api, case_id)
    visible = sees_collector_report(persona, status)
    allowed = ALLOWED[action]
    may = visible if allowed is None else persona in allowed

    r = post(api, case_id, action, persona)

    if may:
        assert visible
        assert r.status_code == 200, r.text
        event = api.events(case_id)[-1]
        assert event["action"] == action
        assert event["actor_id"] == api.world[persona].id
        return
    if visible:
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden"
    else:
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "not_found"
    assert trace(api, case_id) == before


@pytest.mark.parametrize(("status", "action"), [(Status.VERIFYING, "verify"), (Status.CHECKING, "check")])
def test_only_the_assigned_collector_may_verify_or_check(api: Api, status: Status, action: str) -> None:
    # collector_b reported the case, so sees it, but the task went to `collector`.
    case_id = api.case_at(status, who="collector_b")["id"]
    before = trace(api, case_id)
    r = post(api, case_id, action, "collector_b")
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "not_assignee"
    assert trace(api, case_id) == before
    assert post(api, case_id, action, "collector").status_code == 200


@pytest.mark.parametrize("action", ["request_return", "request_extension", "request_suspension", "complete"])
def test_unit_staff_who_see_the_case_elsewhere_may_not_act_for_its_unit(
        api: Api, session: Session, action: str) -> None:
    # A dispatcher who is also on unit B's staff sees every case, but the case is at unit A.
    user = factories.make_user(session, "dispatcher_b", [Role.DISPATCHER, Role.UNIT_STAFF], [api.world.unit_b])
    headers = {"Authorization": f"Bearer {factories.token_for(session, user)}"}
    session.commit()
    case_id = api.case_at(Status.DISPATCHED)["id"]
    before = trace(api, case_id)
    r = api.client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=api.body(action), headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "not_your_unit"
    assert trace(api, case_id) == before


def test_a_citizen_may_comment_on_their_own_report(api: Api) -> None:
    case_id = api.report(who="citizen")["id"]
    r = post(api, case_id, "comment", "citizen")
    assert r.status_code == 200, r.text
    assert post(api, case_id, "comment", "collector").status_code == 404


# --- visibility ---------------------------------------------------------------------------------------------

def build_cases(api: Api) -> dict[str, int]:
    """One case of each visibility shape; returns name → id."""
    w = api.world
    cases = {"citizen_report": api.report(who="citizen")["id"],
             "collector_report": api.report(who="collector")["id"]}
    task = api.report(who="operator")["id"]
    api.act(task, "request_verification")  # given to `collector`
    cases["task_for_collector"] = task
    for name, unit in (("at_unit_a", w.unit_a), ("at_unit_b", w.unit_b), ("returned_from_a", w.unit_a)):
        case_id = api.report(who="leader")["id"]
        for action in ("accept", "file"):
            api.act(case_id, action)
        api.act(case_id, "dispatch", unit_id=unit)
        cases[name] = case_id
    api.act(cases["returned_from_a"], "request_return")
    api.act(cases["returned_from_a"], "approve_return")
    return cases


VISIBLE: dict[str, set[str]] = {
    "citizen": {"citizen_report"},
    "collector": {"collector_report", "task_for_collector"},
    "collector_b": set(),
    "unit_a_staff": {"at_unit_a"},
    "unit_b_staff": {"at_unit_b"},
    **{name: {"citizen_report", "collector_report", "task_for_collector", "at_unit_a", "at_unit_b",
              "returned_from_a"} for name in SEE_ALL},
}


def test_visibility_table_names_every_persona() -> None:
    assert set(VISIBLE) == set(PEOPLE)


@pytest.mark.parametrize("persona", PEOPLE)
def test_case_detail_and_timeline_are_404_outside_the_personas_scope(api: Api, persona: str) -> None:
    headers = api.world[persona].headers
    for name, case_id in build_cases(api).items():
        expected = 200 if name in VISIBLE[persona] else 404
        detail = api.client.get(f"/api/v1/cases/{case_id}", headers=headers)
        assert detail.status_code == expected, (name, detail.text)
        timeline = api.client.get(f"/api/v1/cases/{case_id}/events", headers=headers)
        assert timeline.status_code == expected, (name, timeline.text)
        if expected == 404:
            assert detail.json()["code"] == "not_found"
        else:
            assert detail.json()["id"] == case_id


@pytest.mark.parametrize("persona", PEOPLE)
def test_case_list_holds_only_the_cases_the_persona_sees(api: Api, persona: str) -> None:
    by_id = {case_id: name for name, case_id in build_cases(api).items()}
    r = api.client.get("/api/v1/cases", headers=api.world[persona].headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert {by_id[item["id"]] for item in page["items"]} == VISIBLE[persona]
    assert page["total"] == len(VISIBLE[persona])


def test_no_token_is_401_not_authenticated(api: Api) -> None:
    case_id = api.report()["id"]
    for r in (api.client.get("/api/v1/cases"), api.client.get(f"/api/v1/cases/{case_id}"),
              post(api, case_id, "accept", None)):
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "not_authenticated"
        assert r.headers["www-authenticate"] == "Bearer"
    assert api.get(case_id)["status"] == "reported"


def test_an_unknown_token_is_401_invalid_token(api: Api) -> None:
    case_id = api.report()["id"]
    headers = {"Authorization": "Bearer not-a-token-anyone-was-given"}
    for r in (api.client.get("/api/v1/cases", headers=headers),
              api.client.post(f"/api/v1/cases/{case_id}/actions/accept", json={}, headers=headers)):
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "invalid_token"
    assert api.get(case_id)["status"] == "reported"
