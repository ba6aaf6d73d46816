"""Real-browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, which scripts/ensure-browser.sh
installs; Playwright's own browser downloads are never used) against a live server that holds the demo city.

Every page a test opens fails the test on a console error, an uncaught script error, a failed request or any
request that leaves our origin: that is what catches a missing vendor file, a broken script or a CDN link that
the server-side tests cannot see. Screenshots go to artifacts/screenshots/ (git-ignored) as test artifacts.

Without Chromium the tests skip, except under CITYLOOP_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Cookie,
    Geolocation,
    Page,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)

from cityloop import demo, migrations
from cityloop.auth import service as auth_service
from cityloop.auth.models import UnitMembership, User
from cityloop.cases.models import Case
from cityloop.cases.workflow import Status
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.deadlines.models import Deadline, DeadlineState
from cityloop.main import create_app
from cityloop.settings import Settings
from tests.factories import EPOCH

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = "CITYLOOP_REQUIRE_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

DESKTOP: ViewportSize = {"width": 1920, "height": 1080}
PHONE: ViewportSize = {"width": 390, "height": 844}
# 西湖区, near the demo's cases: what the phone's GPS reports.
HANGZHOU: Geolocation = {"latitude": 30.2741, "longitude": 120.1551, "accuracy": 10}

TIMEOUT_MS = 15_000
SERVER_START_S = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


# --- the browser --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is not installed (scripts/ensure-browser.sh installs Debian's chromium)"
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{why}; {REQUIRE_BROWSER}=1 requires the browser tests to run")
        pytest.skip(why)
    # Chromium's sandbox refuses to start as root (CI and fresh test machines run as root).
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()


# --- the live server ----------------------------------------------------------------------------------------------

class RunningClock:
    """The demo's "now" (EPOCH, a Wednesday morning) moving on at the real pace: what the pages show is the same
    from run to run, while sliding windows such as the login rate limit still slide."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


@dataclass(frozen=True)
class DemoCase:
    number: str
    status: Status
    reporter: str | None
    unit_id: int | None
    overdue: bool  # a running clock of the case was past due at the demo's "now"


@dataclass(frozen=True)
class Live:
    url: str
    cases: tuple[DemoCase, ...]
    units_of: dict[str, frozenset[int]]

    def numbers(self, keep: Callable[[DemoCase], bool]) -> set[str]:
        return {c.number for c in self.cases if keep(c)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while True:
        assert thread.is_alive(), "the live server stopped while starting"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - our own http URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert time.monotonic() < deadline, f"the live server did not answer /health in {SERVER_START_S} s"
        time.sleep(0.05)


def _load_demo(settings: Settings) -> tuple[tuple[DemoCase, ...], dict[str, frozenset[int]]]:
    engine = make_engine(settings.database_url)
    try:
        migrations.upgrade(engine)
        policy = auth_service.PasswordPolicy.from_costs(
            time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism, demo_mode=True)
        with session_scope(write_sessionmaker(engine, info={"settings": settings})) as session:
            demo.load(session, policy, EPOCH, profile=demo.SMALL)
        with engine.connect() as conn:
            users = dict(conn.execute(sa.select(User.id, User.username)).all())
            late = set(conn.scalars(sa.select(Deadline.case_id).where(
                Deadline.state == DeadlineState.PENDING, Deadline.due_at < EPOCH)))
            cases = tuple(DemoCase(number, status, users.get(reporter) if reporter else None, unit, id_ in late)
                          for id_, number, status, reporter, unit in conn.execute(
                              sa.select(Case.id, Case.number, Case.status, Case.reporter_id, Case.unit_id)
                              .order_by(Case.number)))
            units: dict[str, set[int]] = {}
            for user_id, unit_id in conn.execute(sa.select(UnitMembership.user_id, UnitMembership.unit_id)):
                units.setdefault(users[user_id], set()).add(unit_id)
    finally:
        engine.dispose()
    return cases, {name: frozenset(ids) for name, ids in units.items()}


@pytest.fixture(scope="session")
def live_server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """uvicorn in a thread serving the demo city (profile SMALL) in demo mode, with no map tiles configured.

    Always on an SQLite file of its own, even where CITYLOOP_TEST_DATABASE_URL names a PostgreSQL server: these
    tests are about what the browser does with our pages; the rest of the suite covers both databases.
    """
    tmp = tmp_path_factory.mktemp("browser")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=f"sqlite:///{tmp / 'browser.sqlite'}", demo_mode=True, public_base_url=url,
                        attachments_dir=tmp / "attachments", map_tile_url="",
                        argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1)
    cases, units_of = _load_demo(settings)
    app = create_app(settings, clock=RunningClock(EPOCH))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="browser-live-server", daemon=True)
    thread.start()
    try:
        _wait_healthy(url, thread)
        yield Live(url, cases, units_of)
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


# --- pages, watched for problems ----------------------------------------------------------------------------------

@dataclass
class Problems:
    """What went wrong in the browser during a test. A test that provokes an error on purpose (a 401 login
    page) says so with `allow`; anything else fails the test at teardown."""

    origin: str
    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(a.search(p) for a in self.allowed)]

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.seen.append(f"script error: {exc}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _ours(self, url: str) -> bool:
        return url == self.origin or url.startswith(self.origin + "/")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.seen.append(f"console error: {message.text}" + (f" ({where})" if where else ""))

    def _request(self, request: Request) -> None:
        # No CDN, no tile server unless configured: a command centre's intranet reaches nothing else.
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and not self._ours(request.url):
            self.seen.append(f"request to another origin: {request.method} {request.url}")

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        # ERR_ABORTED is a request the page itself dropped (navigating on, htmx replacing an older request).
        if self._ours(request.url) and "ERR_ABORTED" not in failure:
            self.seen.append(f"request failed: {request.method} {request.url} {failure}")

    def _response(self, response: Response) -> None:
        if self._ours(response.url) and response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def problems(live_server: Live) -> Problems:
    return Problems(live_server.url)


def _page(browser: Browser, live: Live, problems: Problems, **options: Any) -> Iterator[Page]:
    context = browser.new_context(base_url=live.url, locale="zh-CN", timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("page", problems.watch)
    page = context.new_page()
    try:
        yield page
        found = problems.unexpected()
    finally:
        context.close()
    assert not found, "the browser reported problems:\n" + "\n".join(found)


@pytest.fixture
def desktop(browser: Browser, live_server: Live, problems: Problems) -> Iterator[Page]:
    yield from _page(browser, live_server, problems, viewport=DESKTOP)


@pytest.fixture
def phone(browser: Browser, live_server: Live, problems: Problems) -> Iterator[Page]:
    yield from _page(browser, live_server, problems, viewport=PHONE, device_scale_factor=2, is_mobile=True,
                     has_touch=True, geolocation=HANGZHOU, permissions=["geolocation"])


# --- helpers ------------------------------------------------------------------------------------------------------

def login(page: Page, username: str, password: str = demo.DEMO_PASSWORD) -> None:
    """Sign in through the login form, as a person would; returns once the next page has loaded."""
    page.goto("/login")
    form = page.locator("form[action='/login']")
    form.locator("input[name='username']").fill(username)
    form.locator("input[name='password']").fill(password)
    with page.expect_navigation():
        form.locator("button[type='submit']").click()


@pytest.fixture(scope="session")
def signed_in_cookies() -> dict[str, list[Cookie]]:
    return {}


@pytest.fixture
def sign_in(signed_in_cookies: dict[str, list[Cookie]]) -> Callable[[Page, str], None]:
    """Sign a page in as `username`: through the form the first time in a run, then with the same session
    cookie. Tests that are not about logging in stay clear of the login rate limit (20 a minute per address)."""

    def go(page: Page, username: str) -> None:
        cookies = signed_in_cookies.get(username)
        if cookies is None:
            login(page, username)
            signed_in_cookies[username] = page.context.cookies()
        else:
            page.context.add_cookies(cookies)  # type: ignore[arg-type]

    return go


def shot(page: Page, name: str) -> Path:
    """Save what the page shows as artifacts/screenshots/<name>-<width>x<height>.png, once it has settled."""
    size = page.viewport_size
    assert size is not None
    page.wait_for_load_state("networkidle")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), animations="disabled")
    return path
