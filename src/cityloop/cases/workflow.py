"""The case loop as one pure transition table (no framework imports).

Every row is (from status, action, outcome) → Transition. `outcome` distinguishes the branches of one action
(核实 属实/不属实, 核查 通过/不通过, 立案 of a self-handled report). Actions allowed "from any open status" are
expanded into rows below, so the table stays the single answer to "what may happen next?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cityloop.auth.permissions import Permission
from cityloop.core.errors import Conflict, InvalidTransition


class Status(StrEnum):
    REPORTED = "reported"      # 待受理
    VERIFYING = "verifying"    # 核实中
    REGISTERED = "registered"  # 待立案
    FILED = "filed"            # 待派遣
    DISPATCHED = "dispatched"  # 处置中
    SUSPENDED = "suspended"    # 挂账中
    HANDLED = "handled"        # 待核查
    CHECKING = "checking"      # 核查中
    CHECKED = "checked"        # 待结案
    CLOSED = "closed"          # 已结案
    REJECTED = "rejected"      # 不予受理
    VOIDED = "voided"          # 已作废


STATUS_LABELS: dict[Status, str] = {
    Status.REPORTED: "待受理", Status.VERIFYING: "核实中", Status.REGISTERED: "待立案",
    Status.FILED: "待派遣", Status.DISPATCHED: "处置中", Status.SUSPENDED: "挂账中",
    Status.HANDLED: "待核查", Status.CHECKING: "核查中", Status.CHECKED: "待结案",
    Status.CLOSED: "已结案", Status.REJECTED: "不予受理", Status.VOIDED: "已作废",
}

TERMINAL: frozenset[Status] = frozenset({Status.CLOSED, Status.REJECTED, Status.VOIDED})
OPEN: frozenset[Status] = frozenset(Status) - TERMINAL


class Action(StrEnum):
    REPORT = "report"  # the first event of every case; not a transition (no row in the table)
    BREACH = "breach"  # a step's deadline passed (written by the worker); not a transition
    ACCEPT = "accept"
    REJECT = "reject"
    REQUEST_VERIFICATION = "request_verification"
    VERIFY = "verify"
    FILE = "file"
    VOID = "void"
    DISPATCH = "dispatch"
    REQUEST_RETURN = "request_return"
    APPROVE_RETURN = "approve_return"
    DENY_RETURN = "deny_return"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    REQUEST_SUSPENSION = "request_suspension"
    APPROVE_SUSPENSION = "approve_suspension"
    DENY_SUSPENSION = "deny_suspension"
    RESUME = "resume"
    COMPLETE = "complete"
    REQUEST_CHECK = "request_check"
    CHECK = "check"
    CLOSE = "close"
    FORCE_CLOSE = "force_close"
    SUPERVISE = "supervise"
    COMMENT = "comment"


ACTION_LABELS: dict[Action, str] = {
    Action.REPORT: "上报", Action.BREACH: "超时",
    Action.ACCEPT: "受理", Action.REJECT: "不予受理", Action.REQUEST_VERIFICATION: "发核实",
    Action.VERIFY: "核实", Action.FILE: "立案", Action.VOID: "作废", Action.DISPATCH: "派遣",
    Action.REQUEST_RETURN: "申请回退", Action.APPROVE_RETURN: "同意回退", Action.DENY_RETURN: "驳回回退",
    Action.REQUEST_EXTENSION: "申请延期", Action.APPROVE_EXTENSION: "同意延期",
    Action.DENY_EXTENSION: "驳回延期", Action.REQUEST_SUSPENSION: "申请挂账",
    Action.APPROVE_SUSPENSION: "同意挂账", Action.DENY_SUSPENSION: "驳回挂账", Action.RESUME: "恢复",
    Action.COMPLETE: "处置完成", Action.REQUEST_CHECK: "发核查", Action.CHECK: "核查", Action.CLOSE: "结案",
    Action.FORCE_CLOSE: "强制结案", Action.SUPERVISE: "督办", Action.COMMENT: "备注",
}


class RequestKind(StrEnum):
    RETURN = "return"          # 回退
    EXTENSION = "extension"    # 延期
    SUSPENSION = "suspension"  # 挂账


REQUEST_LABELS = {RequestKind.RETURN: "回退", RequestKind.EXTENSION: "延期", RequestKind.SUSPENSION: "挂账"}


class Outcome(StrEnum):
    CONFIRMED = "confirmed"        # 核实: 属实
    REFUTED = "refuted"            # 核实: 不属实
    PASSED = "passed"              # 核查: 通过
    FAILED = "failed"              # 核查: 不通过 → 返工
    SELF_HANDLED = "self_handled"  # 立案 of a report the collector already fixed (自处置)


@dataclass(frozen=True)
class Transition:
    to: Status
    opens: RequestKind | None = None        # a request_* opens one pending request of its kind
    settles: RequestKind | None = None      # an approve_*/deny_* settles it
    approves: bool = False
    rework: bool = False                    # 返工: the rework count goes up


@dataclass(frozen=True)
class Step:
    """What one action does to one case: the table row plus the requests it settles or lets lapse."""

    action: Action
    from_status: Status
    to: Status
    outcome: Outcome | None = None
    opens: RequestKind | None = None
    settles: RequestKind | None = None
    approves: bool = False
    rework: bool = False
    lapses: frozenset[RequestKind] = field(default_factory=frozenset)

    @property
    def changes_status(self) -> bool:
        return self.to != self.from_status


S, A = Status, Action
_Key = tuple[Status, Action, Outcome | None]

TRANSITIONS: dict[_Key, Transition] = {
    (S.REPORTED, A.ACCEPT, None): Transition(S.REGISTERED),
    (S.REPORTED, A.REJECT, None): Transition(S.REJECTED),
    (S.REPORTED, A.REQUEST_VERIFICATION, None): Transition(S.VERIFYING),
    (S.VERIFYING, A.VERIFY, Outcome.CONFIRMED): Transition(S.REGISTERED),
    (S.VERIFYING, A.VERIFY, Outcome.REFUTED): Transition(S.REJECTED),
    (S.REGISTERED, A.FILE, None): Transition(S.FILED),
    # 自处置: the collector fixed it on the spot, so after filing only the closing remains.
    (S.REGISTERED, A.FILE, Outcome.SELF_HANDLED): Transition(S.CHECKED),
    (S.REGISTERED, A.VOID, None): Transition(S.VOIDED),
    (S.FILED, A.VOID, None): Transition(S.VOIDED),
    (S.FILED, A.DISPATCH, None): Transition(S.DISPATCHED),
    (S.DISPATCHED, A.REQUEST_RETURN, None): Transition(S.DISPATCHED, opens=RequestKind.RETURN),
    (S.DISPATCHED, A.APPROVE_RETURN, None): Transition(S.FILED, settles=RequestKind.RETURN, approves=True),
    (S.DISPATCHED, A.DENY_RETURN, None): Transition(S.DISPATCHED, settles=RequestKind.RETURN),
    (S.DISPATCHED, A.REQUEST_EXTENSION, None): Transition(S.DISPATCHED, opens=RequestKind.EXTENSION),
    (S.DISPATCHED, A.APPROVE_EXTENSION, None): Transition(
        S.DISPATCHED, settles=RequestKind.EXTENSION, approves=True),
    (S.DISPATCHED, A.DENY_EXTENSION, None): Transition(S.DISPATCHED, settles=RequestKind.EXTENSION),
    (S.DISPATCHED, A.REQUEST_SUSPENSION, None): Transition(S.DISPATCHED, opens=RequestKind.SUSPENSION),
    (S.DISPATCHED, A.APPROVE_SUSPENSION, None): Transition(
        S.SUSPENDED, settles=RequestKind.SUSPENSION, approves=True),
    (S.DISPATCHED, A.DENY_SUSPENSION, None): Transition(S.DISPATCHED, settles=RequestKind.SUSPENSION),
    (S.SUSPENDED, A.RESUME, None): Transition(S.DISPATCHED),
    (S.DISPATCHED, A.COMPLETE, None): Transition(S.HANDLED),
    (S.HANDLED, A.REQUEST_CHECK, None): Transition(S.CHECKING),
    (S.CHECKING, A.CHECK, Outcome.PASSED): Transition(S.CHECKED),
    (S.CHECKING, A.CHECK, Outcome.FAILED): Transition(S.DISPATCHED, rework=True),
    (S.CHECKED, A.CLOSE, None): Transition(S.CLOSED),
}
for _status in sorted(OPEN):
    TRANSITIONS[(_status, A.FORCE_CLOSE, None)] = Transition(S.CLOSED)
    TRANSITIONS[(_status, A.SUPERVISE, None)] = Transition(_status)
for _status in Status:
    TRANSITIONS[(_status, A.COMMENT, None)] = Transition(_status)

# Which outcome each branching action needs; the others take none.
OUTCOMES: dict[Action, frozenset[Outcome]] = {
    A.VERIFY: frozenset({Outcome.CONFIRMED, Outcome.REFUTED}),
    A.CHECK: frozenset({Outcome.PASSED, Outcome.FAILED}),
    A.FILE: frozenset({Outcome.SELF_HANDLED}),
}

ACTION_PERMISSION: dict[Action, Permission] = {
    A.REPORT: Permission.CASE_CREATE,
    A.BREACH: Permission.CASE_SUPERVISE,  # never performed by a person; the worker records it
    A.ACCEPT: Permission.CASE_ACCEPT,
    A.REJECT: Permission.CASE_REJECT,
    A.REQUEST_VERIFICATION: Permission.CASE_REQUEST_VERIFICATION,
    A.VERIFY: Permission.CASE_VERIFY,
    A.FILE: Permission.CASE_FILE,
    A.VOID: Permission.CASE_VOID,
    A.DISPATCH: Permission.CASE_DISPATCH,
    A.REQUEST_RETURN: Permission.CASE_REQUEST_RETURN,
    A.APPROVE_RETURN: Permission.CASE_DECIDE_RETURN,
    A.DENY_RETURN: Permission.CASE_DECIDE_RETURN,
    A.REQUEST_EXTENSION: Permission.CASE_REQUEST_EXTENSION,
    A.APPROVE_EXTENSION: Permission.CASE_DECIDE_EXTENSION,
    A.DENY_EXTENSION: Permission.CASE_DECIDE_EXTENSION,
    A.REQUEST_SUSPENSION: Permission.CASE_REQUEST_SUSPENSION,
    A.APPROVE_SUSPENSION: Permission.CASE_DECIDE_SUSPENSION,
    A.DENY_SUSPENSION: Permission.CASE_DECIDE_SUSPENSION,
    A.RESUME: Permission.CASE_RESUME,
    A.COMPLETE: Permission.CASE_COMPLETE,
    A.REQUEST_CHECK: Permission.CASE_REQUEST_CHECK,
    A.CHECK: Permission.CASE_CHECK,
    A.CLOSE: Permission.CASE_CLOSE,
    A.FORCE_CLOSE: Permission.CASE_FORCE_CLOSE,
    A.SUPERVISE: Permission.CASE_SUPERVISE,
    A.COMMENT: Permission.CASE_COMMENT,
}


def allowed_actions(status: Status) -> frozenset[Action]:
    return frozenset(action for (frm, action, _o) in TRANSITIONS if frm == status)


def next_step(status: Status, action: Action, outcome: Outcome | None = None,
              pending: frozenset[RequestKind] = frozenset()) -> Step:
    """Resolve one action on a case in `status` with the given pending requests.

    Raises InvalidTransition (409 invalid_transition) when the table has no row, 409 request_pending when a
    request of that kind is already open, and 409 no_pending_request when there is nothing to approve or deny.
    """
    row = TRANSITIONS.get((status, action, outcome))
    if row is None:
        raise InvalidTransition(
            f"action {action.value} ({ACTION_LABELS[action]}) is not allowed while the case is "
            f"{status.value} ({STATUS_LABELS[status]})",
            details={"status": status.value, "action": action.value,
                     "allowed": sorted(a.value for a in allowed_actions(status))})
    if row.opens is not None and row.opens in pending:
        raise Conflict(f"a {row.opens.value} request ({REQUEST_LABELS[row.opens]}) is already pending",
                       code="request_pending")
    if row.settles is not None and row.settles not in pending:
        raise InvalidTransition(
            f"there is no pending {row.settles.value} request ({REQUEST_LABELS[row.settles]}) to decide",
            code="no_pending_request")
    # Requests belong to the status they were made in: when the case leaves it, the rest lapse.
    lapses = (pending - {row.settles}) if row.to != status else frozenset()
    return Step(action=action, from_status=status, to=row.to, outcome=outcome, opens=row.opens,
                settles=row.settles, approves=row.approves, rework=row.rework,
                lapses=frozenset(k for k in lapses if k is not None))


def mermaid() -> str:
    """The state diagram, generated from the table (docs/workflow.md embeds it)."""
    lines = ["stateDiagram-v2", "    [*] --> reported"]
    seen: set[tuple[Status, Status, str]] = set()
    for (frm, action, outcome), row in TRANSITIONS.items():
        if action in (A.COMMENT, A.SUPERVISE) or row.to == frm:
            continue
        if action is A.FORCE_CLOSE:
            continue
        label = ACTION_LABELS[action] + (f" ({outcome.value})" if outcome else "")
        key = (frm, row.to, label)
        if key not in seen:
            seen.add(key)
            lines.append(f"    {frm.value} --> {row.to.value}: {action.value} {label}")
    lines.append("    note right of closed: force_close 强制结案 from any open status")
    for terminal in sorted(TERMINAL):
        lines.append(f"    {terminal.value} --> [*]")
    return "\n".join(lines) + "\n"
