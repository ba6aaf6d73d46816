"""The transition table of cases/workflow.py, pinned against an independent statement of the loop (no database)."""

from __future__ import annotations

import pytest

from cityloop.auth.permissions import Permission
from cityloop.cases import workflow as wf
from cityloop.cases.workflow import (
    ACTION_LABELS,
    ACTION_PERMISSION,
    OPEN,
    OUTCOMES,
    STATUS_LABELS,
    TERMINAL,
    TRANSITIONS,
    Action,
    Outcome,
    RequestKind,
    Status,
    Transition,
    allowed_actions,
    mermaid,
    next_step,
)
from cityloop.core.errors import Conflict, InvalidTransition

S, A, K = Status, Action, RequestKind
O = Outcome  # noqa: E741 - O for Outcome, like S and A in workflow.py
T = Transition

# The loop as docs/workflow.md states it, written out by hand rather than read back from the module.
_CORE: dict[tuple[Status, Action, Outcome | None], Transition] = {
    (S.REPORTED, A.ACCEPT, None): T(S.REGISTERED),
    (S.REPORTED, A.REJECT, None): T(S.REJECTED),
    (S.REPORTED, A.REQUEST_VERIFICATION, None): T(S.VERIFYING),
    (S.VERIFYING, A.VERIFY, O.CONFIRMED): T(S.REGISTERED),
    (S.VERIFYING, A.VERIFY, O.REFUTED): T(S.REJECTED),
    (S.REGISTERED, A.FILE, None): T(S.FILED),
    (S.REGISTERED, A.FILE, O.SELF_HANDLED): T(S.CHECKED),
    (S.REGISTERED, A.VOID, None): T(S.VOIDED),
    (S.FILED, A.VOID, None): T(S.VOIDED),
    (S.FILED, A.DISPATCH, None): T(S.DISPATCHED),
    (S.DISPATCHED, A.REQUEST_RETURN, None): T(S.DISPATCHED, opens=K.RETURN),
    (S.DISPATCHED, A.APPROVE_RETURN, None): T(S.FILED, settles=K.RETURN, approves=True),
    (S.DISPATCHED, A.DENY_RETURN, None): T(S.DISPATCHED, settles=K.RETURN),
    (S.DISPATCHED, A.REQUEST_EXTENSION, None): T(S.DISPATCHED, opens=K.EXTENSION),
    (S.DISPATCHED, A.APPROVE_EXTENSION, None): T(S.DISPATCHED, settles=K.EXTENSION, approves=True),
    (S.DISPATCHED, A.DENY_EXTENSION, None): T(S.DISPATCHED, settles=K.EXTENSION),
    (S.DISPATCHED, A.REQUEST_SUSPENSION, None): T(S.DISPATCHED, opens=K.SUSPENSION),
    (S.DISPATCHED, A.APPROVE_SUSPENSION, None): T(S.SUSPENDED, settles=K.SUSPENSION, approves=True),
    (S.DISPATCHED, A.DENY_SUSPENSION, None): T(S.DISPATCHED, settles=K.SUSPENSION),
    (S.SUSPENDED, A.RESUME, None): T(S.DISPATCHED),
    (S.DISPATCHED, A.COMPLETE, None): T(S.HANDLED),
    (S.HANDLED, A.REQUEST_CHECK, None): T(S.CHECKING),
    (S.CHECKING, A.CHECK, O.PASSED): T(S.CHECKED),
    (S.CHECKING, A.CHECK, O.FAILED): T(S.DISPATCHED, rework=True),
    (S.CHECKED, A.CLOSE, None): T(S.CLOSED),
}
OPEN_STATUSES = [S.REPORTED, S.VERIFYING, S.REGISTERED, S.FILED, S.DISPATCHED, S.SUSPENDED, S.HANDLED,
                 S.CHECKING, S.CHECKED]
TERMINAL_STATUSES = [S.CLOSED, S.REJECTED, S.VOIDED]
EXPECTED: dict[tuple[Status, Action, Outcome | None], Transition] = {
    **_CORE,
    **{(s, A.FORCE_CLOSE, None): T(S.CLOSED) for s in OPEN_STATUSES},
    **{(s, A.SUPERVISE, None): T(s) for s in OPEN_STATUSES},
    **{(s, A.COMMENT, None): T(s) for s in Status},
}
SETTLE_ACTIONS = {A.APPROVE_RETURN: K.RETURN, A.DENY_RETURN: K.RETURN, A.APPROVE_EXTENSION: K.EXTENSION,
                  A.DENY_EXTENSION: K.EXTENSION, A.APPROVE_SUSPENSION: K.SUSPENSION,
                  A.DENY_SUSPENSION: K.SUSPENSION}
REQUEST_ACTIONS = {A.REQUEST_RETURN: K.RETURN, A.REQUEST_EXTENSION: K.EXTENSION,
                   A.REQUEST_SUSPENSION: K.SUSPENSION}
ALL_KINDS = frozenset(RequestKind)


def test_open_and_terminal_statuses_partition_the_statuses() -> None:
    assert set(TERMINAL) == set(TERMINAL_STATUSES)
    assert set(OPEN) == set(OPEN_STATUSES)
    assert not OPEN & TERMINAL


def test_the_table_is_exactly_the_documented_loop() -> None:
    assert set(TRANSITIONS) - set(EXPECTED) == set(), "rows the loop does not have"
    assert set(EXPECTED) - set(TRANSITIONS) == set(), "rows of the loop that are missing"
    for key, row in EXPECTED.items():
        assert TRANSITIONS[key] == row, key


@pytest.mark.parametrize("outcome", [None, *Outcome], ids=lambda o: f"outcome={o}")
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("status", list(Status), ids=str)
def test_next_step_for_every_status_action_and_outcome(status: Status, action: Action,
                                                        outcome: Outcome | None) -> None:
    expected = EXPECTED.get((status, action, outcome))
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            next_step(status, action, outcome)
        assert caught.value.code == "invalid_transition"
        assert caught.value.status == 409
        assert caught.value.details["status"] == status.value
        assert caught.value.details["action"] == action.value
        return
    pending = frozenset({expected.settles}) if expected.settles else frozenset()
    step = next_step(status, action, outcome, pending)
    assert (step.action, step.from_status, step.outcome) == (action, status, outcome)
    assert step.to == expected.to
    assert (step.opens, step.settles, step.approves, step.rework) == (
        expected.opens, expected.settles, expected.approves, expected.rework)
    assert step.lapses == frozenset()
    assert step.changes_status == (expected.to != status)


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_report_is_never_a_transition(status: Status) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_step(status, A.REPORT, pending=ALL_KINDS)
    assert caught.value.code == "invalid_transition"
    assert A.REPORT not in allowed_actions(status)


def test_invalid_transition_lists_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_step(S.FILED, A.CLOSE)
    assert caught.value.details == {
        "status": "filed", "action": "close",
        "allowed": ["comment", "dispatch", "force_close", "supervise", "void"]}
    assert "结案" in caught.value.message
    assert "待派遣" in caught.value.message


def test_an_outcome_the_action_does_not_take_is_invalid() -> None:
    with pytest.raises(InvalidTransition):
        next_step(S.REPORTED, A.ACCEPT, O.CONFIRMED)
    with pytest.raises(InvalidTransition):
        next_step(S.VERIFYING, A.VERIFY)  # verify needs its outcome
    with pytest.raises(InvalidTransition):
        next_step(S.CHECKING, A.CHECK, O.CONFIRMED)  # a 核实 outcome is no 核查 outcome


@pytest.mark.parametrize(("action", "kind"), REQUEST_ACTIONS.items(), ids=str)
def test_opening_a_request_already_pending_conflicts(action: Action, kind: RequestKind) -> None:
    with pytest.raises(Conflict) as caught:
        next_step(S.DISPATCHED, action, pending=frozenset({kind}))
    assert caught.value.code == "request_pending"
    assert caught.value.status == 409
    assert not isinstance(caught.value, InvalidTransition)


@pytest.mark.parametrize(("action", "kind"), REQUEST_ACTIONS.items(), ids=str)
def test_requests_of_other_kinds_may_be_pending_side_by_side(action: Action, kind: RequestKind) -> None:
    step = next_step(S.DISPATCHED, action, pending=ALL_KINDS - {kind})
    assert step.opens is kind
    assert step.to is S.DISPATCHED
    assert step.lapses == frozenset()


@pytest.mark.parametrize(("action", "kind"), SETTLE_ACTIONS.items(), ids=str)
def test_settling_without_a_pending_request_of_that_kind_conflicts(action: Action, kind: RequestKind) -> None:
    for pending in (frozenset(), ALL_KINDS - {kind}):
        with pytest.raises(InvalidTransition) as caught:
            next_step(S.DISPATCHED, action, pending=pending)
        assert caught.value.code == "no_pending_request"
        assert caught.value.status == 409


def test_approving_a_suspension_lapses_a_pending_extension() -> None:
    step = next_step(S.DISPATCHED, A.APPROVE_SUSPENSION, pending=frozenset({K.SUSPENSION, K.EXTENSION}))
    assert step.to is S.SUSPENDED
    assert step.settles is K.SUSPENSION
    assert step.approves
    assert step.lapses == {K.EXTENSION}


def test_approving_a_return_lapses_every_other_pending_request() -> None:
    step = next_step(S.DISPATCHED, A.APPROVE_RETURN, pending=ALL_KINDS)
    assert step.to is S.FILED
    assert step.lapses == {K.EXTENSION, K.SUSPENSION}


@pytest.mark.parametrize("action", [A.DENY_RETURN, A.DENY_EXTENSION, A.DENY_SUSPENSION, A.APPROVE_EXTENSION],
                         ids=str)
def test_a_decision_that_keeps_the_status_keeps_the_other_requests(action: Action) -> None:
    step = next_step(S.DISPATCHED, action, pending=ALL_KINDS)
    assert step.to is S.DISPATCHED
    assert step.settles is SETTLE_ACTIONS[action]
    assert step.approves is action.value.startswith("approve_")
    assert step.lapses == frozenset()


@pytest.mark.parametrize("action", [A.COMPLETE, A.FORCE_CLOSE], ids=str)
def test_leaving_dispatched_lapses_all_pending_requests(action: Action) -> None:
    step = next_step(S.DISPATCHED, action, pending=ALL_KINDS)
    assert step.changes_status
    assert step.settles is None
    assert step.lapses == ALL_KINDS


@pytest.mark.parametrize("action", [A.COMMENT, A.SUPERVISE], ids=str)
def test_actions_that_keep_the_status_let_nothing_lapse(action: Action) -> None:
    step = next_step(S.DISPATCHED, action, pending=ALL_KINDS)
    assert not step.changes_status
    assert step.lapses == frozenset()


def test_a_failed_check_sends_the_case_back_for_rework() -> None:
    failed = next_step(S.CHECKING, A.CHECK, O.FAILED)
    assert failed.to is S.DISPATCHED
    assert failed.rework
    passed = next_step(S.CHECKING, A.CHECK, O.PASSED)
    assert passed.to is S.CHECKED
    assert not passed.rework
    assert [row for row in TRANSITIONS.values() if row.rework] == [TRANSITIONS[(S.CHECKING, A.CHECK, O.FAILED)]]


def test_filing_a_self_handled_report_skips_to_checked() -> None:
    assert next_step(S.REGISTERED, A.FILE, O.SELF_HANDLED).to is S.CHECKED
    assert next_step(S.REGISTERED, A.FILE).to is S.FILED


def test_verification_outcomes() -> None:
    assert next_step(S.VERIFYING, A.VERIFY, O.CONFIRMED).to is S.REGISTERED
    assert next_step(S.VERIFYING, A.VERIFY, O.REFUTED).to is S.REJECTED


@pytest.mark.parametrize("status", OPEN_STATUSES, ids=str)
def test_force_close_from_every_open_status(status: Status) -> None:
    step = next_step(status, A.FORCE_CLOSE)
    assert step.to is S.CLOSED
    assert A.FORCE_CLOSE in allowed_actions(status)


@pytest.mark.parametrize("status", TERMINAL_STATUSES, ids=str)
def test_terminal_statuses_allow_nothing_but_a_comment(status: Status) -> None:
    assert allowed_actions(status) == {A.COMMENT}
    for action in (A.FORCE_CLOSE, A.SUPERVISE, A.CLOSE):
        with pytest.raises(InvalidTransition):
            next_step(status, action)


@pytest.mark.parametrize("status", OPEN_STATUSES, ids=str)
def test_supervise_leaves_every_open_status_unchanged(status: Status) -> None:
    step = next_step(status, A.SUPERVISE)
    assert step.to is status
    assert not step.changes_status


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_comment_is_allowed_from_every_status_and_changes_nothing(status: Status) -> None:
    step = next_step(status, A.COMMENT)
    assert step.to is status
    assert not step.changes_status
    assert (step.opens, step.settles, step.rework) == (None, None, False)


def test_allowed_actions_per_status() -> None:
    anywhere = {A.FORCE_CLOSE, A.SUPERVISE, A.COMMENT}
    assert allowed_actions(S.REPORTED) == anywhere | {A.ACCEPT, A.REJECT, A.REQUEST_VERIFICATION}
    assert allowed_actions(S.VERIFYING) == anywhere | {A.VERIFY}
    assert allowed_actions(S.REGISTERED) == anywhere | {A.FILE, A.VOID}
    assert allowed_actions(S.FILED) == anywhere | {A.DISPATCH, A.VOID}
    assert allowed_actions(S.DISPATCHED) == anywhere | {A.COMPLETE} | set(REQUEST_ACTIONS) | set(SETTLE_ACTIONS)
    assert allowed_actions(S.SUSPENDED) == anywhere | {A.RESUME}
    assert allowed_actions(S.HANDLED) == anywhere | {A.REQUEST_CHECK}
    assert allowed_actions(S.CHECKING) == anywhere | {A.CHECK}
    assert allowed_actions(S.CHECKED) == anywhere | {A.CLOSE}


def test_outcomes_name_exactly_the_branching_actions() -> None:
    with_outcome: dict[Action, set[Outcome]] = {}
    for (_status, action, outcome) in TRANSITIONS:
        if outcome is not None:
            with_outcome.setdefault(action, set()).add(outcome)
    assert with_outcome == {action: set(outcomes) for action, outcomes in OUTCOMES.items()}


def test_action_permission_covers_every_action() -> None:
    assert set(ACTION_PERMISSION) == set(Action)
    assert ACTION_PERMISSION[A.REPORT] is Permission.CASE_CREATE
    assert ACTION_PERMISSION[A.APPROVE_RETURN] is ACTION_PERMISSION[A.DENY_RETURN] is Permission.CASE_DECIDE_RETURN
    assert ACTION_PERMISSION[A.FORCE_CLOSE] is Permission.CASE_FORCE_CLOSE
    assert ACTION_PERMISSION[A.COMMENT] is Permission.CASE_COMMENT
    assert all(p.value.startswith("case:") for p in ACTION_PERMISSION.values())


def test_every_status_action_and_request_kind_has_a_label() -> None:
    assert set(STATUS_LABELS) == set(Status)
    assert set(ACTION_LABELS) == set(Action)
    assert set(wf.REQUEST_LABELS) == set(RequestKind)
    assert all(STATUS_LABELS.values())
    assert all(ACTION_LABELS.values())


def _edge_lines() -> list[str]:
    lines = []
    for (frm, action, outcome), row in EXPECTED.items():
        if row.to == frm or action in (A.FORCE_CLOSE, A.SUPERVISE, A.COMMENT):
            continue
        label = ACTION_LABELS[action] + (f" ({outcome.value})" if outcome else "")
        lines.append(f"    {frm.value} --> {row.to.value}: {action.value} {label}")
    return lines


def test_mermaid_draws_every_status_changing_edge_once() -> None:
    text = mermaid()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> reported"]
    edges = _edge_lines()
    assert len(edges) == 18
    for edge in edges:
        assert lines.count(edge) == 1, edge
    assert "    registered --> checked: file 立案 (self_handled)" in lines
    assert "    checking --> dispatched: check 核查 (failed)" in lines
    drawn = [line for line in lines if "-->" in line and "[*]" not in line]
    assert sorted(drawn) == sorted(edges), "no self-loops, no per-status force_close edges"


def test_mermaid_notes_force_close_and_ends_every_terminal_status() -> None:
    lines = mermaid().splitlines()
    assert "    note right of closed: force_close 强制结案 from any open status" in lines
    assert lines[-3:] == ["    closed --> [*]", "    rejected --> [*]", "    voided --> [*]"]
