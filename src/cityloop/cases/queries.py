"""Reads: detail, filtered lists, each role's work queue and the timeline, always within the caller's scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth.models import User
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, CaseEvent, CaseRequest, CaseTask, RequestState
from cityloop.cases.schemas import CaseFilterIn
from cityloop.core.pagination import PageParams
from cityloop.deadlines import service as deadline_service
from cityloop.deadlines.models import Deadline, DeadlineKind, DeadlineState
from cityloop.units import queries as unit_queries

A, S = wf.Action, wf.Status
_UNIT_ACTIONS = {A.REQUEST_RETURN, A.REQUEST_EXTENSION, A.REQUEST_SUSPENSION, A.COMPLETE}
_TASK_ACTIONS = {A.VERIFY, A.CHECK}


def deadline_views(session: Session, case: Case, now: datetime) -> list[dict[str, Any]]:
    p = deadline_service.policy(session)
    return [deadline_service.light(p, d, now) for d in deadline_service.running(session, case.id)]


def deadline_views_many(session: Session, cases: Sequence[Case], now: datetime) -> dict[int, list[dict[str, Any]]]:
    """deadline_views for a page of cases: one policy read and one query, not two per case."""
    if not cases:
        return {}
    p = deadline_service.policy(session)
    return {cid: [deadline_service.light(p, d, now) for d in ds]
            for cid, ds in deadline_service.running_many(session, [c.id for c in cases]).items()}


def timeliness(session: Session, case: Case, now: datetime) -> dict[str, bool | None]:
    """Per step: true when every clock of that step was met by its due time, false when one was met late or
    is overdue now, null while nothing is decided (or the step never ran)."""
    result: dict[str, bool | None] = {k.value: None for k in DeadlineKind}
    clocks = session.scalars(sa.select(Deadline).where(
        Deadline.case_id == case.id, Deadline.state != DeadlineState.CANCELLED).order_by(Deadline.id))
    for d in clocks:
        if d.state is DeadlineState.MET:
            on_time = d.breached_at is None and d.due_at is not None and d.met_at is not None \
                and d.met_at <= d.due_at
        elif d.breached_at is not None or (d.due_at is not None and d.due_at <= now):
            on_time = False
        else:
            continue
        previous = result[d.kind.value]
        result[d.kind.value] = on_time if previous is None else (previous and on_time)
    return result


def get_case(session: Session, principal: Principal, case_id: int) -> Case:
    return access.get_case_for(session, principal, case_id)


def available_actions(case: Case, principal: Principal) -> list[wf.Action]:
    """The actions this principal may take on this case now: the table, the permissions and the guards."""
    pending = case.pending_kinds()
    task = case.open_task()
    result: set[wf.Action] = set()
    for (frm, action, _outcome), row in wf.TRANSITIONS.items():
        if frm != case.status or not principal.has(wf.ACTION_PERMISSION[action]):
            continue
        if (row.opens is not None and row.opens in pending) or (
                row.settles is not None and row.settles not in pending):
            continue
        if action in _UNIT_ACTIONS and case.unit_id not in principal.unit_ids:
            continue
        if action in _TASK_ACTIONS and (task is None or task.collector_id != principal.user_id):
            continue
        result.add(action)
    return sorted(result, key=list(wf.Action).index)


def _filtered(principal: Principal, f: CaseFilterIn) -> sa.Select[Case]:
    stmt = sa.select(Case).where(access.visibility(principal))
    if f.status:
        stmt = stmt.where(Case.status.in_(f.status))
    if f.area:
        stmt = stmt.where(access.area_clause(f.area))
    for column, value in ((Case.unit_id, f.unit_id), (Case.kind, f.kind),
                          (Case.category_code, f.category_code), (Case.urgent, f.urgent),
                          (Case.supervised, f.supervised), (Case.source, f.source),
                          (Case.reporter_id, f.reporter_id), (Case.number, f.number)):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def _page(session: Session, stmt: sa.Select[Case], page: PageParams) -> tuple[Sequence[Case], int]:
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    # Emergencies head every queue; then oldest first, so nothing waits forever behind new work.
    rows = session.scalars(stmt.order_by(Case.urgent.desc(), Case.created_at, Case.id)
                           .limit(page.limit).offset(page.offset)).all()
    return rows, total


def list_cases(session: Session, principal: Principal, f: CaseFilterIn,
               page: PageParams) -> tuple[Sequence[Case], int]:
    return _page(session, _filtered(principal, f), page)


def _pending_request_exists() -> sa.Exists:
    return sa.exists().where(CaseRequest.case_id == Case.id, CaseRequest.state == RequestState.PENDING)


def _queue_clause(role: Role, principal: Principal) -> sa.ColumnElement[bool] | None:
    """What awaits one role. A person with several roles sees the union."""
    match role:
        case Role.OPERATOR:
            return Case.status.in_([S.REPORTED, S.HANDLED])
        case Role.SHIFT_LEADER:
            return Case.status.in_([S.REGISTERED, S.CHECKED])
        case Role.DISPATCHER:
            return sa.or_(Case.status.in_([S.FILED, S.SUSPENDED]),
                          sa.and_(Case.status == S.DISPATCHED, _pending_request_exists()))
        case Role.UNIT_STAFF:
            return sa.and_(Case.status == S.DISPATCHED, Case.unit_id.in_(principal.unit_ids))
        case Role.COLLECTOR:
            return sa.and_(Case.status.in_([S.VERIFYING, S.CHECKING]), sa.exists().where(
                CaseTask.case_id == Case.id, CaseTask.collector_id == principal.user_id,
                CaseTask.done_at.is_(None)))
        case Role.LEADER:
            return sa.and_(Case.status.in_(wf.OPEN), sa.or_(Case.urgent, Case.supervised))
        case Role.CITIZEN:
            return sa.and_(Case.status.in_(wf.OPEN), Case.reporter_id == principal.user_id)
        case Role.ADMIN:
            return None
    return None


def queue(session: Session, principal: Principal, page: PageParams,
          role: Role | None = None) -> tuple[Sequence[Case], int]:
    """What awaits the principal: all of its roles, or only `role` (one role's page in the console)."""
    roles = sorted(principal.roles) if role is None else [role] if role in principal.roles else []
    clauses = [c for r in roles if (c := _queue_clause(r, principal)) is not None]
    stmt = sa.select(Case).where(access.visibility(principal), sa.or_(*clauses) if clauses else sa.false())
    return _page(session, stmt, page)


def timeline(session: Session, principal: Principal, case_id: int) -> list[dict[str, Any]]:
    case = access.get_case_for(session, principal, case_id)
    events = session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                             .order_by(CaseEvent.at, CaseEvent.id)).all()
    user_ids = {e.actor_id for e in events if e.actor_id is not None}
    names: dict[int, str] = dict(session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    units = unit_queries.names_by_id(session, {e.unit_id for e in events if e.unit_id is not None})
    # Citizens see the public trail: what happened and when, never who inside the city did it, nor notes
    # other than their own.
    staff_view = principal.has(Permission.UNIT_READ)
    return [{
        "id": e.id, "action": e.action, "action_label": wf.ACTION_LABELS[e.action],
        "from_status": e.from_status, "to_status": e.to_status,
        "actor_id": e.actor_id if staff_view else None,
        "actor": names.get(e.actor_id) if staff_view and e.actor_id is not None else None,
        "role": e.actor_role, "unit_id": e.unit_id, "unit": units.get(e.unit_id) if e.unit_id else None,
        "note": e.note if staff_view or e.action is A.REPORT or e.actor_id == principal.user_id else "",
        "details": e.details if staff_view else {}, "at": e.at,
    } for e in events]
