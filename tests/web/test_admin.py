"""系统管理 in the console: every section opens for the admin and refuses roles without the permission, and each
form changes what the API would change (users, units, calendar, routing) or, on bad input, shows the page again
naming the field and stores nothing. Devices and keys: test_admin_keys.py; standards: test_admin_standards.py."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth import service as auth_service
from cityloop.auth.models import User
from cityloop.auth.permissions import Role
from cityloop.catalog.enums import Kind
from cityloop.core.errors import NotAuthenticated
from cityloop.deadlines import holidays
from cityloop.deadlines.models import CalendarDay
from cityloop.routing.models import DispatchPolicy, RoutingRule
from cityloop.units.models import Unit, UnitLevel
from tests.conftest import World
from tests.factories import PASSWORD
from tests.web.helpers import Web, text_of


@pytest.fixture
def admin(client: TestClient, world: World) -> Web:
    return Web(client, world["admin"])


def user_named(session: Session, username: str) -> User | None:
    session.expire_all()
    return session.scalar(sa.select(User).where(User.username == username))


def count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# --- access ------------------------------------------------------------------------------------------------

def test_every_admin_page_opens_for_the_admin(admin: Web, world: World) -> None:
    urls = ["/admin", "/admin/users", "/admin/users/new", f"/admin/users/{world['operator'].id}", "/admin/units",
            "/admin/units/new", f"/admin/units/{world.unit_a}", "/admin/standards", "/admin/calendar",
            "/admin/routing", "/admin/routing/rules/new", "/admin/devices", "/admin/apikeys", "/admin/intake-rules"]
    for url in urls:
        r = admin.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert "系统管理" in r.text or "用户" in r.text
    for odd in ("/admin/units?offset=abc&level=galaxy", "/admin/users?offset=-5", "/admin/calendar?year=abc",
                "/admin/standards?version=nope&kind=x&offset=99999"):
        assert admin.get(odd).status_code == 200, odd  # a hand-edited URL falls back to defaults
    index = text_of(admin.get("/admin").text)
    for title in ("用户与角色", "处置单位", "立结案标准", "工作日历", "派遣规则", "采集设备", "接口密钥"):
        assert title in index


@pytest.mark.parametrize("url", ["/admin/users/new", "/admin/units/new", "/admin/calendar", "/admin/devices",
                                 "/admin/apikeys", "/admin/intake-rules", "/admin/routing/rules/new"])
def test_an_operator_gets_the_403_page_on_manage_pages(client: TestClient, world: World, url: str) -> None:
    r = Web(client, world["operator"]).get(url)
    assert r.status_code == 403
    assert "没有权限" in r.text


def test_an_operator_reads_but_cannot_change(client: TestClient, world: World, session: Session) -> None:
    web = Web(client, world["operator"])
    page = web.get("/admin/users")
    assert page.status_code == 200
    assert "operator" in page.text
    assert "/admin/users/new" not in page.text  # no button to a page that would refuse them
    index = text_of(web.get("/admin").text)
    assert "用户与角色" in index
    assert "采集设备" not in index
    r = web.post("/admin/users", {"username": "sneaky", "password": "long enough pw", "roles": "admin"})
    assert r.status_code == 403
    assert user_named(session, "sneaky") is None
    assert web.post(f"/admin/units/{world.unit_a}", {"name": "改名"}).status_code == 403


def test_a_citizen_has_no_admin_and_a_stranger_signs_in_first(client: TestClient, world: World) -> None:
    assert Web(client, world["citizen"]).get("/admin").status_code == 403
    r = Web(client).get("/admin/users")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/admin/users")


def test_a_post_without_the_csrf_token_is_refused(admin: Web, session: Session) -> None:
    r = admin.post("/admin/users", {"username": "nocsrf", "password": "long enough pw", "roles": "operator"},
                   csrf=False)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert user_named(session, "nocsrf") is None


# --- users ---------------------------------------------------------------------------------------------------

def test_creating_a_user_through_the_form(admin: Web, world: World, session: Session) -> None:
    r = admin.post("/admin/users", {"username": "zhangsan", "display_name": "张三", "password": "a-good-password",
                                    "roles": ["dispatcher", "leader"], "unit_id": str(world.unit_b),
                                    "area_code": "330106"})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/admin/users?done=user_created")
    user = user_named(session, "zhangsan")
    assert user is not None
    assert user.role_set == {Role.DISPATCHER, Role.LEADER}
    assert [m.unit_id for m in user.memberships] == [world.unit_b]
    assert (user.display_name, user.area_code, user.active) == ("张三", "330106", True)
    listing = text_of(admin.get(r.headers["location"]).text)
    assert "用户已创建" in listing
    assert "张三" in listing
    assert "派遣员" in listing
    assert "处置单位B" in listing


def test_a_password_the_policy_refuses_names_the_field(admin: Web, session: Session) -> None:
    r = admin.post("/admin/users", {"username": "weak", "password": "short", "roles": "operator"})
    assert r.status_code == 422
    page = text_of(r.text)
    assert "密码" in page
    assert "password" in page
    assert 'value="weak"' in r.text  # the form keeps what was typed
    assert user_named(session, "weak") is None


def test_user_form_refusals(admin: Web, world: World, session: Session) -> None:
    no_role = admin.post("/admin/users", {"username": "norole", "password": "a-good-password"})
    assert no_role.status_code == 422
    assert "角色" in text_of(no_role.text)
    taken = admin.post("/admin/users", {"username": "operator", "password": "a-good-password", "roles": "operator"})
    assert taken.status_code == 409
    assert "用户名" in text_of(taken.text)
    bad_area = admin.post("/admin/users", {"username": "area", "password": "a-good-password", "roles": "operator",
                                           "area_code": "33"})
    assert bad_area.status_code == 422
    assert "辖区代码" in text_of(bad_area.text)
    assert user_named(session, "norole") is None
    assert user_named(session, "area") is None


def test_editing_roles_units_and_area(admin: Web, world: World, session: Session) -> None:
    op = world["operator"]
    r = admin.post(f"/admin/users/{op.id}", {"display_name": "值班受理员", "roles": ["operator", "shift_leader"],
                                             "unit_id": [str(world.unit_a)], "area_code": "330106001"})
    assert r.status_code == 303
    user = user_named(session, "operator")
    assert user is not None
    assert user.role_set == {Role.OPERATOR, Role.SHIFT_LEADER}
    assert [m.unit_id for m in user.memberships] == [world.unit_a]
    assert (user.display_name, user.area_code) == ("值班受理员", "330106001")
    # The new roles hold at the user's next request (the web client is shared: sign the admin back in after).
    assert Web(admin.client, op).get("/admin/users").status_code == 200
    admin = Web(admin.client, world["admin"])
    cleared = admin.post(f"/admin/users/{op.id}", {"display_name": "值班受理员", "roles": ["operator"]})
    assert cleared.status_code == 303
    user = user_named(session, "operator")
    assert user is not None
    assert user.memberships == []
    assert user.area_code is None


def test_an_admin_cannot_lock_themselves_out(admin: Web, world: World, session: Session) -> None:
    me = world["admin"]
    r = admin.post(f"/admin/users/{me.id}", {"roles": ["operator"]})
    assert r.status_code == 409
    assert "roles" in r.text
    assert admin.post(f"/admin/users/{me.id}/active", {"active": "0"}).status_code == 409
    user = user_named(session, "admin")
    assert user is not None
    assert user.active
    assert Role.ADMIN in user.role_set


def test_reset_password_and_disable(admin: Web, client: TestClient, world: World, session: Session) -> None:
    policy = client.app.state.password_policy  # type: ignore[attr-defined]
    target = world["collector"]
    assert admin.post(f"/admin/users/{target.id}/password", {"password": "short"}).status_code == 422
    r = admin.post(f"/admin/users/{target.id}/password", {"password": "a-new-password-1"})
    assert r.status_code == 303
    assert "done=password_reset" in r.headers["location"]
    session.expire_all()
    assert auth_service.authenticate(session, policy, "collector", "a-new-password-1").id == target.id
    with pytest.raises(NotAuthenticated):
        auth_service.authenticate(session, policy, "collector", PASSWORD)

    assert admin.post(f"/admin/users/{target.id}/active", {"active": "0"}).status_code == 303
    user = user_named(session, "collector")
    assert user is not None
    assert not user.active
    # The disabled user's session stops working at once.
    gone = Web(client, target).get("/admin/users")
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/login")
    assert "已停用" in text_of(Web(client, world["admin"]).get("/admin/users?q=collector").text)
    assert Web(client, world["admin"]).post(f"/admin/users/{target.id}/active", {"active": "1"}).status_code == 303
    user = user_named(session, "collector")
    assert user is not None
    assert user.active


# --- units ---------------------------------------------------------------------------------------------------

def test_unit_create_and_edit(admin: Web, world: World, session: Session) -> None:
    r = admin.post("/admin/units", {"code": "SZ-HW", "name": "上城区环卫所", "level": "street", "industry": "环卫",
                                    "parent": "UA"})
    assert r.status_code == 303
    assert "done=unit_created" in r.headers["location"]
    unit = session.scalar(sa.select(Unit).where(Unit.code == "SZ-HW"))
    assert unit is not None
    assert (unit.name, unit.level, unit.industry, unit.parent_id) == ("上城区环卫所", UnitLevel.STREET, "环卫",
                                                                      world.unit_a)
    assert "上城区环卫所" in text_of(admin.get("/admin/units?q=SZ-HW").text)

    r = admin.post(f"/admin/units/{unit.id}", {"name": "上城区环卫中心", "parent": "UB"})  # active unchecked
    assert r.status_code == 303
    session.expire_all()
    unit = session.get(Unit, unit.id)
    assert unit is not None
    assert (unit.name, unit.active, unit.parent_id) == ("上城区环卫中心", False, world.unit_b)
    page = text_of(admin.get("/admin/units?q=上城区").text)
    assert "上城区环卫中心" in page
    assert "已停用" in page


def test_unit_form_refusals(admin: Web, world: World, session: Session) -> None:
    before = count(session, Unit)
    taken = admin.post("/admin/units", {"code": "UA", "name": "重复", "level": "district"})
    assert taken.status_code == 409
    assert "代码" in text_of(taken.text)
    no_level = admin.post("/admin/units", {"code": "X1", "name": "无层级", "level": "galaxy"})
    assert no_level.status_code == 422
    assert "层级" in text_of(no_level.text)
    upside_down = admin.post("/admin/units", {"code": "X2", "name": "市局", "level": "city", "parent": "UA"})
    assert upside_down.status_code == 422
    assert "上级单位" in text_of(upside_down.text)
    assert count(session, Unit) == before
    loop = admin.post(f"/admin/units/{world.unit_a}", {"name": "处置单位A", "active": "1", "parent": "UA"})
    assert loop.status_code == 422
    assert "上级单位" in text_of(loop.text)
    empty = admin.post(f"/admin/units/{world.unit_a}", {"name": "  ", "active": "1"})
    assert empty.status_code == 422
    assert "名称" in text_of(empty.text)


# --- calendar ------------------------------------------------------------------------------------------------

def test_calendar_add_change_and_delete(admin: Web, session: Session) -> None:
    r = admin.post("/admin/calendar", {"day": "2027-10-09", "workday": "1", "note": "国庆调休"})
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/calendar?done=day_saved&year=2027"
    row = session.get(CalendarDay, date(2027, 10, 9))
    assert row is not None
    assert row.workday
    assert row.note == "国庆调休"
    page = text_of(admin.get(r.headers["location"]).text)
    assert "2027-10-09" in page
    assert "调休上班" in page
    assert "日历已保存" in page

    assert admin.post("/admin/calendar", {"day": "2027-10-09", "workday": "0", "note": "改为放假"}).status_code == 303
    session.expire_all()
    row = session.get(CalendarDay, date(2027, 10, 9))
    assert row is not None
    assert not row.workday
    assert row.note == "改为放假"

    r = admin.post("/admin/calendar/2027-10-09/delete")
    assert r.status_code == 303
    session.expire_all()
    assert session.get(CalendarDay, date(2027, 10, 9)) is None
    assert admin.post("/admin/calendar/2027-10-09/delete").status_code == 404


def test_calendar_refusals_and_coverage_warning(admin: Web, session: Session) -> None:
    bad = admin.post("/admin/calendar", {"day": "2027-13-01", "workday": "0"})
    assert bad.status_code == 422
    assert "日期" in text_of(bad.text)
    long_note = admin.post("/admin/calendar", {"day": "2027-01-02", "workday": "0", "note": "节" * 101})
    assert long_note.status_code == 422
    assert "说明" in text_of(long_note.text)
    assert count(session, CalendarDay) == 0
    # The test clock stands in late November 2026, so the coming 60 days reach into 2027: the page warns exactly
    # when the calendar would count that year's holidays as working days.
    page = text_of(admin.get("/admin/calendar").text)
    uncovered = holidays.coverage_of(session, date(2026, 11, 25), 60).uncovered
    assert ("没有节假日安排" in page) == bool(uncovered)
    if uncovered:
        assert f"请录入 {uncovered[0].year} 年的放假与调休安排" in page


# --- routing -------------------------------------------------------------------------------------------------

def test_routing_rule_create_and_edit(admin: Web, world: World, session: Session) -> None:
    r = admin.post("/admin/routing/rules", {"name": "垃圾派环卫", "kind": "event", "category_code": "06010",
                                            "territory_code": "330106", "unit_code": "UA", "priority": "5",
                                            "active": "1"})
    assert r.status_code == 303
    assert "done=rule_created" in r.headers["location"]
    rule = session.scalar(sa.select(RoutingRule).where(RoutingRule.name == "垃圾派环卫"))
    assert rule is not None
    assert (rule.kind, rule.category_code, rule.territory_code, rule.unit_id, rule.priority, rule.active) == (
        Kind.EVENT, "06010", "330106", world.unit_a, 5, True)
    assert "垃圾派环卫" in text_of(admin.get("/admin/routing").text)

    edit = admin.get(f"/admin/routing/rules/{rule.id}")
    assert edit.status_code == 200
    assert 'value="06010"' in edit.text
    r = admin.post(f"/admin/routing/rules/{rule.id}", {"name": "垃圾派街道环卫", "kind": "event",
                                                       "category_code": "06", "target_level": "street",
                                                       "target_industry": "环卫", "priority": "0"})
    assert r.status_code == 303
    session.expire_all()
    rule = session.get(RoutingRule, rule.id)
    assert rule is not None
    assert (rule.name, rule.category_code, rule.unit_id, rule.target_level, rule.target_industry, rule.active) == (
        "垃圾派街道环卫", "06", None, UnitLevel.STREET, "环卫", False)


def test_routing_refusals_and_policies(admin: Web, session: Session) -> None:
    no_target = admin.post("/admin/routing/rules", {"name": "无去向", "category_code": "06010", "active": "1"})
    assert no_target.status_code == 422
    assert "目标单位" in text_of(no_target.text)
    bad_code = admin.post("/admin/routing/rules", {"name": "坏代码", "category_code": "6", "unit_code": "UA"})
    assert bad_code.status_code == 422
    assert "类别代码" in text_of(bad_code.text)
    unknown = admin.post("/admin/routing/rules", {"name": "无此单位", "unit_code": "NOPE"})
    assert unknown.status_code == 422
    assert "NOPE" in unknown.text
    assert count(session, RoutingRule) == 0

    r = admin.post("/admin/routing/policies", {"kind": "part", "category_code": "01", "command_level": "city",
                                               "auto_dispatch": "1"})
    assert r.status_code == 303
    policy = session.scalar(sa.select(DispatchPolicy).where(DispatchPolicy.category_code == "01"))
    assert policy is not None
    assert policy.kind is Kind.PART
    assert policy.auto_dispatch
    assert "市指挥中心" in text_of(admin.get("/admin/routing").text)
    bad = admin.post("/admin/routing/policies", {"kind": "part", "category_code": "1", "command_level": "city"})
    assert bad.status_code == 422
    assert "类别代码" in text_of(bad.text)
