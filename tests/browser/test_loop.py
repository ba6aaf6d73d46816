"""One case through the whole loop by clicking, each role in its own browser session: a collector reports it on
a phone, the operator accepts it, the shift leader files it under a 立结案标准 row, the dispatcher sends it to a
unit (overriding the suggestion, with a reason), the unit asks for a return, the dispatcher approves it and
dispatches again, the unit completes with an after-photo, the check fails on the phone (返工), the unit completes
again, the check passes and the shift leader closes the case."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from PIL import Image
from playwright.sync_api import FilePayload, Locator, Page, expect

from cityloop import demo
from tests.browser.conftest import Live, shot

SignIn = Callable[[Page, str], None]


def as_user(page: Page, sign_in: SignIn, username: str) -> None:
    # Let the page finish its own requests (its map's GeoJSON) before the session it runs under goes away.
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()
    sign_in(page, username)


def photo() -> FilePayload:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 140, 60)).save(buf, "JPEG")
    return {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}


def act(page: Page, case_url: str, action: str, fill: Callable[[Locator], None] | None = None,
        expect_status: str | None = None) -> None:
    """Open the case page, open the action's form, fill it, submit, and see the success message."""
    page.goto(case_url)
    box = page.locator(f"details[data-action='{action}']")
    expect(box).to_have_count(1)
    if box.get_attribute("open") is None:
        box.locator("summary").click()
    if fill is not None:
        fill(box)
    with page.expect_navigation():
        box.locator("button[type='submit']").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    expect(page.locator(".flash.error")).to_have_count(0)
    if expect_status:
        expect(page.locator("h1 .badge.status")).to_have_text(expect_status)


def test_a_case_goes_round_the_loop_by_clicking(desktop: Page, phone: Page, sign_in: SignIn,
                                                live_server: Live) -> None:
    unit_id = min(live_server.units_of["unit_staff"])

    # 1. The collector reports on the phone: class by search, place by GPS, a photo. The phone stands on
    # 北山街 in 西湖区, where the demo's unit_staff units work (a dispatcher is offered the district's units).
    lon, lat = demo.CASE_POINTS[4]
    phone.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 10})
    as_user(phone, sign_in, "collector")
    phone.goto("/m/report")
    # 暴露生活垃圾: the demo dispatches it by hand (上水井盖, say, is dispatched automatically on filing).
    phone.locator("input[data-filter]").fill("生活垃圾")
    phone.locator("input[name='category']:visible").first.check()
    phone.locator("textarea[name='description']").fill("公交站旁垃圾堆积（浏览器测试）")
    phone.locator("[data-geolocate]").click()
    expect(phone.locator("input[name='lat']")).not_to_have_value("")
    phone.locator("input[name='photos']").set_input_files([photo()])
    shot(phone, "loop-1-collector-report")
    with phone.expect_navigation():
        phone.locator("#report-form button[type='submit']").click()
    done = phone.locator(".flash.ok").inner_text()
    number = re.search(r"\d{14}", done)
    assert number, done
    number_text = number.group(0)

    # 2. 受理: the operator finds it in the queue by its number and opens it.
    as_user(desktop, sign_in, "operator")
    desktop.goto("/work/intake")
    desktop.get_by_role("link", name=number_text).click()
    desktop.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = desktop.url
    expect(desktop.locator(".photos img")).to_have_count(1)
    shot(desktop, "loop-2-operator-case")
    act(desktop, case_url, "accept", lambda f: f.locator("textarea[name='note']").fill("属实，受理"), "待立案")

    # 3. 立案 under a standard row (its criteria are on the form).
    as_user(desktop, sign_in, "shift_leader")
    desktop.goto("/work/filing")
    expect(desktop.get_by_role("link", name=number_text)).to_be_visible()

    def file_it(form: Locator) -> None:
        standards = form.locator("input[name='filing_standard_id']")
        if standards.count():
            standards.first.check()

    act(desktop, case_url, "file", file_it, "待派遣")

    # 4. 派遣: the board explains its suggestion; the dispatcher picks the unit and says why.
    as_user(desktop, sign_in, "dispatcher")
    desktop.goto("/work/dispatch")
    expect(desktop.get_by_role("link", name=number_text)).to_be_visible()
    shot(desktop, "loop-4-dispatch-board")

    def to_unit(form: Locator) -> None:
        # The unit list is long: typing filters it (nothing matches this, then everything is back).
        search = form.locator("input[data-filter-options]")
        search.fill("没有这样的单位")
        expect(form.locator("select[name='unit_id'] option:not([hidden])")).to_have_count(0)
        search.fill("")
        form.locator("select[name='unit_id']").select_option(str(unit_id))
        form.locator("textarea[name='note']").fill("该路段由此单位养护")

    act(desktop, case_url, "dispatch", to_unit, "处置中")

    # 5. The unit asks for a return; the dispatcher approves it and dispatches again.
    as_user(desktop, sign_in, "unit_staff")
    desktop.goto("/work/unit")
    expect(desktop.get_by_role("link", name=number_text)).to_be_visible()
    expect(desktop.locator(f"tr[data-case='{number_text}'] .light")).to_have_count(1)
    shot(desktop, "loop-5-unit-workbench")
    act(desktop, case_url, "request_return", lambda f: f.locator("textarea[name='reason']").fill("需先确认权属"))
    as_user(desktop, sign_in, "dispatcher")
    act(desktop, case_url, "approve_return", None, "待派遣")
    act(desktop, case_url, "dispatch", to_unit, "处置中")

    # 6. The unit completes with an after-photo.
    def complete(note: str) -> Callable[[Locator], None]:
        def fill(form: Locator) -> None:
            form.locator("textarea[name='note']").fill(note)
            form.locator("input[name='photos']").set_input_files([photo()])
        return fill

    as_user(desktop, sign_in, "unit_staff")
    act(desktop, case_url, "complete", complete("已清运"), "待核查")

    # 7. The operator sends the demo collector to check; the check fails on the phone.
    def send_collector(form: Locator) -> None:
        option = form.locator("select[name='collector_id'] option", has_text="（collector）")
        form.locator("select[name='collector_id']").select_option(option.get_attribute("value"))

    as_user(desktop, sign_in, "operator")
    act(desktop, case_url, "request_check", send_collector, "核查中")
    phone.goto("/m")
    phone.get_by_text(number_text).first.click()
    phone.wait_for_url(re.compile(r"/m/cases/\d+$"))
    phone.locator("input[name='passed'][value='false']").check()
    phone.locator("#task-form textarea[name='note']").fill("仍有残留垃圾")
    shot(phone, "loop-7-collector-check")
    with phone.expect_navigation():
        phone.locator("#task-form button[type='submit']").click()
    expect(phone.locator(".flash.ok")).to_be_visible()

    # 8. 返工: back at the unit; completed again, checked again, and closed.
    as_user(desktop, sign_in, "unit_staff")
    act(desktop, case_url, "complete", complete("已彻底清理"), "待核查")
    as_user(desktop, sign_in, "operator")
    act(desktop, case_url, "request_check", send_collector, "核查中")
    phone.goto("/m")
    phone.get_by_text(number_text).first.click()
    phone.locator("input[name='passed'][value='true']").check()
    with phone.expect_navigation():
        phone.locator("#task-form button[type='submit']").click()
    as_user(desktop, sign_in, "shift_leader")
    act(desktop, case_url, "close", lambda f: f.locator("textarea[name='note']").fill("结案"), "已结案")

    # The timeline tells the whole story, the return and the rework included.
    timeline = desktop.locator(".timeline").inner_text()
    for step in ("上报", "受理", "立案", "派遣", "申请回退", "同意回退", "处置完成", "核查", "结案"):
        assert step in timeline, step
    expect(desktop.locator("h1")).to_contain_text("返工 1")
    shot(desktop, "loop-8-closed-case")
