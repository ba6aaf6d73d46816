"""The case page and its action forms: the same commands as the API (cases.routes.ACTIONS), rendered.

The page offers exactly the actions `allowed_actions` lists for this user now, each as a form whose fields are
the fields of that action's API body; photos go with 核实, 核查 and 处置. A refused command re-renders the page
with the message (naming the field) and the user's input, nothing stored.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import STAGE_LABELS, Stage
from cityloop.attachments.storage import storage_for
from cityloop.auth.models import RoleAssignment, User
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.cases import queries as case_queries
from cityloop.cases import workflow as wf
from cityloop.cases.models import SOURCE_LABELS
from cityloop.cases.routes import ACTIONS, case_out
from cityloop.catalog import queries as catalog_queries
from cityloop.core.errors import DomainError, NotFound, ValidationFailed
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.core.timeunits import TimeUnit
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import queries as intake_queries
from cityloop.units import queries as unit_queries
from cityloop.web import forms
from cityloop.web import session as web_session
from cityloop.web.session import WebPrincipal
from cityloop.web.templating import flash_url, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

A = wf.Action
# The photos each action takes, and the stage they are filed under.
ACTION_PHOTOS: dict[wf.Action, Stage] = {A.VERIFY: Stage.VERIFY, A.CHECK: Stage.CHECK, A.COMPLETE: Stage.AFTER}
# Actions that need a person to think twice: shown with a warning colour.
DANGEROUS = {A.REJECT, A.VOID, A.FORCE_CLOSE, A.DENY_RETURN, A.DENY_EXTENSION, A.DENY_SUSPENSION}
FIELD_LABELS = {"note": "说明", "reason": "理由", "unit_id": "处置单位", "collector_id": "监督员",
                "filing_standard_id": "立案标准", "region_class": "计时区域", "amount": "延期时长",
                "unit": "时间单位", "confirmed": "核实结果", "passed": "核查结果", "public": "公开答复",
                "photos": "照片"}
MAX_CHOICES = 2000


FormDep = forms.PostedForm


def _collectors(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(sa.select(User.id, User.display_name, User.username).join(
        RoleAssignment, RoleAssignment.user_id == User.id).where(
        RoleAssignment.role == Role.COLLECTOR, User.active.is_(True)).order_by(User.username).limit(MAX_CHOICES))
    return [(uid, f"{name}（{username}）" if name and name != username else username) for uid, name, username in rows]


def _page_context(session: Session, principal: Principal, case_id: int, now: Any) -> dict[str, Any]:
    case = access.get_case_for(session, principal, case_id)
    out = case_out(session, case, principal, now)
    allowed = set(out.allowed_actions)
    staff = principal.has(Permission.UNIT_READ)
    category = catalog_queries.find(session, case.kind, case.category_code)
    standards = catalog_queries.standards_for(session, category.id) if category else []
    filed = catalog_queries.get_standard(session, case.filing_standard_id) if case.filing_standard_id else None
    units: list[Any] = []
    if A.DISPATCH in allowed:
        units = (unit_queries.serving_district(session, case.district_code, MAX_LIMIT) if case.district_code
                 else list(unit_queries.list_units(session, PageParams(MAX_LIMIT, 0))[0]))
    unit_names = unit_queries.names_by_id(session, {u for u in [case.unit_id] if u})
    photos = attachment_service.list_for_case(session, case.id)
    by_stage: dict[str, list[Any]] = {}
    for p in photos:
        by_stage.setdefault(STAGE_LABELS[p.stage], []).append(p)
    return {
        "case": out, "model": case, "category": category, "standards": standards, "filed_standard": filed,
        "allowed": [a for a in out.allowed_actions if a is not A.COMMENT], "can_comment": A.COMMENT in allowed,
        "events": case_queries.timeline(session, principal, case.id), "photos": by_stage,
        "reports": intake_queries.case_reports(session, case.id) if staff else [],
        "units": units, "unit_name": unit_names.get(case.unit_id) if case.unit_id else None,
        "collectors": _collectors(session) if allowed & {A.REQUEST_VERIFICATION, A.REQUEST_CHECK} else [],
        "time_units": list(TimeUnit), "action_photos": ACTION_PHOTOS, "dangerous": DANGEROUS,
        "field_labels": FIELD_LABELS, "STAGE_NAMES": STAGE_LABELS,
        "ACTION_COMMENT": A.COMMENT, "source_labels": SOURCE_LABELS, "request_labels": wf.REQUEST_LABELS,
        "staff": staff,
        "action_fields": {a: [(n, f.is_required()) for n, f in ACTIONS[a][0].model_fields.items()
                              if n != "expected_version"] for a in out.allowed_actions},
        "error": None, "error_action": None, "values": {}}


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: int, session: ReadSessionDep, principal: WebPrincipal,
              clock: ClockDep) -> Response:
    return render(request, "cases/detail.html", _page_context(session, principal, case_id, clock.now()))


def _body(model: type[Any], form: FormData) -> dict[str, Any]:
    """The action's body from the form: its own fields only; an empty input means 'not given'."""
    body: dict[str, Any] = {}
    for name in model.model_fields:
        value = form.get(name)
        if isinstance(value, str) and value.strip() != "":
            body[name] = value
    return body


@router.post("/cases/{case_id}/act/{action}")
def act(request: Request, case_id: int, action: str, form: FormDep, reads: ReadSessionDep,
        principal: WebPrincipal, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Response:
    try:
        act_on = wf.Action(action)
    except ValueError:
        raise NotFound(f"没有名为 {action} 的操作") from None
    model, handler = ACTIONS[act_on]
    access.get_case_for(reads, principal, case_id)  # 404 before anything is read from the form
    uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    now = clock.now()
    try:
        cmd = model.model_validate(_body(model, form))
        stage = ACTION_PHOTOS.get(act_on)
        if uploads and stage is None:
            raise ValidationFailed(f"photos: 「{wf.ACTION_LABELS[act_on]}」不带照片", field="photos")
        prepared = [] if not uploads else attachment_service.prepare_all(
            [attachment_service.Upload(f"photos.{i}", f.filename or "", f.file) for i, f in enumerate(uploads)],
            max_bytes=int(settings.max_upload_mb * 1024 * 1024), max_pixels=settings.max_image_pixels)
        case = handler(session, principal, case_id, cmd, now=now)
    except (ValidationError, DomainError) as exc:
        refused = forms.invalid(exc) if isinstance(exc, ValidationError) else exc
        session.rollback()
        return _again(request, reads, principal, case_id, now, act_on, forms.message(refused, FIELD_LABELS),
                      refused.status, form)
    storage = storage_for(settings)
    stored = attachment_service.store(session, storage, prepared, stage=stage, case_id=case.id, report_id=None,
                                      uploaded_by=principal.user_id, now=now) if prepared and stage else []
    try:
        session.commit()
    except BaseException:
        attachment_service.discard(storage, stored)
        raise
    target = web_session.safe_next(str(form.get("next") or "")) or f"/cases/{case.id}"
    return redirect(request, flash_url(target, act_on.value, case.number))


def _again(request: Request, reads: Session, principal: Principal, case_id: int, now: Any, action: wf.Action,
           message: str, status: int, form: FormData) -> Response:
    reads.expire_all()  # the refused command may have touched objects the read session shares
    ctx = _page_context(reads, principal, case_id, now)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != web_session.CSRF_FIELD}
    return render(request, "cases/detail.html", {**ctx, "error": message, "error_action": action,
                                                 "values": values}, status_code=status)
