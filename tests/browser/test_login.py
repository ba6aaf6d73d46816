"""Every demo login through the real login form: each role lands on its own work page and sees its cases; a wrong
password stays on the form with the error; logging out ends the session."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from cityloop import demo
from cityloop.auth.permissions import Role
from cityloop.cases.workflow import Status
from cityloop.web.session import LANDING
from tests.browser.conftest import DemoCase, Live, Problems, login, shot

LANDS_ON = dict(LANDING)
# Roles whose day is on a phone: their pages are looked at (and shot) at 390×844.
ON_PHONE = {Role.COLLECTOR, Role.CITIZEN}


def _waiting_for(role: Role, live: Live) -> Callable[[DemoCase], bool]:
    """The demo cases a role's landing page lists: its queue, or for a citizen, what they reported."""
    if role is Role.OPERATOR:
        return lambda c: c.status is Status.REPORTED
    if role is Role.SHIFT_LEADER:
        return lambda c: c.status in (Status.REGISTERED, Status.CHECKED)
    if role is Role.DISPATCHER:
        return lambda c: c.status is Status.FILED
    if role is Role.UNIT_STAFF:
        units = live.units_of["unit_staff"]
        return lambda c: c.status is Status.DISPATCHED and c.unit_id in units
    if role is Role.LEADER:
        return lambda c: c.overdue
    if role is Role.CITIZEN:
        return lambda c: c.reporter == "citizen"
    return lambda _c: False  # admin; collector (the demo leaves no 核实/核查 task)


def _path(page: Page) -> str:
    return urlsplit(page.url).path


@pytest.mark.parametrize(("username", "role"), demo.LOGINS, ids=[name for name, _ in demo.LOGINS])
def test_each_demo_login_lands_on_its_own_work_page(request: pytest.FixtureRequest, live_server: Live,
                                                    username: str, role: Role) -> None:
    page: Page = request.getfixturevalue("phone" if role in ON_PHONE else "desktop")
    login(page, username)

    assert _path(page) == LANDS_ON[role]
    expect(page.locator(".error-page")).to_have_count(0)
    heading = page.locator("main h1, main h2, .mobile-bar .brand").first
    expect(heading).to_be_visible()
    assert heading.inner_text().strip()
    expected = live_server.numbers(_waiting_for(role, live_server))
    if role not in (Role.ADMIN, Role.COLLECTOR):
        assert expected, f"the demo should leave {username} something to see"
    main = page.locator("main")
    for number in sorted(expected):
        expect(main).to_contain_text(number)
    for chart in page.locator("[data-chart]").all():  # ECharts draws on a canvas inside its element
        expect(chart.locator("canvas, svg").first).to_be_visible()
    shot(page, f"landing-{username}")


def test_a_wrong_password_stays_on_the_form_with_the_error(desktop: Page, problems: Problems) -> None:
    problems.allow(r"\b401\b")  # the login page answers a failed sign-in with 401
    login(desktop, "dispatcher", "not-the-password")

    assert _path(desktop) == "/login"
    expect(desktop.get_by_role("alert")).to_contain_text("用户名或密码错误")
    # The name is kept, the password is not.
    expect(desktop.locator("input[name='username']")).to_have_value("dispatcher")
    expect(desktop.locator("input[name='password']")).to_have_value("")
    shot(desktop, "login-wrong-password")


def test_logout_returns_to_the_login_page_and_ends_the_session(desktop: Page) -> None:
    login(desktop, "operator")
    assert _path(desktop) == LANDS_ON[Role.OPERATOR]

    desktop.locator("form[action='/logout'] button[type='submit']").click()
    desktop.wait_for_url("**/login")
    expect(desktop.locator("form[action='/login']")).to_be_visible()

    # The session is over: the work page sends the browser back to the login form, to return there after.
    desktop.goto(LANDS_ON[Role.OPERATOR])
    assert _path(desktop) == "/login"
    assert urlsplit(desktop.url).query == "next=" + LANDS_ON[Role.OPERATOR]
