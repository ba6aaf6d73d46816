"""The phone pages of a 监督员 in the street: the open 核实/核查 tasks, one task with its form, reporting a
problem (上报问题) with GPS and photos; and case photos served to any signed-in page that may see the case.

Reports go through the same command as POST /api/v1/cases, photos through the same checks as the
attachments API; this module only turns form fields into those commands' inputs and errors back into the form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import STAGE_LABELS, Attachment, Stage
from cityloop.attachments.storage import storage_for
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.cases import queries as case_queries
from cityloop.cases import workflow as wf
from cityloop.cases.attachment_routes import readable_attachment
from cityloop.cases.models import SOURCE_LABELS, Case, CaseTask, TaskKind
from cityloop.cases.schemas import CaseIn
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import KIND_LABELS, Kind
from cityloop.catalog.models import Category
from cityloop.core.errors import DomainError, ValidationFailed
from cityloop.core.pagination import PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import service as intake_service
from cityloop.settings import Settings
from cityloop.web import forms, geojson
from cityloop.web import session as web_session
from cityloop.web.session import WebPrincipal, require
from cityloop.web.templating import flash_url, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

Reporter = Annotated[Principal, require(Permission.CASE_CREATE)]
Collector = Annotated[Principal, require(Permission.CASE_VERIFY)]

TASK_LABELS = {TaskKind.VERIFY: "核实", TaskKind.CHECK: "核查"}
# A task's form is offered only while the case waits for exactly that task.
_TASK_STATUS = {TaskKind.VERIFY: wf.Status.VERIFYING, TaskKind.CHECK: wf.Status.CHECKING}
_TASK_PERMISSION = {TaskKind.VERIFY: Permission.CASE_VERIFY, TaskKind.CHECK: Permission.CASE_CHECK}
_TASKS_SHOWN = 100

# Form field → what the person filling it in calls it, for error messages.
FIELD_LABELS = {"category": "问题类别", "category_code": "问题类别", "kind": "问题类别", "description": "问题描述",
                "lat": "位置", "lon": "位置", "crs": "位置", "address": "地址", "photos": "照片",
                "self_handled": "自处置", "urgent": "紧急", "contact": "联系电话", "body": "表单"}


# --- shared with the 随手拍 pages (public.py) ----------------------------------------------------------------

PostedForm = forms.PostedForm


def text_fields(form: FormData, names: Sequence[str]) -> dict[str, str]:
    return {k: v.strip() if isinstance(v := form.get(k), str) else "" for k in names}


def photo_files(form: FormData, field: str = "photos") -> list[UploadFile]:
    """The files chosen in a photo input. A browser sends an empty, nameless part for an input left empty:
    that is no photo, not an empty photo."""
    return [f for f in form.getlist(field) if isinstance(f, UploadFile) and (f.filename or (f.size or 0) > 0)]


def parse_category(value: str) -> tuple[Kind, str]:
    """The category picker's value, "kind:code": the same code can be a 部件 and an 事件 class."""
    kind, _, code = value.partition(":")
    if kind not in {k.value for k in Kind} or not code:
        raise ValidationFailed("请从列表中选择问题类别", field="category_code")
    return Kind(kind), code


def require_location(values: dict[str, str]) -> None:
    if not values.get("lat") or not values.get("lon"):
        raise ValidationFailed("请点“定位”或在地图上点选问题位置（lat/lon）", field="lat")


def form_error(exc: DomainError) -> dict[str, Any]:
    """What a form shows for a refused submission: the message, with the field in the user's words."""
    field = exc.field or "body"
    return {"message": forms.message(ValidationFailed(exc.message, field=field), FIELD_LABELS),
            "field": field.split(".")[0].split("[")[0], "status": exc.status}


def category_groups(categories: Sequence[Category]) -> list[tuple[str, list[Category]]]:
    """Classes for the picker, 部件 first then 事件, each in code order."""
    return [(KIND_LABELS[kind], [c for c in categories if c.kind is kind]) for kind in (Kind.PART, Kind.EVENT)]


def tiles_datum(settings: Settings) -> Literal["wgs84", "gcj02"]:
    return "gcj02" if settings.map_tile_url and settings.map_tile_crs == "gcj02" else "wgs84"


# --- the collector's tasks -----------------------------------------------------------------------------------

def _my_task(case: Case, principal: Principal) -> CaseTask | None:
    """The open task of this case that this collector is to do now, if any."""
    task = case.open_task()
    if task is None or task.collector_id != principal.user_id or case.status is not _TASK_STATUS[task.kind]:
        return None
    return task if principal.has(_TASK_PERMISSION[task.kind]) else None


def _category_names(session: Session, cases: Sequence[Case]) -> dict[tuple[Kind, str], str]:
    return catalog_queries.names(session, {(c.kind, c.category_code) for c in cases})


@router.get("/m")
def home(request: Request, session: ReadSessionDep, principal: Collector) -> Response:
    cases, _total = case_queries.queue(session, principal, PageParams(_TASKS_SHOWN, 0), role=Role.COLLECTOR)
    names = _category_names(session, cases)
    tasks = []
    for case in cases:
        task = _my_task(case, principal)
        if task is not None:
            tasks.append({"case": case, "task": task, "label": TASK_LABELS[task.kind],
                          "category": names.get((case.kind, case.category_code), case.category_code)})
    return render(request, "mobile/home.html", {"tasks": tasks,
                                                "can_report": principal.has(Permission.CASE_CREATE)})


def _photos_by_stage(attachments: Sequence[Attachment]) -> list[tuple[str, list[Attachment]]]:
    return [(STAGE_LABELS[stage], shown) for stage in Stage
            if (shown := [a for a in attachments if a.stage is stage])]


@router.get("/m/cases/{case_id}")
def task_page(case_id: int, request: Request, session: ReadSessionDep, principal: WebPrincipal,
              settings: SettingsDep) -> Response:
    """One case as its collector needs it in the street: what and where, the photos so far, and the form of
    the task given to them (核实: is it real? 核查: is it fixed to the closing criterion?)."""
    case = access.get_case_for(session, principal, case_id)
    task = _my_task(case, principal)
    category = session.get(Category, case.category_id)
    standard = catalog_queries.get_standard(session, case.filing_standard_id) if case.filing_standard_id else None
    lon, lat = _point(case, settings)
    map_spec = {"center": [lat, lon], "zoom": 17,
                "layers": [{"url": f"/map/case/{case.id}.geojson", "kind": "area", "fit": True}]}
    other = case.open_task()
    return render(request, "mobile/task.html", {
        "case": case, "task": task, "task_label": TASK_LABELS[task.kind] if task else None,
        "category_name": category.name if category else case.category_code,
        "kind_label": KIND_LABELS[case.kind], "standard": standard, "map_spec": map_spec,
        "photos": _photos_by_stage(attachment_service.list_for_case(session, case.id)),
        "other_task": TASK_LABELS[other.kind] if other is not None and task is None else None})


def _point(case: Case, settings: Settings) -> tuple[float, float]:
    glon, glat = geojson.point(case.lon, case.lat, tiles_datum(settings))
    return glon, glat


@router.get("/m/photos/{attachment_id}")
def photo(attachment_id: int, session: ReadSessionDep, principal: WebPrincipal, settings: SettingsDep,
          size: Annotated[Literal["display", "thumb"], Query()] = "display") -> Response:
    """A case photo for the console's pages (which sign in by cookie, not by bearer token): to whoever may
    see its case, 404 to everyone else, exactly as GET /api/v1/attachments/{id}/content."""
    attachment = readable_attachment(session, principal, attachment_id)
    data, mime = attachment_service.read(storage_for(settings), attachment, size)
    # private: no shared cache may hand one person's photo to another; nosniff: it is the image type stated.
    return Response(data, media_type=mime, headers={"Cache-Control": "private", "X-Content-Type-Options": "nosniff"})


# --- 上报问题 -------------------------------------------------------------------------------------------------

_REPORT_FIELDS = ("category", "description", "lat", "lon", "crs", "address", "source")


def _report_page(request: Request, session: Session, principal: Principal, values: dict[str, Any],
                 error: dict[str, Any] | None = None) -> Response:
    return render(request, "mobile/report.html", {
        "groups": category_groups(catalog_queries.list_categories(session)), "values": values, "error": error,
        "can_self_handle": principal.has(Permission.CASE_SELF_HANDLE),
        # An operator types in a 12345 call, a leader hands a case down: they say which channel it came by.
        "sources": SOURCE_LABELS if principal.has(Permission.CASE_SET_SOURCE) else {}},
        status_code=error["status"] if error else 200)


def _case_in(values: dict[str, Any]) -> CaseIn:
    kind, code = parse_category(values["category"])
    require_location(values)
    try:
        return CaseIn.model_validate({
            "kind": kind, "category_code": code, "description": values["description"], "lat": values["lat"],
            "lon": values["lon"], "crs": values["crs"] or "wgs84", "address": values["address"],
            "urgent": values["urgent"], "self_handled": values["self_handled"],
            **({"source": values["source"]} if values["source"] else {})})
    except ValidationError as exc:
        raise forms.invalid(exc) from exc


@router.get("/m/report")
def report_form(request: Request, session: ReadSessionDep, principal: Reporter) -> Response:
    if not principal.has(Permission.UNIT_READ):
        # A citizen holds case:create too, but reports through 随手拍, which shows only the public classes.
        return redirect(request, "/public/report")
    values = {**dict.fromkeys(_REPORT_FIELDS, ""), "crs": "wgs84", "urgent": False, "self_handled": False}
    return _report_page(request, session, principal, values)


@router.post("/m/report")
def report(request: Request, form: PostedForm,
           # The caller comes from the read session, declared before the write one, so that the write
           # transaction (on SQLite: the database's one write lock) starts only after the photos are decoded.
           principal: Reporter, reads: ReadSessionDep, session: SessionDep, clock: ClockDep,
           settings: SettingsDep) -> Response:
    """Open a case as POST /api/v1/cases does, with its photos (上报) stored all or none."""
    if not principal.has(Permission.UNIT_READ):
        return redirect(request, "/public/report")
    values: dict[str, Any] = {**text_fields(form, _REPORT_FIELDS), "urgent": form.get("urgent") is not None,
                              "self_handled": form.get("self_handled") is not None}
    files = photo_files(form)
    storage = storage_for(settings)
    try:
        data = _case_in(values)
        uploads = [attachment_service.Upload(f"photos.{i}", f.filename or "", f.file) for i, f in enumerate(files)]
        photos = attachment_service.prepare_all(uploads, max_bytes=int(settings.max_upload_mb * 1024 * 1024),
                                                max_pixels=settings.max_image_pixels,
                                                field="photos") if uploads else []
        now = clock.now()
        case = intake_service.report_case(session, principal, data, now=now)
        stored = attachment_service.store(session, storage, photos, stage=Stage.REPORT, case_id=case.id,
                                          report_id=None, uploaded_by=principal.user_id, now=now)
    except DomainError as exc:
        session.rollback()
        return _report_page(request, reads, principal, values, form_error(exc))
    try:
        session.commit()
    except BaseException:
        attachment_service.discard(storage, stored)  # the rows are gone, so must their files be
        raise
    # The flash every console page shows after a command: "<number>：已<what>".
    home = "/m" if principal.has(Permission.CASE_VERIFY) else f"/cases/{case.id}"
    return redirect(request, flash_url(home, "reported", case.number))
