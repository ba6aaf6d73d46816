"""Sign in and out; `/` sends each role to its own work queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityloop.auth import service as auth_service
from cityloop.core.errors import NotAuthenticated
from cityloop.core.ratelimit import RateLimiter
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.web import session as web_session
from cityloop.web.session import MaybePrincipal
from cityloop.web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])

# Password guessing is slowed per client address; argon2 already makes each try cost the server.
_ATTEMPTS_PER_MINUTE = 20


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = request.app.state.login_limiter = RateLimiter(_ATTEMPTS_PER_MINUTE, timedelta(minutes=1))
    return limiter


@router.get("/")
def home(principal: MaybePrincipal) -> Response:
    return RedirectResponse(web_session.landing(principal) if principal else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request, principal: MaybePrincipal, next: str | None = None) -> Response:
    if principal is not None:
        return redirect(request, web_session.safe_next(next) or web_session.landing(principal))
    return render(request, "auth/login.html", {"next": web_session.safe_next(next) or "", "error": None,
                                               "username": ""})


@router.post("/login")
def login(request: Request, read: ReadSessionDep, session: SessionDep, clock: ClockDep, settings: SettingsDep,
          username: Annotated[str, Form(max_length=64)] = "", password: Annotated[str, Form(max_length=256)] = "",
          next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    def again(message: str, status: int) -> Response:
        return render(request, "auth/login.html", {"next": web_session.safe_next(next) or "", "error": message,
                                                   "username": username}, status_code=status)

    if not username.strip() or not password:
        return again("请输入用户名和密码", 422)
    client = request.client.host if request.client else "?"
    if _limiter(request).allow(client, clock.now()) is not None:
        return again("登录尝试过于频繁，请一分钟后再试", 429)
    try:
        user = auth_service.authenticate(read, request.app.state.password_policy, username.strip(), password)
    except NotAuthenticated as exc:
        return again("演示密码只能在演示模式下使用" if exc.code == "demo_password_refused"
                     else "用户名或密码错误", 401)
    ttl = timedelta(hours=settings.token_ttl_hours)
    token = auth_service.issue_token(session, user, now=clock.now(), ttl=ttl)
    session.commit()
    target = web_session.safe_next(next) or web_session.landing(auth_service.principal_of(user))
    response = redirect(request, target)
    web_session.set_session(request, response, token, int(ttl.total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    token = request.cookies.get(web_session.SESSION_COOKIE)
    if token:
        auth_service.revoke_token(session, token, now=clock.now())
        session.commit()
    response = redirect(request, "/login")
    web_session.clear_session(response)
    return response
