"""The application factory: settings in, app out. Nothing connects at import time."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

import cityloop
from cityloop.areas import routes as area_routes
from cityloop.auth import routes as auth_routes
from cityloop.auth.service import PasswordPolicy
from cityloop.cases import attachment_routes
from cityloop.cases import routes as case_routes
from cityloop.catalog import routes as catalog_routes
from cityloop.core.clock import Clock, SystemClock
from cityloop.core.errors import DomainError, RateLimited
from cityloop.db.engine import make_engine
from cityloop.db.session import read_sessionmaker, write_sessionmaker
from cityloop.deadlines import routes as calendar_routes
from cityloop.intake import public_routes as intake_public_routes
from cityloop.intake import routes as intake_routes
from cityloop.open311 import routes as open311_routes
from cityloop.parts import routes as parts_routes
from cityloop.routing import routes as routing_routes
from cityloop.settings import Settings
from cityloop.stats import routes as stats_routes
from cityloop.units import routes as unit_routes
from cityloop.web import app as web_app

_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def _error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "cookie")]
    return ".".join(parts) or "body"


_NAMED_IN_MESSAGE = re.compile(r"^Value error, ([A-Za-z_][\w.\[\]]*): ")


def _field_named(error: Any, located: str) -> str:
    """A model-level check (both fields or neither, one below the other) is located at the model itself; its
    message names the field, and that is the one to report."""
    if located in ("body", "") or not error.get("loc"):
        match = _NAMED_IN_MESSAGE.match(str(error.get("msg", "")))
        if match:
            prefix = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "form"))
            return f"{prefix}.{match.group(1)}" if prefix else match.group(1)
    return located


def _validation_response(errors: list[Any]) -> JSONResponse:
    # A body that is not JSON at all is located by character offset; the field to name is the body itself.
    items = [{"field": "body" if e.get("type") == "json_invalid" else _field_named(e, _field_of(e.get("loc", ()))),
              "message": e.get("msg", "invalid")} for e in errors]
    if not items:
        return _error(422, "validation_error", "the request is not valid")
    message = "; ".join(f"{i['field']}: {i['message']}" for i in items)
    return _error(422, "validation_error", message, items[0]["field"], errors=items)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_r: Request, exc: DomainError) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.message, exc.field, details=exc.details)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def model_invalid(_r: Request, exc: ValidationError) -> JSONResponse:
        return _validation_response(list(exc.errors()))

    @app.exception_handler(StaleDataError)
    async def stale(_r: Request, _exc: StaleDataError) -> JSONResponse:
        return _error(409, "stale_version", "the case was changed by someone else at the same time; reload it")

    @app.exception_handler(IntegrityError)
    async def integrity(_r: Request, _exc: IntegrityError) -> JSONResponse:
        return _error(409, "conflict", "the change conflicts with one made at the same time; reload and retry")

    @app.exception_handler(TimeoutError)
    async def no_turn(_r: Request, exc: TimeoutError) -> JSONResponse:
        # The in-process write queue gave up (db/engine.py): the database is saturated, not broken.
        response = _error(503, "busy", f"the database is busy ({exc}); retry shortly")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(OperationalError)
    async def busy(_r: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig).lower():
            return _error(503, "busy", "the database is busy; retry shortly")
        raise exc

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))


def install_offline_docs(app: FastAPI) -> None:
    """/docs and /redoc with their scripts served by the app itself: command centres run on intranets where
    FastAPI's default CDN links would leave the pages blank. The files come from the fastapi-offline package."""
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/apidocs", StaticFiles(directory=assets), name="apidocs")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="cityloop API",
            swagger_js_url="/static/apidocs/swagger-ui-bundle.js", swagger_css_url="/static/apidocs/swagger-ui.css",
            swagger_favicon_url="/static/apidocs/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title="cityloop API",
                              redoc_js_url="/static/apidocs/redoc.standalone.js",
                              redoc_favicon_url="/static/apidocs/favicon.png", with_google_fonts=False)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    calendar_routes.log_uncovered_calendar(app.state)  # once per start, not per request
    yield


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_sqlite_dir()
    engine = make_engine(settings.database_url)
    app = FastAPI(title="cityloop", version=cityloop.__version__, docs_url=None, redoc_url=None,
                  description="数字城管 / 城市运行管理服务平台: the closed case loop. Datetimes are ISO 8601 with "
                              "offset (+08:00); coordinates are WGS-84.", lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock or SystemClock()
    app.state.write_sessions = write_sessionmaker(engine, info={"settings": settings})
    app.state.read_sessions = read_sessionmaker(engine, info={"settings": settings})
    app.state.password_policy = PasswordPolicy.from_costs(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism, demo_mode=settings.demo_mode)
    install_error_handlers(app)
    install_offline_docs(app)
    for module in (auth_routes, unit_routes, catalog_routes, case_routes, stats_routes, calendar_routes,
                   area_routes, routing_routes, parts_routes, intake_routes, intake_public_routes,
                   attachment_routes):
        app.include_router(module.router)
    web_app.install(app)
    app.include_router(open311_routes.router)  # last: it ends with a catch-all for unknown /open311 paths

    @app.get("/health", tags=["ops"])
    def health() -> JSONResponse:
        try:
            with app.state.read_sessions() as session:
                session.execute(sa.text("SELECT 1"))
        except OperationalError as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc.orig)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": cityloop.__version__,
                             "demo_mode": settings.demo_mode, "calendar": calendar_routes.calendar_health(app.state)})

    return app
