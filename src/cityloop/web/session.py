"""Browser sessions: the bearer token of the API, kept in an HttpOnly cookie, and CSRF protection.

CSRF uses the double-submit pattern: a random token in its own cookie (SameSite=Strict) must come back in the
form field `csrf_token` or the `X-CSRF-Token` header that htmx sends; another site can make the browser send
the cookie but cannot read it to put it in the form. The session cookie itself is SameSite=Lax as well.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response

from cityloop.auth import service as auth_service
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.core.errors import Forbidden, NotAuthenticated
from cityloop.deps import ClockDep, ReadSessionDep

SESSION_COOKIE = "cityloop_session"
CSRF_COOKIE = "cityloop_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """Not signed in (or the session ended): the browser goes to /login and comes back here after."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def csrf_token(request: Request) -> str:
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token or len(token) < 20:
        token = secrets.token_urlsafe(24)
        request.state.csrf_new = True
    request.state.csrf = token
    return token


def persist_csrf(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def safe_next(url: str | None) -> str | None:
    """Only a path on this site: `next` must never send a signed-in user elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url


async def check_csrf(request: Request) -> None:
    """Every unsafe web request carries the CSRF token (a form field, or the header htmx adds)."""
    request.state.web = True
    if request.method not in _UNSAFE:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfFailed()


def optional_principal(request: Request, session: ReadSessionDep, clock: ClockDep) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = auth_service.principal_for_token(session, token, now=clock.now())
    except NotAuthenticated:
        return None
    request.state.principal = principal
    return principal


def current_principal(request: Request,
                      principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            # After signing in again the user returns to the page the form was on, not to a bare POST URL.
            here = urlsplit(request.headers.get("HX-Current-URL") or request.headers.get("Referer") or "/")
            target = here.path + (f"?{here.query}" if here.query else "") if here.path else "/"
        raise LoginRequired(target)
    return principal


WebPrincipal = Annotated[Principal, Depends(current_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require(permission: Permission) -> object:
    """A route dependency: signed in and holding `permission` (a 403 page otherwise)."""

    def check(principal: WebPrincipal) -> Principal:
        if not principal.has(permission):
            raise Forbidden(f"你的角色没有此权限（{permission.value}）", code="forbidden")
        return principal

    return Depends(check)


# Where each role starts its day; a person with several roles lands on the first of this order.
LANDING: tuple[tuple[Role, str], ...] = (
    (Role.ADMIN, "/admin"),
    (Role.LEADER, "/work/leader"),
    (Role.DISPATCHER, "/work/dispatch"),
    (Role.SHIFT_LEADER, "/work/filing"),
    (Role.OPERATOR, "/work/intake"),
    (Role.UNIT_STAFF, "/work/unit"),
    (Role.COLLECTOR, "/m"),
    (Role.CITIZEN, "/public/mine"),
)


def landing(principal: Principal) -> str:
    return next((url for role, url in LANDING if role in principal.roles), "/cases")


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")
