"""系统管理 · 立结案标准, 工作日历, 派遣规则: the configuration every case's clock and route is worked out from.
Installed through web/pages/admin.py, which includes this router."""

from __future__ import annotations

import csv
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog import service as catalog_service
from cityloop.catalog.enums import KIND_LABELS, Kind
from cityloop.catalog.exchange import CellError, ImportRejected
from cityloop.catalog.specs import ClassSpec, StandardSpec
from cityloop.core.clock import to_business
from cityloop.core.errors import DomainError, ValidationFailed
from cityloop.deadlines import holidays
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.routing import service as routing_service
from cityloop.routing.models import CommandLevel, RoutingRule
from cityloop.routing.schemas import PolicyIn, RuleIn
from cityloop.settings import Settings
from cityloop.web import session as web_session
from cityloop.web.pages.admin_common import (
    LEVEL_LABELS,
    PAGE_SIZE,
    as_int,
    back,
    blank_none,
    form_status,
    pages,
    problem,
    refusal,
    render_admin,
)
from cityloop.web.session import require

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

P = Permission
Reader = Annotated[Principal, require(P.UNIT_READ)]
# No permission names the class directory itself. Its versions and 立结案标准 decide which unit a class is
# routed to and how long handling may take, so changing them is a change to dispatch configuration: the
# routing managers' permission, held by admins only, rather than a new permission every role table must learn.
StandardsManager = Annotated[Principal, require(P.ROUTING_MANAGE)]
CalendarManager = Annotated[Principal, require(P.CALENDAR_MANAGE)]
RoutingReader = Annotated[Principal, require(P.ROUTING_READ)]
RoutingManager = Annotated[Principal, require(P.ROUTING_MANAGE)]
Short = Annotated[str, Form(max_length=100)]

MAX_UPLOAD = 20 * 1024 * 1024  # a city's workbook is well under 1 MB; this only stops a mistaken upload
COMMAND_LABELS = {CommandLevel.CITY: "市指挥中心", CommandLevel.DISTRICT: "区指挥中心"}


# --- 立结案标准 -------------------------------------------------------------------------------------------

def _standards_page(request: Request, session: Session, principal: Principal, *, version: str | None = None,
                    kind: str = "", code: str = "", offset: int = 0, error: str | None = None,
                    cell_errors: list[CellError] | None = None, form: dict[str, Any] | None = None,
                    status: int = 200) -> Response:
    versions = catalog_queries.list_versions(session)
    codes = {v.code for v in versions}
    adopted = catalog_queries.adopted_version(session)
    shown = version if version in codes else adopted
    chosen = Kind(kind) if kind in Kind.__members__.values() else None
    # The version as its export writes it: a class without standards (the national directory's) is one row too.
    _, specs = catalog_service.version_specs(session, shown)
    rows: list[tuple[ClassSpec, StandardSpec | None]] = []
    for spec in specs:
        if (chosen is None or spec.kind is chosen) and spec.code.startswith(code.strip()):
            rows += [(spec, std) for std in spec.standards] or [(spec, None)]
    offset = max(0, offset)
    return render_admin(request, principal, "admin/standards.html", {
        "versions": versions, "adopted": adopted, "shown": shown, "kind": chosen.value if chosen else "",
        "code": code, "kinds": KIND_LABELS, "rows": rows[offset:offset + PAGE_SIZE],
        "paging": pages(len(rows), PAGE_SIZE, offset), "can_manage": principal.has(P.ROUTING_MANAGE),
        "error": error, "cell_errors": cell_errors or [],
        "form": form or {"version": "", "name": "", "adopt": False}}, status_code=status)


@router.get("/admin/standards")
def standards(request: Request, session: ReadSessionDep, principal: Reader, version: str = "", kind: str = "",
              code: str = "", offset: str = "0") -> Response:
    return _standards_page(request, session, principal, version=version or None, kind=kind, code=code[:5],
                           offset=as_int(offset))


@router.get("/admin/standards/export")
def export_standards(session: ReadSessionDep, _p: Reader, version: str = "") -> Response:
    """The version as a workbook in the import shape: edit it in Excel and import it back as a new version."""
    with tempfile.TemporaryDirectory(prefix="cityloop-export-") as tmp:
        path = Path(tmp) / "standards.xlsx"
        counts = catalog_service.export_file(session, path, version=version or None)
        content = path.read_bytes()
    filename = f"立结案标准_{counts.version.replace('/', '-')}.xlsx"
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=\"standards.xlsx\"; "
                                                    f"filename*=UTF-8''{quote(filename)}"})


def _upload_name(upload: UploadFile) -> str:
    """The uploaded file's own name, without any folder part: the default version code and what errors cite."""
    name = Path((upload.filename or "").replace("\\", "/")).name.strip()
    return name[:120] if name and not name.startswith(".") else "upload"


@router.post("/admin/standards/import")
def import_standards(request: Request, session: SessionDep, principal: StandardsManager, clock: ClockDep,
                     file: Annotated[UploadFile | None, File()] = None, version: Short = "", name: Short = "",
                     adopt: Annotated[str, Form(max_length=5)] = "") -> Response:
    """A whole new version from a city's file; any bad cell rejects the file and every one is listed."""
    form = {"version": version, "name": name, "adopt": adopt == "1"}

    def again(message: str, cells: list[CellError] | None = None, status: int = 422) -> Response:
        session.rollback()
        return _standards_page(request, session, principal, error=message, cell_errors=cells, form=form,
                               status=status)

    if file is None or not file.filename:
        return again("请检查「文件」（file）：请选择要导入的 .xlsx 或 .csv 文件")
    filename = _upload_name(file)
    if Path(filename).suffix.lower() not in (".xlsx", ".csv"):
        return again(f"请检查「文件」（file）：{filename} 不是 .xlsx 或 .csv 文件")
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return again(f"请检查「文件」（file）：文件超过 {MAX_UPLOAD // (1024 * 1024)} MB", status=413)
    with tempfile.TemporaryDirectory(prefix="cityloop-import-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        try:
            counts = catalog_service.import_file(session, path, clock.now(), version=blank_none(version),
                                                 name=blank_none(name), adopt_it=adopt == "1")
            session.flush()
        except ImportRejected as exc:
            return again(f"文件有 {len(exc.errors)} 处问题，未导入任何内容；请修改后重新导入。", exc.errors)
        except DomainError as exc:
            return again(problem(exc), status=form_status(exc))
        except (zipfile.BadZipFile, KeyError, ValueError, csv.Error):
            # A file that only looks like a workbook or CSV (renamed, truncated, another encoding) fails in
            # openpyxl or csv before any cell is checked.
            return again(f"请检查「文件」（file）：无法读取 {filename}，请确认是 Excel 工作簿（.xlsx）"
                         "或 UTF-8 编码的 CSV 文件")
    session.commit()
    return back(request, "/admin/standards", "adopted" if adopt == "1" else "imported", version=counts.version)


@router.post("/admin/standards/adopt")
def adopt_standards(request: Request, session: SessionDep, _p: StandardsManager, clock: ClockDep,
                    version: Annotated[str, Form(max_length=40)] = "") -> Response:
    """New reports are classed under this version from now on; cases filed earlier keep their class."""
    adopted = catalog_service.adopt(session, version, clock.now())
    session.commit()
    return back(request, "/admin/standards", "adopted", version=adopted.code)


# --- 工作日历 --------------------------------------------------------------------------------------------

def _calendar_page(request: Request, session: Session, principal: Principal, settings: Settings, today: date, *,
                   year: int, error: str | None = None, form: dict[str, Any] | None = None,
                   status: int = 200) -> Response:
    covered, entries = holidays.days_of_year(session, year)
    cov = holidays.coverage_of(session, today, settings.calendar_horizon_days)
    warning = None
    if cov.uncovered:
        first = cov.uncovered[0]
        # Said in the console's words; holidays.Coverage.warning says it for the logs and the CLI.
        warning = (f"今后 {cov.horizon_days} 天中有 {len(cov.uncovered)} 天没有节假日安排"
                   f"（自 {first.isoformat()} 起），这些日子的节假日会被当作工作日计时。"
                   f"请录入 {first.year} 年的放假与调休安排。")
    return render_admin(request, principal, "admin/calendar.html", {
        "year": year, "covered": covered, "entries": entries, "warning": warning, "error": error,
        "covered_until": cov.covered_until,
        "form": form or {"day": "", "workday": "0", "note": ""}}, status_code=status)


@router.get("/admin/calendar")
def calendar(request: Request, session: ReadSessionDep, principal: CalendarManager, clock: ClockDep,
             settings: SettingsDep, year: str = "") -> Response:
    today = to_business(clock.now()).date()
    shown = as_int(year, today.year)
    return _calendar_page(request, session, principal, settings, today,
                          year=shown if 1900 <= shown <= 2999 else today.year)


@router.post("/admin/calendar")
def set_calendar_day(request: Request, session: SessionDep, principal: CalendarManager, clock: ClockDep,
                     settings: SettingsDep, day: Annotated[str, Form(max_length=20)] = "",
                     workday: Annotated[str, Form(max_length=5)] = "",
                     note: Annotated[str, Form(max_length=300)] = "") -> Response:
    """A holiday (workday=0) or a 调休 working day (workday=1) on one date; replaces what that date had."""
    form = {"day": day, "workday": workday, "note": note}
    today = to_business(clock.now()).date()
    try:
        try:
            when = date.fromisoformat(day.strip())
        except ValueError:
            raise ValidationFailed(f"day: {day!r} is not a YYYY-MM-DD date", field="day") from None
        if workday not in ("0", "1"):
            raise ValidationFailed("workday: choose 放假 or 上班", field="workday")
        holidays.set_day(session, when, workday == "1", note.strip(), clock.now())
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _calendar_page(request, session, principal, settings, today, year=today.year, error=problem(exc),
                              form=form, status=form_status(exc))
    session.commit()
    return back(request, "/admin/calendar", "day_saved", year=when.year)


@router.post("/admin/calendar/{day}/delete")
def delete_calendar_day(request: Request, day: date, session: SessionDep, _p: CalendarManager) -> Response:
    """Drops the city's own setting of the day; the statutory arrangement (if any) applies again."""
    holidays.remove_day(session, day)
    session.commit()
    return back(request, "/admin/calendar", "day_deleted", year=day.year)


# --- 派遣规则 --------------------------------------------------------------------------------------------

def _rule_row(session: Session, rule: RoutingRule) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "kind": rule.kind, "category_code": rule.category_code,
            "territory_code": rule.territory_code, "owner_code": rule.owner_code,
            "unit_code": routing_service.unit_code_of(session, rule.unit_id), "target_level": rule.target_level,
            "target_industry": rule.target_industry, "priority": rule.priority, "active": rule.active,
            "synthetic": rule.synthetic, "updated_at": rule.updated_at}


def _routing_page(request: Request, session: Session, principal: Principal, *, error: str | None = None,
                  policy_form: dict[str, Any] | None = None, status: int = 200) -> Response:
    rules = [_rule_row(session, r) for r in routing_service.list_rules(session, include_inactive=True)]
    return render_admin(request, principal, "admin/routing.html", {
        "rules": rules, "policies": routing_service.list_policies(session), "kinds": KIND_LABELS,
        "levels": LEVEL_LABELS, "commands": COMMAND_LABELS, "can_manage": principal.has(P.ROUTING_MANAGE),
        "error": error,
        "policy_form": policy_form or {"kind": "event", "category_code": "", "command_level": "district",
                                       "auto_dispatch": False}}, status_code=status)


@router.get("/admin/routing")
def routing(request: Request, session: ReadSessionDep, principal: RoutingReader) -> Response:
    return _routing_page(request, session, principal)


def _rule_form(request: Request, principal: Principal, *, rule_id: int | None, form: dict[str, Any],
               error: str | None = None, status: int = 200) -> Response:
    return render_admin(request, principal, "admin/rule_form.html", {
        "rule_id": rule_id, "form": form, "error": error, "kinds": KIND_LABELS, "levels": LEVEL_LABELS},
        status_code=status)


_RULE_FIELDS = ("name", "kind", "category_code", "territory_code", "owner_code", "unit_code", "target_level",
                "target_industry", "priority")


def _rule_in(form: dict[str, Any]) -> RuleIn:
    """The form as the API's body model, so the page accepts exactly what PUT /api/v1/routing/rules does."""
    data: dict[str, Any] = {f: blank_none(form.get(f)) for f in _RULE_FIELDS}
    data["name"] = form.get("name", "")
    data["priority"] = data["priority"] or 0
    data["active"] = bool(form.get("active"))
    return RuleIn.model_validate(data)


@router.get("/admin/routing/rules/new")
def new_rule(request: Request, principal: RoutingManager) -> Response:
    form = dict.fromkeys(_RULE_FIELDS, "") | {"priority": "0", "active": True}
    return _rule_form(request, principal, rule_id=None, form=form)


def _save_rule(request: Request, session: Session, principal: Principal, now: Any, rule_id: int | None,
               form: dict[str, Any]) -> Response:
    try:
        spec = routing_service.RuleSpec(**_rule_in(form).model_dump())
        if rule_id is None:
            routing_service.create_rule(session, spec, now=now)
        else:
            routing_service.update_rule(session, rule_id, spec, now=now)
        session.flush()
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, status = refusal(exc)
        return _rule_form(request, principal, rule_id=rule_id, form=form, error=error, status=status)
    session.commit()
    return back(request, "/admin/routing", "rule_created" if rule_id is None else "rule_saved")


def _rule_fields(name: str, kind: str, category_code: str, territory_code: str, owner_code: str, unit_code: str,
                 target_level: str, target_industry: str, priority: str, active: str) -> dict[str, Any]:
    return {"name": name, "kind": kind, "category_code": category_code, "territory_code": territory_code,
            "owner_code": owner_code, "unit_code": unit_code, "target_level": target_level,
            "target_industry": target_industry, "priority": priority, "active": active == "1"}


@router.post("/admin/routing/rules")
def create_rule(request: Request, session: SessionDep, principal: RoutingManager, clock: ClockDep,
                name: Short = "", kind: Short = "", category_code: Short = "", territory_code: Short = "",
                owner_code: Short = "", unit_code: Short = "", target_level: Short = "", target_industry: Short = "",
                priority: Short = "0", active: Short = "") -> Response:
    form = _rule_fields(name, kind, category_code, territory_code, owner_code, unit_code, target_level,
                        target_industry, priority, active)
    return _save_rule(request, session, principal, clock.now(), None, form)


@router.get("/admin/routing/rules/{rule_id}")
def edit_rule(request: Request, rule_id: int, session: ReadSessionDep, principal: RoutingManager) -> Response:
    row = _rule_row(session, routing_service.get_rule(session, rule_id))
    form = {f: "" if row[f] is None else str(row[f]) for f in _RULE_FIELDS} | {"active": row["active"]}
    return _rule_form(request, principal, rule_id=rule_id, form=form)


@router.post("/admin/routing/rules/{rule_id}")
def save_rule(request: Request, rule_id: int, session: SessionDep, principal: RoutingManager, clock: ClockDep,
              name: Short = "", kind: Short = "", category_code: Short = "", territory_code: Short = "",
              owner_code: Short = "", unit_code: Short = "", target_level: Short = "", target_industry: Short = "",
              priority: Short = "0", active: Short = "") -> Response:
    routing_service.get_rule(session, rule_id)  # an unknown rule is a 404 page, not a form to fix
    form = _rule_fields(name, kind, category_code, territory_code, owner_code, unit_code, target_level,
                        target_industry, priority, active)
    return _save_rule(request, session, principal, clock.now(), rule_id, form)


@router.post("/admin/routing/policies")
def set_policy(request: Request, session: SessionDep, principal: RoutingManager, clock: ClockDep,
               kind: Short = "", category_code: Short = "", command_level: Short = "",
               auto_dispatch: Short = "") -> Response:
    """一级监督、两级指挥: which centre dispatches a class (or a 2-digit major) and whether filing dispatches it."""
    form = {"kind": kind, "category_code": category_code, "command_level": command_level,
            "auto_dispatch": auto_dispatch == "1"}
    try:
        if kind not in Kind.__members__.values():
            raise ValidationFailed("kind: choose 部件 or 事件", field="kind")
        body = PolicyIn.model_validate({"command_level": command_level, "auto_dispatch": auto_dispatch == "1"})
        routing_service.set_policy(session, kind=Kind(kind), category_code=category_code.strip(),
                                   command_level=body.command_level, auto_dispatch=body.auto_dispatch,
                                   now=clock.now())
        session.flush()
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, status = refusal(exc)
        return _routing_page(request, session, principal, error=error, policy_form=form, status=status)
    session.commit()
    return back(request, "/admin/routing", "policy_saved")
