"""Each role's work queue (受理, 立案·结案, 派遣, the unit workbench, the leader's view) and the case search.

A queue lists what awaits one role, by case number, with what that role decides on: photos and nearby
duplicates for the operator, the suggested unit and its reason for the dispatcher, lights and remaining working
time for the unit. Every decision itself is made on the case page, through the same commands as the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.cases import access, dispatching
from cityloop.cases import queries as case_queries
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, CaseRequest, RequestState
from cityloop.cases.schemas import CaseFilterIn
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.core.errors import Forbidden, NotFound
from cityloop.core.pagination import PageParams
from cityloop.deadlines.models import Deadline, DeadlineState
from cityloop.deps import ClockDep, ReadSessionDep
from cityloop.units import queries as unit_queries
from cityloop.web import forms
from cityloop.web import session as web_session
from cityloop.web.session import WebPrincipal
from cityloop.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

PAGE_SIZE = 30
SEARCH_LABELS = {"number": "案件编号", "status": "状态", "kind": "类型", "category_code": "类别代码",
                 "area": "区域代码", "urgent": "仅紧急"}
NEARBY_DEG = 0.0005  # ≈ 50 m in Hangzhou: a report this close of the same class is likely the same problem


@dataclass(frozen=True)
class QueueSpec:
    title: str
    role: Role
    permission: Permission
    hint: str
    photos: bool = False
    nearby: bool = False
    suggestion: bool = False
    requests: bool = False
    supervise: bool = False


QUEUES: dict[str, QueueSpec] = {
    "intake": QueueSpec("受理", Role.OPERATOR, Permission.CASE_ACCEPT,
                        "新上报的问题：核对照片与位置，受理、不予受理或派监督员核实；已处置的案件派发核查。",
                        photos=True, nearby=True),
    "filing": QueueSpec("立案 · 结案", Role.SHIFT_LEADER, Permission.CASE_FILE,
                        "已受理待立案的案件按立案条件选择标准立案；核查通过的案件结案。"),
    "dispatch": QueueSpec("派遣", Role.DISPATCHER, Permission.CASE_DISPATCH,
                          "待派遣案件的建议处置单位及依据；处置单位的回退、延期、挂账申请待审批。",
                          suggestion=True, requests=True),
    "unit": QueueSpec("处置工作台", Role.UNIT_STAFF, Permission.CASE_COMPLETE,
                      "派遣到本单位的案件：按时限处置，上传处置后照片；需要时申请回退、延期或挂账。",
                      photos=True, requests=True),
    "leader": QueueSpec("超时 · 督办", Role.LEADER, Permission.CASE_SUPERVISE,
                        "超时案件、紧急案件和督办中的案件；督办会通知处置单位并记入考评。", supervise=True),
}


def rows_for(session: Session, cases: list[Case], now: datetime, spec: QueueSpec | None) -> list[dict[str, Any]]:
    """What a list shows per case, gathered in a few queries for the whole page."""
    names = catalog_queries.names(session, {(c.kind, c.category_code) for c in cases})
    units = unit_queries.names_by_id(session, {c.unit_id for c in cases if c.unit_id})
    lights = case_queries.deadline_views_many(session, cases, now)
    photos: dict[int, int] = {}
    if spec and spec.photos and cases:
        for case_id, att_id in session.execute(
                sa.select(Attachment.case_id, sa.func.min(Attachment.id))
                .where(Attachment.case_id.in_([c.id for c in cases])).group_by(Attachment.case_id)):
            if case_id is not None:
                photos[case_id] = att_id
    pending: dict[int, list[CaseRequest]] = {}
    if spec and spec.requests and cases:
        for r in session.scalars(sa.select(CaseRequest).where(
                CaseRequest.case_id.in_([c.id for c in cases]), CaseRequest.state == RequestState.PENDING)
                .order_by(CaseRequest.id)):
            pending.setdefault(r.case_id, []).append(r)
    rows = []
    for c in cases:
        views = lights.get(c.id, [])
        worst = min(views, key=lambda v: v["remaining_minutes"]) if views else None
        row: dict[str, Any] = {
            "case": c, "category": names.get((c.kind, c.category_code), c.category_code),
            "status_label": wf.STATUS_LABELS[c.status], "unit": units.get(c.unit_id) if c.unit_id else None,
            "deadline": worst, "photo": photos.get(c.id),
            "pending": pending.get(c.id, []),
        }
        if spec and spec.nearby:
            row["nearby"] = _nearby(session, c)
        if spec and spec.suggestion and c.status is wf.Status.FILED:
            row["suggestion"] = dispatching.suggest(session, c).to_dict()
        rows.append(row)
    return rows


def _nearby(session: Session, case: Case) -> list[tuple[int, str]]:
    """Other open cases of the same class within ~50 m: candidates for 不予受理 (重复)."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        sa.select(Case.id, Case.number).where(
            Case.id != case.id, Case.kind == case.kind, Case.category_code == case.category_code,
            Case.status.in_(wf.OPEN), Case.lat.between(case.lat - NEARBY_DEG, case.lat + NEARBY_DEG),
            Case.lon.between(case.lon - NEARBY_DEG, case.lon + NEARBY_DEG)).order_by(Case.id).limit(5))]


def _page_params(page: int) -> PageParams:
    return PageParams(PAGE_SIZE, (max(page, 1) - 1) * PAGE_SIZE)


@router.get("/work/{name}")
def work_queue(request: Request, name: str, session: ReadSessionDep, principal: WebPrincipal, clock: ClockDep,
               page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    spec = QUEUES.get(name)
    if spec is None:
        raise NotFound(f"没有名为 {name} 的工作队列")
    if not principal.has(spec.permission) and not (name == "filing" and principal.has(Permission.CASE_CLOSE)):
        raise Forbidden(f"「{spec.title}」属于{ROLE_TITLE[spec.role]}的工作，你的角色没有此权限")
    now = clock.now()
    if name == "leader":
        return _leader(request, session, principal, now, spec, page)
    cases, total = case_queries.queue(session, principal, _page_params(page), role=spec.role)
    # The page's periodic refresh asks for the table only (HX-Target: queue); a browser without JS never does.
    template = "queues/_queue.html" if request.headers.get("HX-Target") == "queue" else "queues/queue.html"
    return render(request, template, {
        "spec": spec, "name": name, "rows": rows_for(session, list(cases), now, spec), "total": total,
        "page": page, "pages": max(1, -(-total // PAGE_SIZE))})


ROLE_TITLE = {Role.OPERATOR: "受理员", Role.SHIFT_LEADER: "值班长", Role.DISPATCHER: "派遣员",
              Role.UNIT_STAFF: "处置单位", Role.LEADER: "领导"}


def _overdue(session: Session, principal: Principal, now: datetime, page: PageParams) -> tuple[list[Case], int]:
    """Open cases with a running clock past its due time (or already marked breached)."""
    late = sa.exists().where(Deadline.case_id == Case.id, Deadline.state == DeadlineState.PENDING,
                             sa.or_(Deadline.breached_at.is_not(None), Deadline.due_at <= now))
    stmt = sa.select(Case).where(access.visibility(principal), Case.status.in_(wf.OPEN), late)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Case.urgent.desc(), Case.created_at).limit(page.limit)
                           .offset(page.offset)).all()
    return list(rows), total


def _leader(request: Request, session: Session, principal: Principal, now: datetime, spec: QueueSpec, page: int,
            ) -> Response:
    tab = request.query_params.get("tab", "overdue")
    if tab == "overdue":
        cases, total = _overdue(session, principal, now, _page_params(page))
    else:
        found, total = case_queries.queue(session, principal, _page_params(page), role=Role.LEADER)
        cases = list(found)
    by_status: dict[wf.Status, int] = dict(session.execute(
        sa.select(Case.status, sa.func.count()).where(access.visibility(principal), Case.status.in_(wf.OPEN))
        .group_by(Case.status)).all())
    overdue_total = _overdue(session, principal, now, PageParams(1, 0))[1]
    statuses = [s for s in wf.Status if s in by_status]
    chart = {"tooltip": {}, "grid": {"left": 40, "right": 10, "top": 20, "bottom": 40},
             "xAxis": {"type": "category", "data": [wf.STATUS_LABELS[s] for s in statuses],
                       "axisLabel": {"interval": 0, "rotate": 30}},
             "yAxis": {"type": "value"},
             "series": [{"type": "bar", "name": "在办案件", "data": [by_status[s] for s in statuses],
                         "itemStyle": {"color": "#2b6cc4"}}]}
    return render(request, "queues/leader.html", {
        "spec": spec, "name": "leader", "tab": tab, "rows": rows_for(session, cases, now, spec), "total": total,
        "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "chart": chart,
        "open_total": sum(by_status.values()), "overdue_total": overdue_total})


@router.get("/cases")
def search(request: Request, session: ReadSessionDep, principal: WebPrincipal, clock: ClockDep,
           page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    params = {k: v for k, v in request.query_params.items() if v and k != "page"}
    statuses = request.query_params.getlist("status")
    error = None
    try:
        f = CaseFilterIn.model_validate({**params, "status": [s for s in statuses if s]})
    except ValidationError as exc:
        error = forms.message(forms.invalid(exc), SEARCH_LABELS)
        f = CaseFilterIn()
    cases, total = case_queries.list_cases(session, principal, f, _page_params(page))
    return render(request, "queues/search.html", {
        "rows": rows_for(session, list(cases), clock.now(), None), "total": total, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "q": params, "statuses": set(statuses), "error": error,
        "all_statuses": list(wf.Status), "kinds": list(Kind)}, status_code=422 if error else 200)
