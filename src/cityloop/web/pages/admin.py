"""系统管理: the index, users and roles, handling units. The other sections live in admin_config (standards,
calendar, routing) and admin_intake (devices, API keys, machine rules), whose routers this one includes, so the
app installs the whole console's admin under this one router."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cityloop.auth import service as auth_service
from cityloop.auth.models import User
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep
from cityloop.units import queries as unit_queries
from cityloop.units import service as unit_service
from cityloop.units.models import Unit, UnitLevel
from cityloop.web import session as web_session
from cityloop.web.pages import admin_config, admin_intake
from cityloop.web.pages.admin_common import (
    LEVEL_LABELS,
    PAGE_SIZE,
    as_int,
    back,
    blank_none,
    form_status,
    pages,
    problem,
    render_admin,
    sections_for,
)
from cityloop.web.session import WebPrincipal, require

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

P = Permission
UserReader = Annotated[Principal, require(P.USER_READ)]
UserManager = Annotated[Principal, require(P.USER_MANAGE)]
UnitReader = Annotated[Principal, require(P.UNIT_READ)]
UnitManager = Annotated[Principal, require(P.UNIT_MANAGE)]
Text = Annotated[str, Form(max_length=300)]
Many = Annotated[list[str] | None, Form()]



@router.get("/admin")
def index(request: Request, principal: WebPrincipal) -> Response:
    sections = sections_for(principal)
    if not sections:
        raise Forbidden("你的角色没有可用的系统管理功能", code="forbidden")
    return render_admin(request, principal, "admin/index.html", {"items": sections})


# --- users and roles ---------------------------------------------------------------------------------------

def _unit_choices(session: Session, keep: list[int] | None = None) -> list[Unit]:
    """Active units for a picker, plus any inactive ones the user still belongs to (so saving keeps them)."""
    rows, _ = unit_queries.list_units(session, PageParams(MAX_LIMIT, 0), active=True)
    units = list(rows)
    missing = set(keep or ()) - {u.id for u in units}
    units += [u for u in (session.get(Unit, i) for i in sorted(missing)) if u is not None]
    return units


def _roles(values: list[str] | None) -> list[Role]:
    try:
        return [Role(v) for v in values or []]
    except ValueError:
        raise ValidationFailed("roles: unknown role", field="roles") from None


def _unit_ids(values: list[str] | None) -> list[int]:
    ids = [v for v in (values or []) if v]
    if not all(v.isdigit() for v in ids):
        raise ValidationFailed("unit: choose units from the list", field="unit")
    return [int(v) for v in ids]


def _user_row(user: User, unit_names: dict[int, str]) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "roles": sorted(user.role_set), "units": [unit_names.get(m.unit_id, f"#{m.unit_id}")
                                                      for m in user.memberships],
            "area_code": user.area_code, "active": user.active, "created_at": user.created_at}


@router.get("/admin/users")
def users(request: Request, session: ReadSessionDep, principal: UserReader, q: str = "",
          offset: str = "0") -> Response:
    start = as_int(offset)
    rows, total = auth_service.list_users(session, PageParams(PAGE_SIZE, start), q=q.strip()[:64] or None)
    names = unit_queries.names_by_id(session, {m.unit_id for u in rows for m in u.memberships})
    return render_admin(request, principal, "admin/users.html", {
        "users": [_user_row(u, names) for u in rows], "q": q, "paging": pages(total, PAGE_SIZE, start),
        "can_manage": principal.has(P.USER_MANAGE)})


def _user_form(request: Request, session: Session, principal: Principal, *, user: User | None,
               form: dict[str, Any], error: str | None = None, status: int = 200) -> Response:
    return render_admin(request, principal, "admin/user_form.html", {
        "user": user, "form": form, "error": error, "all_roles": list(Role),
        "units": _unit_choices(session, form.get("unit_ids"))}, status_code=status)


@router.get("/admin/users/new")
def new_user(request: Request, session: ReadSessionDep, principal: UserManager) -> Response:
    form = {"username": "", "display_name": "", "roles": [], "unit_ids": [], "area_code": ""}
    return _user_form(request, session, principal, user=None, form=form)


@router.post("/admin/users")
def create_user(request: Request, session: SessionDep, principal: UserManager, clock: ClockDep,
                username: Annotated[str, Form(max_length=64)] = "", display_name: Text = "",
                password: Annotated[str, Form(max_length=256)] = "", roles: Many = None, unit_id: Many = None,
                area_code: Annotated[str, Form(max_length=20)] = "") -> Response:
    form = {"username": username, "display_name": display_name, "roles": roles or [], "area_code": area_code,
            "unit_ids": [int(v) for v in unit_id or [] if v.isdigit()]}
    try:
        unit_ids = _unit_ids(unit_id)
        for uid in unit_ids:
            unit_service.get_active(session, uid, field="unit")
        user = auth_service.create_user(
            session, request.app.state.password_policy, username=username, password=password,
            roles=_roles(roles), unit_ids=unit_ids, display_name=display_name.strip(),
            area_code=blank_none(area_code), now=clock.now())
        session.flush()  # flush: a taken username surfaces here, as a form error, not at commit
    except DomainError as exc:
        session.rollback()
        return _user_form(request, session, principal, user=None, form=form, error=problem(exc),
                          status=form_status(exc))
    session.commit()
    return back(request, "/admin/users", "user_created", q=user.username)


def _edit_form(user: User) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "roles": [r.value for r in user.role_set],
            "unit_ids": [m.unit_id for m in user.memberships], "area_code": user.area_code or ""}


@router.get("/admin/users/{user_id}")
def edit_user(request: Request, user_id: int, session: ReadSessionDep, principal: UserManager) -> Response:
    user = auth_service.require_user(session, user_id)
    return _user_form(request, session, principal, user=user, form=_edit_form(user))


@router.post("/admin/users/{user_id}")
def save_user(request: Request, user_id: int, session: SessionDep, principal: UserManager,
              display_name: Text = "", roles: Many = None, unit_id: Many = None,
              area_code: Annotated[str, Form(max_length=20)] = "") -> Response:
    user = auth_service.require_user(session, user_id)
    form = {"username": user.username, "display_name": display_name, "roles": roles or [],
            "area_code": area_code, "unit_ids": [int(v) for v in unit_id or [] if v.isdigit()]}
    try:
        role_list = _roles(roles)
        if user.id == principal.user_id and Role.ADMIN in user.role_set and Role.ADMIN not in role_list:
            # Nobody may lock the console out by taking away the last admin's own role by accident.
            raise Conflict("roles: you cannot remove your own admin role", field="roles")
        unit_ids = _unit_ids(unit_id)
        current = {m.unit_id for m in user.memberships}
        for uid in unit_ids:
            if uid not in current:
                unit_service.get_active(session, uid, field="unit")
        auth_service.update_user(session, user.id, roles=role_list, unit_ids=unit_ids,
                                 area_code=blank_none(area_code), display_name=display_name)
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _user_form(request, session, principal, user=auth_service.require_user(session, user_id), form=form,
                          error=problem(exc), status=form_status(exc))
    session.commit()
    return back(request, "/admin/users", "user_saved", q=user.username)


@router.post("/admin/users/{user_id}/password")
def reset_password(request: Request, user_id: int, session: SessionDep, principal: UserManager,
                   password: Annotated[str, Form(max_length=256)] = "") -> Response:
    user = auth_service.require_user(session, user_id)
    try:
        auth_service.set_password(session, request.app.state.password_policy, user.username, password)
    except DomainError as exc:
        session.rollback()
        user = auth_service.require_user(session, user_id)
        return _user_form(request, session, principal, user=user, form=_edit_form(user),
                          error=problem(exc), status=422)
    session.commit()
    return back(request, "/admin/users", "password_reset", q=user.username)


@router.post("/admin/users/{user_id}/active")
def set_user_active(request: Request, user_id: int, session: SessionDep, principal: UserManager,
                    active: Annotated[str, Form(max_length=5)] = "") -> Response:
    if active not in ("0", "1"):
        raise ValidationFailed("active: 0 or 1", field="active")
    if user_id == principal.user_id and active == "0":
        raise Conflict("你不能停用自己的账号", field="active")
    user = auth_service.set_active(session, user_id, active == "1")
    session.commit()
    return back(request, "/admin/users", "user_enabled" if user.active else "user_disabled", q=user.username)


# --- handling units ----------------------------------------------------------------------------------------

@router.get("/admin/units")
def units(request: Request, session: ReadSessionDep, principal: UnitReader, q: str = "", level: str = "",
          offset: str = "0") -> Response:
    start = as_int(offset)
    chosen = UnitLevel(level) if level in UnitLevel.__members__.values() else None
    rows, total = unit_queries.list_units(session, PageParams(PAGE_SIZE, start), level=chosen,
                                          q=q.strip()[:100] or None, active=None)
    parents = unit_queries.names_by_id(session, {u.parent_id for u in rows if u.parent_id is not None})
    return render_admin(request, principal, "admin/units.html", {
        "units": rows, "parents": parents, "q": q, "level": chosen.value if chosen else "",
        "levels": LEVEL_LABELS, "paging": pages(total, PAGE_SIZE, start),
        "can_manage": principal.has(P.UNIT_MANAGE)})


def _unit_form(request: Request, session: Session, principal: Principal, *, unit: Unit | None,
               form: dict[str, Any], error: str | None = None, status: int = 200) -> Response:
    return render_admin(request, principal, "admin/unit_form.html", {
        "unit": unit, "form": form, "error": error, "levels": LEVEL_LABELS,
        "parents": _unit_choices(session)}, status_code=status)


@router.get("/admin/units/new")
def new_unit(request: Request, session: ReadSessionDep, principal: UnitManager) -> Response:
    form = {"code": "", "name": "", "level": UnitLevel.DISTRICT.value, "industry": "", "parent": "",
            "active": True}
    return _unit_form(request, session, principal, unit=None, form=form)


@router.post("/admin/units")
def create_unit(request: Request, session: SessionDep, principal: UnitManager, clock: ClockDep,
                code: Annotated[str, Form(max_length=32)] = "", name: Annotated[str, Form(max_length=200)] = "",
                level: Annotated[str, Form(max_length=20)] = "", industry: Annotated[str, Form(max_length=64)] = "",
                parent: Annotated[str, Form(max_length=32)] = "") -> Response:
    form = {"code": code, "name": name, "level": level, "industry": industry, "parent": parent, "active": True}
    try:
        if level not in UnitLevel.__members__.values():
            raise ValidationFailed("level: choose a level", field="level")
        unit = unit_service.create_unit(session, code=code, name=name, level=UnitLevel(level), now=clock.now(),
                                        industry=industry, parent_code=blank_none(parent))
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _unit_form(request, session, principal, unit=None, form=form, error=problem(exc),
                          status=form_status(exc))
    session.commit()
    return back(request, "/admin/units", "unit_created", q=unit.code)


@router.get("/admin/units/{unit_id}")
def edit_unit(request: Request, unit_id: int, session: ReadSessionDep, principal: UnitManager) -> Response:
    unit = unit_service.get_unit(session, unit_id)
    parent = session.get(Unit, unit.parent_id) if unit.parent_id is not None else None
    form = {"code": unit.code, "name": unit.name, "level": unit.level.value, "industry": unit.industry,
            "parent": parent.code if parent else "", "active": unit.active}
    return _unit_form(request, session, principal, unit=unit, form=form)


@router.post("/admin/units/{unit_id}")
def save_unit(request: Request, unit_id: int, session: SessionDep, principal: UnitManager,
              name: Annotated[str, Form(max_length=200)] = "", active: Annotated[str, Form(max_length=5)] = "",
              parent: Annotated[str, Form(max_length=32)] = "") -> Response:
    unit = unit_service.get_unit(session, unit_id)
    form = {"code": unit.code, "name": name, "level": unit.level.value, "industry": unit.industry,
            "parent": parent, "active": active == "1"}
    try:
        unit_service.update_unit(session, unit_id, name=name, active=active == "1", parent_code=blank_none(parent))
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _unit_form(request, session, principal, unit=unit_service.get_unit(session, unit_id), form=form,
                          error=problem(exc), status=form_status(exc))
    session.commit()
    return back(request, "/admin/units", "unit_saved", q=unit.code)


# Included last and here, so that installing `router` installs every admin page.
router.include_router(admin_config.router)
router.include_router(admin_intake.router)
