"""随手拍 for citizens: report a problem without an account, follow it by case number and 查询码 (token), and a
signed-in citizen's own reports.

A report posted here runs through the public API's own endpoint function (POST /api/v1/public/reports): the same
rate limit, photo checks, EXIF location fallback, de-duplication and all-or-nothing storage, in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from cityloop.auth.permissions import Role
from cityloop.auth.principal import Principal
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.models import Category
from cityloop.core.errors import DomainError, Forbidden, NotFound, RateLimited, ValidationFailed
from cityloop.core.pagination import PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import public_routes
from cityloop.intake import queries as intake_queries
from cityloop.web import session as web_session
from cityloop.web.forms import PostedForm
from cityloop.web.pages.mobile import (
    category_groups,
    form_error,
    parse_category,
    photo_files,
    text_fields,
)
from cityloop.web.session import MaybePrincipal, WebPrincipal
from cityloop.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

MAX_PHOTOS = public_routes.MAX_PHOTOS
_FIELDS = ("category", "description", "lat", "lon", "crs", "address", "contact_phone")
_MINE_PAGE = 20
_NOT_FOUND = "没有找到这条上报：请核对案件编号和查询码（两者都要正确，区分大小写）。"


def _public_classes(session: Session) -> list[Category]:
    return [c for c in catalog_queries.list_categories(session) if c.public_intake]


def _report_page(request: Request, session: Session, values: dict[str, str],
                 error: dict[str, Any] | None = None) -> Response:
    return render(request, "public/report.html", {
        "groups": category_groups(_public_classes(session)), "values": values, "error": error,
        "max_photos": MAX_PHOTOS}, status_code=error["status"] if error else 200)


def _posted(session: Session, values: dict[str, str], form_files: list[UploadFile]) -> public_routes.PostedReport:
    """The form as the public API's endpoint reads a multipart body: its field names, only the filled ones."""
    kind, code = parse_category(values["category"])
    if not any(c.kind is kind and c.code == code for c in _public_classes(session)):
        raise ValidationFailed("这个类别不接受市民上报，请从列表中选择", field="category_code")
    if len(form_files) > MAX_PHOTOS:
        raise ValidationFailed(f"最多上传 {MAX_PHOTOS} 张照片", field="photos")
    fields: dict[str, Any] = {k: values[k] for k in ("description", "lat", "lon", "crs", "address") if values[k]}
    fields.update(kind=kind.value, category_code=code)
    if values["contact_phone"]:
        fields["contact"] = {"phone": values["contact_phone"]}
    return public_routes.PostedReport(fields, [(f.filename or "photo", f.file.read()) for f in form_files])


def _error(exc: DomainError) -> dict[str, Any]:
    error = form_error(exc)
    if isinstance(exc, RateLimited):
        error["message"] = "提交过于频繁，请稍后再试。"
    elif error["field"] in ("lat", "lon") and "required" in exc.message.lower():
        error["message"] = "位置（lat/lon）：请点“定位”或在地图上点选问题位置，也可上传带 GPS 信息的照片。"
    return error


@router.get("/public/report")
def report_form(request: Request, session: ReadSessionDep, _principal: MaybePrincipal) -> Response:
    values = {**dict.fromkeys(_FIELDS, ""), "crs": "wgs84"}
    return _report_page(request, session, values)


@router.post("/public/report")
def report(request: Request, form: PostedForm,
           # Before the write session: looking the caller up must not be the start of the write transaction.
           principal: MaybePrincipal, reads: ReadSessionDep, session: SessionDep, clock: ClockDep,
           settings: SettingsDep) -> Response:
    """A 随手拍 report; a signed-in citizen becomes its reporter and finds it under 我的随手拍."""
    values = text_fields(form, _FIELDS)
    try:
        posted = _posted(reads, values, photo_files(form))
        accepted = public_routes.public_report(request, posted, principal, session, clock, settings)
    except DomainError as exc:
        session.rollback()
        return _report_page(request, reads, values, _error(exc))
    # Shown here rather than after a redirect: the token is printed once and never put in a URL by us.
    return render(request, "public/reported.html", {"number": accepted.number, "token": accepted.token,
                                                    "signed_in": principal is not None})


@router.get("/public/track")
def track(request: Request, session: ReadSessionDep, _principal: MaybePrincipal,
          number: Annotated[str, Query(max_length=40)] = "",
          token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The progress a number and its token open: status, public steps and replies, the reporter's photos."""
    number, token = number.strip(), token.strip()
    context: dict[str, Any] = {"number": number, "token": token, "view": None, "error": None}
    if not (number or token):
        return render(request, "public/track.html", context)
    try:
        context["view"] = intake_queries.public_view(session, number, token)
    except NotFound:
        context["error"] = _NOT_FOUND
        return render(request, "public/track.html", context, status_code=404)
    return render(request, "public/track.html", context)


def _citizen(principal: WebPrincipal) -> Principal:
    if Role.CITIZEN not in principal.roles:
        raise Forbidden("“我的随手拍”只对市民账号开放", code="forbidden")
    return principal


@router.get("/public/mine")
def mine(request: Request, session: ReadSessionDep, principal: Annotated[Principal, Depends(_citizen)],
         page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    """A signed-in citizen's 随手拍 reports, newest first, each with its progress."""
    views, total = intake_queries.my_reports(session, principal.user_id,
                                             PageParams(_MINE_PAGE, (page - 1) * _MINE_PAGE))
    return render(request, "public/mine.html", {"views": views, "total": total, "page": page,
                                               "pages": max(1, -(-total // _MINE_PAGE))})
