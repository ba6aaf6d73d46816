"""Jinja2 set-up: one environment per app, gettext-ready (Chinese source strings), shared filters.

Templates write user-facing text as `_("…")` in Chinese; a `locale/<lang>/LC_MESSAGES/cityloop.mo` catalog
turns it into another language (setting `ui_language`), and with none the Chinese shows as written.
"""

from __future__ import annotations

import gettext
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

import cityloop
from cityloop.auth.permissions import ROLE_LABELS, Permission, Role
from cityloop.cases import workflow as wf
from cityloop.core.clock import to_business
from cityloop.web import geojson
from cityloop.web import session as web_session

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
LOCALE_DIR = HERE / "locale"
STATIC_URL = "/static/web"

LIGHT_LABELS = {"green": "正常", "yellow": "即将超时", "red": "已超时"}

# What a page says after a command, by the code in `?done=` (and the case number in `?case=`): codes, never text
# from the URL, so that no link can make the console say something it did not say.
FLASH: dict[str, str] = {**{a.value: f"已{label}" for a, label in wf.ACTION_LABELS.items()},
                         "reported": "已上报", "review_accepted": "已确认属实并受理",
                         "review_rejected": "已驳回（计入算法误报）"}
_CASE_NUMBER = re.compile(r"\d{8,20}")


def flash_url(url: str, code: str, number: str | None = None) -> str:
    query = urlencode({"done": code, **({"case": number} if number else {})})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def flash(request: Request) -> str | None:
    label = FLASH.get(request.query_params.get("done", ""))
    if label is None:
        return None
    number = request.query_params.get("case", "")
    return f"{number}：{label}" if _CASE_NUMBER.fullmatch(number) else label


def bizdt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the city reads it (Asia/Shanghai)."""
    return "" if value is None else to_business(value).strftime(fmt)


def duration(minutes: int | float | None, working: bool = True) -> str:
    """Remaining time in 工作时/分 (working clocks) or 时/分, negative as 超时."""
    if minutes is None:
        return ""
    m = int(minutes)
    late, m = m < 0, abs(m)
    days, rest = divmod(m, 24 * 60) if not working else (0, m)
    hours, mins = divmod(rest, 60)
    hour_word = "工作时" if working else "小时"
    parts = ([f"{days}天"] if days else []) + ([f"{hours}{hour_word}"] if hours else []) + [f"{mins}分"]
    text = "".join(parts if (hours or days) and mins else (parts[:-1] if hours or days else parts))
    return f"超时{text}" if late else text


def make_templates(language: str = "zh_CN", locale_dir: Path = LOCALE_DIR) -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "xml"]),
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"], trim_blocks=True,
                      lstrip_blocks=True)
    translations = gettext.translation("cityloop", localedir=locale_dir, languages=[language], fallback=True)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(bizdt=bizdt, duration=duration, urlquote=lambda s: quote(str(s), safe=""))
    env.globals.update(
        static=lambda path: f"{STATIC_URL}/{path}?v={cityloop.__version__}",
        STATUS_LABELS=wf.STATUS_LABELS, ACTION_LABELS=wf.ACTION_LABELS, ROLE_LABELS=ROLE_LABELS,
        LIGHT_LABELS=LIGHT_LABELS, Permission=Permission, Role=Role, version=cityloop.__version__)
    return Jinja2Templates(env=env)


def map_config(request: Request) -> dict[str, Any]:
    """What app.js needs to draw any map: the tiles (or none) and where to centre, in the tiles' datum."""
    settings = request.app.state.settings
    lon, lat = (float(v) for v in settings.map_center.split(","))
    tiles = None
    if settings.map_tile_url:
        tiles = {"url": settings.map_tile_url, "crs": settings.map_tile_crs,
                 "attribution": settings.map_tile_attribution, "maxZoom": settings.map_tile_max_zoom}
    glon, glat = geojson.point(lon, lat, settings.map_tile_crs if tiles else "wgs84")
    return {"tiles": tiles, "center": [glat, glon]}


def datum(request: Request) -> geojson.Datum:
    """The datum GeoJSON is served in: the tiles' one, asked for by app.js as ?crs=gcj02."""
    return "gcj02" if request.query_params.get("crs") == "gcj02" else "wgs84"


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    ctx = {"principal": getattr(request.state, "principal", None), "map_config": map_config(request),
           "done": flash(request),
           "csrf_token": web_session.csrf_token(request), "htmx": is_htmx(request),
           "path": request.url.path, "settings": request.app.state.settings, **(context or {})}
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    web_session.persist_csrf(request, response)
    return response


def redirect(request: Request, url: str) -> Response:
    """After a form post: 303 to the page to show (htmx follows it too, then swaps the page it gets)."""
    response = RedirectResponse(url, status_code=303)
    web_session.persist_csrf(request, response)
    return response
