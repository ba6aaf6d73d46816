"""Wires the console into the application: static files, page routers, and errors as pages."""

from __future__ import annotations

import inspect
import logging

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cityloop.core.errors import DomainError
from cityloop.web import session as web_session
from cityloop.web import vendor
from cityloop.web.pages import admin, auth, cases, map, mobile, public, queues, review
from cityloop.web.templating import STATIC_DIR, STATIC_URL, is_htmx, make_templates, render

# review before queues: /work/review is not one of the /work/{name} queues.
ROUTERS = (auth.router, review.router, queues.router, cases.router, map.router, mobile.router, public.router,
           admin.router)


log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    absent = vendor.missing()
    if absent:
        # The pages still render, but maps, charts and htmx would be dead: say so once, loudly.
        log.warning("web console: front-end files missing (%s); run `make` (npm ci + python -m cityloop.web.vendor)",
                    ", ".join(absent))
    app.state.templates = make_templates(app.state.settings.ui_language)
    # The console's own files, and the npm-installed libraries beside them (vendor/ is not committed).
    app.mount(f"{STATIC_URL}/vendor", StaticFiles(directory=vendor.VENDOR_DIR, check_dir=False), name="web-vendor")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR / "web"), name="web-static")
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(web_session.LoginRequired)
    async def login_required(request: Request, exc: web_session.LoginRequired) -> Response:
        url = web_session.login_url(exc.next_url)
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": url})
        response = RedirectResponse(url, status_code=303)
        web_session.clear_session(response)
        return response

    @app.exception_handler(web_session.CsrfFailed)
    async def csrf_failed(request: Request, _exc: web_session.CsrfFailed) -> Response:
        return render(request, "errors/error.html", {
            "status": 403, "title": "页面已过期",
            "message": "表单的安全校验未通过（CSRF）：请刷新页面后重试。"}, status_code=403)

    api_handler = app.exception_handlers[DomainError]

    async def domain_error(request: Request, exc: Exception) -> Response:
        # API clients get JSON from the API's handler; a page gets a page.
        if not getattr(request.state, "web", False):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        assert isinstance(exc, DomainError)
        titles = {401: "请先登录", 403: "没有权限", 404: "未找到", 409: "操作冲突"}
        return render(request, "errors/error.html", {
            "status": exc.status, "title": titles.get(exc.status, "请求有误"), "message": exc.message,
            "field": exc.field}, status_code=exc.status)

    app.add_exception_handler(DomainError, domain_error)
