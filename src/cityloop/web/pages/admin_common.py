"""What the admin pages share: Chinese names of the fields services blame, flash messages after a redirect,
and turning form text into values."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.core.errors import DomainError, ValidationFailed
from cityloop.units.models import UnitLevel
from cityloop.web import forms
from cityloop.web.templating import redirect, render

# The field a DomainError or pydantic error names, as the forms label it: the message says which box to fix.
FIELD_LABELS: dict[str, str] = {
    "username": "用户名", "password": "密码", "display_name": "显示名称", "roles": "角色", "unit": "所属单位",
    "unit_id": "所属单位", "area_code": "辖区代码", "user_id": "用户",
    "code": "代码", "name": "名称", "level": "层级", "parent": "上级单位", "industry": "行业",
    "version": "版本代码", "file": "文件", "day": "日期", "note": "说明", "year": "年份",
    "kind": "类型", "category_code": "类别代码", "territory_code": "区域代码", "owner_code": "权属单位代码",
    "unit_code": "目标单位", "target_level": "目标层级", "target_industry": "目标行业", "priority": "优先级",
    "active": "启用", "command_level": "指挥层级", "rule_id": "规则",
    "type": "设备类型", "vendor": "厂商", "algorithm": "算法", "algorithm_version": "算法版本", "lat": "纬度",
    "lon": "经度", "alarm_threshold": "报警阈值", "alarm_category_code": "报警类别代码", "device_id": "设备",
    "scopes": "权限范围", "key": "密钥", "auto_at": "自动立案阈值", "review_at": "人工审核阈值",
    "radius_m": "合并半径", "window_min": "合并时间窗",
}

# Flash messages after a redirect, by the code in `?done=`: a code, not text, so that no link can make the
# console say something it did not say.
DONE: dict[str, str] = {
    "user_created": "用户已创建", "user_saved": "用户信息已保存", "password_reset": "密码已重置",
    "user_disabled": "账号已停用", "user_enabled": "账号已启用",
    "unit_created": "处置单位已创建", "unit_saved": "处置单位已保存",
    "imported": "立结案标准已导入", "adopted": "已启用该版本，新上报的问题将按此版本分类",
    "day_saved": "日历已保存", "day_deleted": "已删除该日的设置",
    "rule_created": "派遣规则已创建", "rule_saved": "派遣规则已保存", "policy_saved": "派遣策略已保存",
    "device_retired": "设备已停用，其密钥已失效", "key_revoked": "接口密钥已吊销",
    "threshold_saved": "阈值已保存", "threshold_deleted": "阈值已删除",
    "dedup_saved": "合并规则已保存", "dedup_deleted": "合并规则已删除",
}

PAGE_SIZE = 50

LEVEL_LABELS = {UnitLevel.CITY: "市级", UnitLevel.DISTRICT: "区级", UnitLevel.STREET: "街道（乡镇）",
                UnitLevel.COMMUNITY: "社区（村）"}


def done(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


def label(field: str | None) -> str:
    return FIELD_LABELS.get(field or "", field or "")


def problem(exc: DomainError) -> str:
    """A service's refusal as the form shows it: the field's Chinese name first, then what was wrong."""
    return forms.message(exc, FIELD_LABELS)


def invalid(exc: ValidationError) -> tuple[str, str | None]:
    """(message, field) for the first problem pydantic found in a form turned into a model."""
    refused = forms.invalid(exc)
    return problem(refused), refused.field


def refusal(exc: ValidationError | DomainError) -> tuple[str, int]:
    """(message, status) for a refused form, whether pydantic or a service refused it."""
    if isinstance(exc, ValidationError):
        return invalid(exc)[0], 422
    return problem(exc), form_status(exc)


def blank_none(value: str | None) -> str | None:
    """A form's empty box means "not given"."""
    value = (value or "").strip()
    return value or None


def number(value: str | None, field: str) -> float | None:
    """A float from a form box, or None when empty; text that is no number is the user's error on `field`."""
    text = blank_none(value)
    if text is None:
        return None
    try:
        result = float(text)
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a number", field=field) from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ValidationFailed(f"{text!r} is not a finite number", field=field)
    return result


def pages(total: int, limit: int, offset: int) -> dict[str, Any]:
    """What the pager macro needs."""
    return {"total": total, "limit": limit, "offset": offset,
            "prev": max(0, offset - limit) if offset > 0 else None,
            "next": offset + limit if offset + limit < total else None}


# The admin sections, in the order the index and the tabs show them, with the permission that opens each.
SECTIONS: tuple[tuple[str, str, Permission, str], ...] = (
    ("/admin/users", "用户与角色", Permission.USER_READ, "账号、角色、所属单位与辖区；重置密码，停用账号"),
    ("/admin/units", "处置单位", Permission.UNIT_READ, "专业部门与处置单位的名录和层级"),
    ("/admin/standards", "立结案标准", Permission.UNIT_READ, "部件事件分类与立结案标准的版本，Excel 导入导出"),
    ("/admin/calendar", "工作日历", Permission.CALENDAR_MANAGE, "法定节假日与调休，计时按此计算工作日"),
    ("/admin/routing", "派遣规则", Permission.ROUTING_READ, "类别 × 区域 → 处置单位，以及各类别的指挥层级"),
    ("/admin/devices", "采集设备", Permission.INTAKE_MANAGE, "智能视频、无人机、车载与物联感知设备"),
    ("/admin/apikeys", "接口密钥", Permission.INTAKE_MANAGE, "Open311 客户端与 12345 热线平台的接入密钥"),
    ("/admin/intake-rules", "机器上报规则", Permission.INTAKE_MANAGE, "自动立案与人工审核阈值、重复合并规则"),
)


def sections_for(principal: Principal) -> list[dict[str, str]]:
    return [{"url": url, "title": title, "about": about}
            for url, title, permission, about in SECTIONS if principal.has(permission)]


def render_admin(request: Request, principal: Principal, template: str, context: dict[str, Any] | None = None,
                 *, status_code: int = 200) -> HTMLResponse:
    """render() with what every admin page shows: the section tabs and the flash of the last change."""
    ctx = {"sections": sections_for(principal), "done": done(request), **(context or {})}
    return render(request, template, ctx, status_code=status_code)


def back(request: Request, url: str, code: str, **params: str | int) -> Response:
    """PRG: after a change, to the list with the flash `code` (and the list's own filters)."""
    query = urlencode({"done": code, **{k: v for k, v in params.items() if v != ""}})
    return redirect(request, f"{url}?{query}")


def form_status(exc: DomainError) -> int:
    """A refused form comes back as 409 (it clashes with what is stored) or 422 (the input is wrong)."""
    return 409 if exc.status == 409 else 422


def as_int(value: str, default: int = 0) -> int:
    """A number from the query string; anything else (a hand-edited URL) falls back rather than erroring."""
    text = value.strip()
    return int(text) if text.isdigit() and len(text) < 10 else default
