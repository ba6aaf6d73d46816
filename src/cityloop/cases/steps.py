"""The machinery every case command shares: load with the caller's scope, plan a step from the transition
table, record it (the only place a status changes, always with its event), assign and finish tasks, alert
through the outbox, send a case to a unit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from cityloop.areas import service as area_service
from cityloop.auth import service as auth_service
from cityloop.auth.permissions import Role
from cityloop.auth.principal import Principal
from cityloop.cases import access, clocks, dispatching
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, CaseEvent, CaseRequest, CaseTask, RequestState, TaskKind
from cityloop.cases.schemas import ActionIn
from cityloop.core.errors import Forbidden, StaleVersion, ValidationFailed
from cityloop.notifications import outbox
from cityloop.routing import service as routing

A = wf.Action


def alert(session: Session, case: Case, recipient: str, now: datetime) -> None:
    """紧急案卷: tell the people who must act at once, through the outbox."""
    outbox.enqueue(session, "case.urgent", recipient, {
        "case_id": case.id, "number": case.number, "status": case.status.value,
        "category_code": case.category_code, "address": case.address}, now=now)


def role(actor: Principal, action: wf.Action) -> str:
    role = actor.role_for(wf.ACTION_PERMISSION[action])
    return role.value if role else ""


def load(session: Session, actor: Principal, case_id: int, action: wf.Action, cmd: ActionIn) -> Case:
    case = access.get_case_for(session, actor, case_id, need=wf.ACTION_PERMISSION[action])
    if cmd.expected_version is not None and cmd.expected_version != case.version:
        raise StaleVersion(
            f"expected_version: the case is at version {case.version}, not {cmd.expected_version}; "
            "reload it and try again", field="expected_version")
    return case


def plan(case: Case, action: wf.Action, outcome: wf.Outcome | None = None) -> wf.Step:
    return wf.next_step(case.status, action, outcome, case.pending_kinds())


def record(session: Session, case: Case, step: wf.Step, actor: Principal | None, now: datetime, *,
            note: str = "", details: dict[str, Any] | None = None, unit_id: int | None = None,
            request: CaseRequest | None = None) -> CaseEvent:
    """Apply a planned step: the only place a case's status changes, so no change lacks its event."""
    details = dict(details or {})
    if step.outcome is not None:
        details["outcome"] = step.outcome.value
    for req in case.requests:
        if req.state is not RequestState.PENDING:
            continue
        if req.kind == step.settles:
            req.state = RequestState.APPROVED if step.approves else RequestState.DENIED
            req.decided_by, req.decided_at, req.decision_note = actor.user_id if actor else None, now, note
            details["request_id"] = req.id
        elif req.kind in step.lapses:
            req.state, req.decided_at = RequestState.LAPSED, now
            details.setdefault("lapsed_request_ids", []).append(req.id)
    if step.to in wf.TERMINAL:
        for task in case.tasks:
            if task.done_at is None:  # e.g. 强制结案 while a 核查 is out
                task.done_at, task.outcome = now, "cancelled"
    if request is not None:
        details["request_id"] = request.id
    if step.rework:
        case.rework_count += 1
    event = CaseEvent(
        case=case, action=step.action, tag=f"case:{step.action.value}", from_status=step.from_status,
        to_status=step.to, actor_id=actor.user_id if actor else None,
        actor_role=role(actor, step.action) if actor else "system",
        unit_id=unit_id if unit_id is not None else case.unit_id, note=note, details=details, at=now)
    session.add(event)
    case.status = step.to
    if step.action is not A.COMMENT:
        # Every command but a comment touches the row, so the version check serialises them. Flagged, not
        # just assigned: an unchanged updated_at (same instant, a fake clock) would otherwise skip the UPDATE
        # and with it the version bump.
        case.updated_at = now
        flag_modified(case, "updated_at")
    # Last: the clock queries autoflush the case, and a change made after a flush would be a second UPDATE
    # (and a second version) for one command. Commands change the case before they call record.
    clocks.apply(session, case, step.action, step.outcome, now)
    return event


def simple(session: Session, actor: Principal, case_id: int, action: wf.Action, cmd: ActionIn,
            now: datetime, *, note: str) -> Case:
    case = load(session, actor, case_id, action, cmd)
    record(session, case, plan(case, action), actor, now, note=note)
    return case


def require_own_unit(actor: Principal, case: Case) -> None:
    if case.unit_id is None or case.unit_id not in actor.unit_ids:
        raise Forbidden("only staff of the unit handling this case may do that", code="not_your_unit")


def assign(session: Session, case: Case, kind: TaskKind, collector_id: int | None, actor: Principal,
            now: datetime) -> CaseTask:
    if collector_id is None:
        # 责任网格: the collector who patrols the case's grid goes, unless the operator names another.
        collector_id = area_service.collector_for_grid(session, case.grid_code)
        if collector_id is None:
            where = f"grid {case.grid_code}" if case.grid_code else "the case's place (no grid)"
            raise ValidationFailed(f"collector_id: no collector patrols {where}; name one", field="collector_id")
    user = auth_service.get_user(session, collector_id)
    if user is None or not user.active or Role.COLLECTOR not in user.role_set:
        raise ValidationFailed(f"collector_id: user {collector_id} is not an active collector (监督员)",
                               field="collector_id")
    task = CaseTask(kind=kind, collector_id=collector_id, assigned_by=actor.user_id, assigned_at=now)
    case.tasks.append(task)
    return task


def finish_task(case: Case, kind: TaskKind, actor: Principal, now: datetime, outcome: wf.Outcome) -> CaseTask:
    task = case.open_task()
    if task is None or task.kind is not kind or task.collector_id != actor.user_id:
        raise Forbidden(f"this {kind.value} task was given to another collector", code="not_assignee")
    task.done_at, task.outcome = now, outcome.value
    return task


def send(session: Session, case: Case, step: wf.Step, actor: Principal | None, now: datetime, unit_id: int,
          details: dict[str, Any], *, note: str) -> None:
    case.unit_id = unit_id
    record(session, case, step, actor, now, note=note, unit_id=unit_id, details=details)
    if case.urgent:
        alert(session, case, f"unit:{unit_id}", now)


def auto_dispatch(session: Session, case: Case, now: datetime, *, force: bool = False) -> None:
    """Classes marked for automatic dispatch go to the suggested unit as soon as they are filed."""
    level, auto, _ = routing.policy_for(session, case.kind, case.category_code)
    if not (auto or force) or case.status is not wf.Status.FILED:
        return
    suggestion = dispatching.suggest(session, case)
    if suggestion.unit is None:
        return  # nothing to follow: the case waits in the dispatcher's queue like any other
    details = {"routing": suggestion.to_dict(), "unit_id": suggestion.unit.id, "unit_code": suggestion.unit.code,
               "followed_suggestion": True, "command_level": level.value, "auto": True}
    send(session, case, plan(case, A.DISPATCH), None, now, suggestion.unit.id, details, note="自动派遣")
