"""系统管理 · 采集设备, 接口密钥, 机器上报规则: who may send reports in, and how machine reports are judged.
Installed through web/pages/admin.py, which includes this router.

A new key is shown once, on the page that answers the post that made it: it is never put in a redirect URL,
where it would stay in the browser's history and the server's logs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope, Permission
from cityloop.auth.principal import Principal
from cityloop.core.errors import Conflict, DomainError, ValidationFailed
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep
from cityloop.intake import devices, rules
from cityloop.intake.models import DEVICE_TYPE_LABELS, Device
from cityloop.intake.schemas import DedupRuleIn, DeviceIn, DevicePatch, ThresholdIn
from cityloop.web import session as web_session
from cityloop.web.pages.admin_common import back, blank_none, form_status, number, problem, refusal, render_admin
from cityloop.web.session import require

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

Manager = Annotated[Principal, require(Permission.INTAKE_MANAGE)]
Short = Annotated[str, Form(max_length=100)]

SCOPE_LABELS = {ApiScope.OPEN311: "Open311 客户端（市民服务请求）", ApiScope.HOTLINE: "12345 热线等平台推送工单",
                ApiScope.DEVICE: "采集设备"}
# Device keys are issued with their device (devices.add): a device-scoped key with no device row behind it
# would authenticate nothing, so the API-key form offers only the other scopes.
FORM_SCOPES = [s for s in ApiScope if s is not ApiScope.DEVICE]


def _key_shown(request: Request, principal: Principal, *, title: str, key: str, about: str,
               back_url: str) -> Response:
    response = render_admin(request, principal, "admin/key_shown.html", {
        "title": title, "key": key, "about": about, "back_url": back_url})
    response.headers["Cache-Control"] = "no-store"  # the key must not outlive this page in any cache
    return response


# --- 采集设备 --------------------------------------------------------------------------------------------

def _devices_page(request: Request, session: Session, principal: Principal, *, form: dict[str, Any] | None = None,
                  error: str | None = None, status: int = 200) -> Response:
    return render_admin(request, principal, "admin/devices.html", {
        "devices": devices.list_devices(session), "types": DEVICE_TYPE_LABELS, "error": error,
        "form": form or {"name": "", "type": "video_ai", "vendor": "", "algorithm": "", "algorithm_version": "",
                         "lat": "", "lon": "", "alarm_threshold": "", "alarm_category_code": ""}},
        status_code=status)


@router.get("/admin/devices")
def device_list(request: Request, session: ReadSessionDep, principal: Manager) -> Response:
    return _devices_page(request, session, principal)


@router.post("/admin/devices")
def add_device(request: Request, session: SessionDep, principal: Manager, clock: ClockDep, name: Short = "",
               type: Short = "", vendor: Short = "", algorithm: Short = "", algorithm_version: Short = "",
               lat: Short = "", lon: Short = "", alarm_threshold: Short = "",
               alarm_category_code: Short = "") -> Response:
    form = {"name": name, "type": type, "vendor": vendor, "algorithm": algorithm,
            "algorithm_version": algorithm_version, "lat": lat, "lon": lon, "alarm_threshold": alarm_threshold,
            "alarm_category_code": alarm_category_code}
    try:
        data = DeviceIn.model_validate({
            "name": name.strip(), "type": type, "vendor": vendor.strip(), "algorithm": algorithm.strip(),
            "algorithm_version": algorithm_version.strip(), "lat": number(lat, "lat"), "lon": number(lon, "lon"),
            "alarm_threshold": number(alarm_threshold, "alarm_threshold"),
            "alarm_category_code": blank_none(alarm_category_code)})
        device, key = devices.add(session, data, now=clock.now(), created_by=principal.user_id)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, status = refusal(exc)
        return _devices_page(request, session, principal, form=form, error=error, status=status)
    session.commit()
    return _key_shown(request, principal, title=f"设备「{device.name}」已登记", key=key,
                      about=f"设备编号 {device.id}。把密钥配置到设备上，设备上报时放在请求头 {apikeys.HEADER} 中。",
                      back_url="/admin/devices")


def _active_device(session: Session, device_id: int) -> Device:
    device = devices.get(session, device_id)
    if not device.active:
        raise Conflict("device_id: the device is retired; reactivate it to issue a new key", field="device_id")
    return device


@router.post("/admin/devices/{device_id}/retire")
def retire_device(request: Request, device_id: int, session: SessionDep, _p: Manager, clock: ClockDep) -> Response:
    """Retiring revokes the device's key at once (devices.update)."""
    devices.update(session, device_id, DevicePatch(active=False), now=clock.now())
    session.commit()
    return back(request, "/admin/devices", "device_retired")


@router.post("/admin/devices/{device_id}/reactivate")
def reactivate_device(request: Request, device_id: int, session: SessionDep, principal: Manager,
                      clock: ClockDep) -> Response:
    """Retiring revoked the old key, so bringing a device back issues it a new one."""
    now = clock.now()
    devices.update(session, device_id, DevicePatch(active=True), now=now)
    device, key = devices.rotate_key(session, device_id, now=now, created_by=principal.user_id)
    session.commit()
    return _key_shown(request, principal, title=f"设备「{device.name}」已重新启用", key=key,
                      about="旧密钥已失效；请把新密钥配置到设备上。", back_url="/admin/devices")


@router.post("/admin/devices/{device_id}/rotate")
def rotate_device_key(request: Request, device_id: int, session: SessionDep, principal: Manager,
                      clock: ClockDep) -> Response:
    _active_device(session, device_id)
    device, key = devices.rotate_key(session, device_id, now=clock.now(), created_by=principal.user_id)
    session.commit()
    return _key_shown(request, principal, title=f"设备「{device.name}」的密钥已更换", key=key,
                      about="旧密钥已立即失效；请把新密钥配置到设备上。", back_url="/admin/devices")


# --- 接口密钥 --------------------------------------------------------------------------------------------

def _keys_page(request: Request, session: Session, principal: Principal, *, form: dict[str, Any] | None = None,
               error: str | None = None, status: int = 200) -> Response:
    return render_admin(request, principal, "admin/apikeys.html", {
        "keys": apikeys.list_keys(session), "scopes": {s: SCOPE_LABELS[s] for s in FORM_SCOPES},
        "scope_labels": SCOPE_LABELS, "error": error,
        "form": form or {"name": "", "scopes": [ApiScope.OPEN311.value]}}, status_code=status)


@router.get("/admin/apikeys")
def key_list(request: Request, session: ReadSessionDep, principal: Manager) -> Response:
    return _keys_page(request, session, principal)


@router.post("/admin/apikeys")
def create_key(request: Request, session: SessionDep, principal: Manager, clock: ClockDep, name: Short = "",
               scopes: Annotated[list[str] | None, Form()] = None) -> Response:
    form = {"name": name, "scopes": scopes or []}
    try:
        allowed = {s.value for s in FORM_SCOPES}
        if any(s not in allowed for s in scopes or []):
            raise ValidationFailed("scopes: device keys are issued on the device page", field="scopes")
        key, raw = apikeys.create(session, name, [ApiScope(s) for s in scopes or []], now=clock.now(),
                                  created_by=principal.user_id)
    except DomainError as exc:
        session.rollback()
        return _keys_page(request, session, principal, form=form, error=problem(exc), status=form_status(exc))
    session.commit()
    return _key_shown(request, principal, title=f"接口密钥「{key.name}」已创建", key=raw,
                      about=f"对方系统调用时在请求头 {apikeys.HEADER} 中携带此密钥（Open311 也可用 api_key 字段）。",
                      back_url="/admin/apikeys")


@router.post("/admin/apikeys/{key_id}/revoke")
def revoke_key(request: Request, key_id: int, session: SessionDep, _p: Manager, clock: ClockDep) -> Response:
    """Requests with the key are refused from the next one on."""
    apikeys.revoke(session, str(key_id), now=clock.now())
    session.commit()
    return back(request, "/admin/apikeys", "key_revoked")


# --- 机器上报规则 ----------------------------------------------------------------------------------------

def _rules_page(request: Request, session: Session, principal: Principal, *, error: str | None = None,
                threshold_form: dict[str, Any] | None = None, dedup_form: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    settings = rules.settings_of(session)
    return render_admin(request, principal, "admin/intake_rules.html", {
        "thresholds": rules.list_thresholds(session), "dedup_rules": rules.list_dedup_rules(session),
        "defaults": {"auto_at": settings.machine_auto_at, "review_at": settings.machine_review_at,
                     "radius_m": settings.dedup_radius_m, "window_min": settings.dedup_window_min},
        "error": error,
        "threshold_form": threshold_form or {"category_code": "", "algorithm": "*", "auto_at": "",
                                             "review_at": ""},
        "dedup_form": dedup_form or {"category_code": "", "radius_m": "", "window_min": ""}},
        status_code=status)


@router.get("/admin/intake-rules")
def intake_rules(request: Request, session: ReadSessionDep, principal: Manager) -> Response:
    return _rules_page(request, session, principal)


@router.post("/admin/intake-rules/thresholds")
def set_threshold(request: Request, session: SessionDep, principal: Manager, clock: ClockDep,
                  category_code: Short = "", algorithm: Short = "", auto_at: Short = "",
                  review_at: Short = "") -> Response:
    """Per class and algorithm: confidence at or above auto_at files a case, below review_at drops the event."""
    form = {"category_code": category_code, "algorithm": algorithm, "auto_at": auto_at, "review_at": review_at}
    try:
        body = ThresholdIn.model_validate({
            "category_code": category_code.strip() or "*", "algorithm": algorithm.strip() or "*",
            "auto_at": number(auto_at, "auto_at"), "review_at": number(review_at, "review_at")})
        rules.set_threshold(session, body, now=clock.now())
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, status = refusal(exc)
        return _rules_page(request, session, principal, error=error, threshold_form=form, status=status)
    session.commit()
    return back(request, "/admin/intake-rules", "threshold_saved")


@router.post("/admin/intake-rules/thresholds/delete")
def delete_threshold(request: Request, session: SessionDep, _p: Manager, category_code: Short = "",
                     algorithm: Short = "") -> Response:
    rules.delete_threshold(session, category_code, algorithm)
    session.commit()
    return back(request, "/admin/intake-rules", "threshold_deleted")


@router.post("/admin/intake-rules/dedup")
def set_dedup_rule(request: Request, session: SessionDep, principal: Manager, clock: ClockDep,
                   category_code: Short = "", radius_m: Short = "", window_min: Short = "") -> Response:
    """Per class: reports this close in place and time join one case instead of opening another."""
    form = {"category_code": category_code, "radius_m": radius_m, "window_min": window_min}
    try:
        body = DedupRuleIn.model_validate({
            "category_code": category_code.strip() or "*", "radius_m": number(radius_m, "radius_m"),
            "window_min": window_min.strip() or None})
        rules.set_dedup_rule(session, body, now=clock.now())
    except (ValidationError, DomainError) as exc:
        session.rollback()
        error, status = refusal(exc)
        return _rules_page(request, session, principal, error=error, dedup_form=form, status=status)
    session.commit()
    return back(request, "/admin/intake-rules", "dedup_saved")


@router.post("/admin/intake-rules/dedup/delete")
def delete_dedup_rule(request: Request, session: SessionDep, _p: Manager, category_code: Short = "") -> Response:
    rules.delete_dedup_rule(session, category_code)
    session.commit()
    return back(request, "/admin/intake-rules", "dedup_deleted")
