"""The demo city: one login per role (password `cityloop`, accepted only in demo mode), a few synthetic
handling units in Hangzhou's 西湖区, and cases at every stage of the loop, driven through the real commands so
that their timelines are genuine. Everything here is synthetic and marked so (`synthetic` units, 演示 names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.auth import service as auth_service
from cityloop.auth.models import User
from cityloop.auth.permissions import ROLE_LABELS, Role
from cityloop.auth.principal import Principal
from cityloop.cases import service as case_service
from cityloop.cases.models import Case
from cityloop.cases.schemas import (
    CaseIn,
    CheckIn,
    CollectorIn,
    DispatchIn,
    FileIn,
    NoteIn,
    RequiredNoteIn,
)
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog import service as catalog_service
from cityloop.catalog.enums import Kind
from cityloop.catalog.seed import DEMO_STANDARD, seed_demo_standard, seed_national_directory
from cityloop.units import service as unit_service
from cityloop.units.models import Unit, UnitLevel

DEMO_PASSWORD = auth_service.DEMO_PASSWORD


@dataclass(frozen=True)
class DemoUnit:
    code: str
    name: str
    level: UnitLevel
    industry: str
    parent: str | None


UNITS = (
    DemoUnit("DEMO-330100-CG", "杭州市城市管理局（演示）", UnitLevel.CITY, "城管", None),
    DemoUnit("DEMO-330106-CG", "西湖区城市管理局（演示）", UnitLevel.DISTRICT, "城管", "DEMO-330100-CG"),
    DemoUnit("DEMO-330106-SZ", "西湖区市政设施养护中心（演示）", UnitLevel.DISTRICT, "市政", "DEMO-330106-CG"),
    DemoUnit("DEMO-330106-YL", "西湖区园林绿化管理中心（演示）", UnitLevel.DISTRICT, "园林", "DEMO-330106-CG"),
    DemoUnit("DEMO-330106001", "北山街道办事处（演示）", UnitLevel.STREET, "属地", "DEMO-330106-CG"),
)
STAFF_UNIT = "DEMO-330106-SZ"

LOGINS: tuple[tuple[str, Role, str | None], ...] = (
    ("collector", Role.COLLECTOR, None),
    ("operator", Role.OPERATOR, None),
    ("shift_leader", Role.SHIFT_LEADER, None),
    ("dispatcher", Role.DISPATCHER, None),
    ("unit_staff", Role.UNIT_STAFF, STAFF_UNIT),
    ("leader", Role.LEADER, None),
    ("citizen", Role.CITIZEN, None),
    ("admin", Role.ADMIN, None),
)


def is_loaded(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(User)) != 0


def load(session: Session, policy: auth_service.PasswordPolicy, now: datetime) -> None:
    """Load the demo city into an empty database. The caller commits.

    The demo city files under 运城's real 2026 立结案标准 (DEMO_STANDARD, its source named on the version), since
    Hangzhou's own is not public; the national directory is loaded beside it.
    """
    seed_national_directory(session, now)
    seed_demo_standard(session, now)
    catalog_service.adopt(session, DEMO_STANDARD, now)
    units: dict[str, Unit] = {}
    for u in UNITS:
        units[u.code] = unit_service.create_unit(session, code=u.code, name=u.name, level=u.level, now=now,
                                                 industry=u.industry, parent_code=u.parent, synthetic=True)
        session.flush()  # flush: the next unit names this one as its parent by code
    users = {}
    for username, role, unit_code in LOGINS:
        users[username] = auth_service.create_user(
            session, policy, username=username, password=DEMO_PASSWORD, roles=[role], now=now,
            unit_ids=[units[unit_code].id] if unit_code else [],
            display_name=f"演示{ROLE_LABELS[role]}")
    session.flush()  # flush: principals below need user ids
    p = {name: auth_service.principal_of(user) for name, user in users.items()}
    _cases(session, p, units[STAFF_UNIT].id, now)


def _cases(session: Session, p: dict[str, Principal], unit_id: int, now: datetime) -> None:
    t = now - timedelta(hours=6)

    def step() -> datetime:
        nonlocal t
        t += timedelta(minutes=7)
        return t

    def report(who: str, kind: Kind, code: str, text: str, lat: float, lon: float, address: str,
               urgent: bool = False) -> int:
        case = case_service.create_case(session, p[who], CaseIn(
            kind=kind, category_code=code, description=text, lat=lat, lon=lon, address=address,
            urgent=urgent), now=step())
        session.flush()  # flush: later commands address the case by id
        return case.id

    def under(case_id: int, criterion: str) -> FileIn:
        """File under the class's row whose 立案条件 mentions `criterion`, as the shift leader would pick it."""
        rows = catalog_queries.standards_for(session, session.get_one(Case, case_id).category_id)
        return FileIn(filing_standard_id=next(r.id for r in rows if criterion in r.filing_criteria))

    collector_id = p["collector"].user_id
    # Codes are 运城's legacy 4-digit classes (major 2 + minor 2), the adopted directory.
    # A full loop, closed. 事件 0401 无照经营游商: 在城市公共场所流动经营摊贩.
    c = report("collector", Kind.EVENT, "0401", "黄龙体育中心东门外流动摊贩占道经营", 30.2712, 120.1376,
               "西湖区黄龙路1号东门外")
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    # The 运城 row is an emergency one (2紧急工作时): filing under it makes the case urgent.
    case_service.file(session, p["shift_leader"], c, under(c, "流动经营摊贩"), now=step())
    case_service.dispatch(session, p["dispatcher"], c, DispatchIn(unit_id=unit_id), now=step())
    case_service.complete(session, p["unit_staff"], c, RequiredNoteIn(note="已劝离摊贩，恢复通行"), now=step())
    case_service.request_check(session, p["operator"], c, CollectorIn(collector_id=collector_id), now=step())
    case_service.check(session, p["collector"], c, CheckIn(passed=True, note="现场已无摊贩"), now=step())
    case_service.close(session, p["shift_leader"], c, NoteIn(), now=step())
    # At the unit. 部件 0137 路灯, row 单盏不亮.
    c = report("collector", Kind.PART, "0137", "曙光路与杭大路口路灯夜间不亮", 30.2707, 120.1452,
               "西湖区曙光路杭大路口东北角")
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    case_service.file(session, p["shift_leader"], c, under(c, "单盏不亮"), now=step())
    case_service.dispatch(session, p["dispatcher"], c, DispatchIn(unit_id=unit_id), now=step())
    # Waiting for dispatch. 事件 0110 暴露生活垃圾.
    c = report("citizen", Kind.EVENT, "0110", "文三路公交站旁暴露垃圾堆放，气味明显", 30.2781, 120.1347,
               "西湖区文三路学院路口公交站")
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    case_service.file(session, p["shift_leader"], c, under(c, "生活垃圾"), now=step())
    # Waiting for the shift leader. 部件 0402 行道树, row 倒伏、倾斜、断枝.
    c = report("operator", Kind.PART, "0402", "保俶路行道树枝干折断悬挂在人行道上方", 30.2669, 120.1468,
               "西湖区保俶路宝石山下一弄口")
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    # Just reported, urgent. 部件 0101 上水井盖, row 缺失、移位、开裂 (2紧急工作时).
    report("collector", Kind.PART, "0101", "北山街断桥东侧供水井盖缺失，行人有坠落危险", 30.2590, 120.1519,
           "西湖区北山街断桥东50米", urgent=True)
