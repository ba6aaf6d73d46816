"""The demo city: Hangzhou's real district boundaries with synthetic streets, communities, unit grids, ~2,500
handling units, patrol areas, 部件 and routing rules (`demo.city`); one login per role plus a dispatcher per
district (password `cityloop`, accepted only in demo mode); and cases at every stage of the loop, driven through
the real commands so that their timelines, locations and routing explanations are genuine. Everything generated
is marked synthetic (`synthetic` rows, 合成/演示 in names)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.areas import service as area_service
from cityloop.areas.models import Grid, Territory, TerritoryLevel
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
from cityloop.demo import city
from cityloop.demo import intake as demo_intake
from cityloop.intake import service as intake_service
from cityloop.parts import queries as part_queries
from cityloop.routing import service as routing

DEMO_PASSWORD = auth_service.DEMO_PASSWORD
Profile = city.Profile
FULL, SMALL = city.FULL, city.SMALL

LOGINS: tuple[tuple[str, Role], ...] = (
    ("collector", Role.COLLECTOR),
    ("operator", Role.OPERATOR),
    ("shift_leader", Role.SHIFT_LEADER),
    ("dispatcher", Role.DISPATCHER),  # the city command centre: sees and may dispatch every case
    ("unit_staff", Role.UNIT_STAFF),
    ("leader", Role.LEADER),
    ("citizen", Role.CITIZEN),
    ("admin", Role.ADMIN),
)

# The demo's cases, where they happen (WGS-84): 黄龙, 曙光路, 文三路, 保俶路, 北山街 in 西湖区.
CASE_POINTS = ((120.1376, 30.2712), (120.1452, 30.2707), (120.1347, 30.2781), (120.1468, 30.2669),
               (120.1519, 30.2590))


def district_dispatcher(code: str) -> str:
    return f"dispatcher_{code}"


def is_loaded(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(User)) != 0


def load(session: Session, policy: auth_service.PasswordPolicy, now: datetime, *, profile: Profile = FULL,
         say: Callable[[str], None] = lambda _: None) -> None:
    """Load the demo city into an empty database. The caller commits.

    The demo city files under 运城's real 2026 立结案标准 (DEMO_STANDARD, its source named on the version), since
    Hangzhou's own is not public; the national directory is loaded beside it.
    """
    seed_national_directory(session, now)
    seed_demo_standard(session, now)
    catalog_service.adopt(session, DEMO_STANDARD, now)
    city.load_territories(session, now, say)
    case_streets = tuple(sorted({_street_of(session, lon, lat) for lon, lat in CASE_POINTS}))
    city.load_grids(session, profile.grid_under or case_streets, now, say)
    city.load_units(session, now, say)
    city.load_parts(session, profile, now, say)
    city.load_routing(session, now)
    index = area_index.get_index(session)
    where = [index.locate(lon, lat) for lon, lat in CASE_POINTS]
    # unit_staff works in the two units the demo's dispatched cases go to: the street's 城管 squad (the street
    # vendor) and the district's 市政 centre (the street lamp, through its maintainer).
    vendor = routing.suggest(session, routing.facts_at(Kind.EVENT, "0401", where[0]))
    lamp_part = _nearest_part(session, *CASE_POINTS[1], "01037")
    lamp = routing.suggest(session, routing.facts_at(Kind.PART, "0137", where[1], lamp_part))
    staff_units = [s.unit.id for s in (vendor, lamp) if s.unit is not None]
    users = {}
    for username, role in LOGINS:
        users[username] = auth_service.create_user(
            session, policy, username=username, password=DEMO_PASSWORD, roles=[role], now=now,
            unit_ids=staff_units if role is Role.UNIT_STAFF else [], display_name=f"演示{ROLE_LABELS[role]}")
    district_names = dict(session.execute(sa.select(Territory.code, Territory.name)
                                          .where(Territory.level == TerritoryLevel.DISTRICT)).all())
    for code, name in sorted(district_names.items()):
        auth_service.create_user(session, policy, username=district_dispatcher(code), password=DEMO_PASSWORD,
                                 roles=[Role.DISPATCHER], now=now, area_code=code,
                                 display_name=f"演示派遣员（{name}指挥中心）")
    session.flush()  # flush: patrol areas and principals below need user ids
    patrols = _patrol_areas(session, policy, now, users["collector"].id, _street_of(session, *CASE_POINTS[0]))
    say(f"logins: {len(LOGINS)} roles, {len(district_names)} district dispatchers, {patrols} collectors on patrol")
    p = {name: auth_service.principal_of(user) for name, user in users.items()}
    _cases(session, p, lamp_part, now)
    demo_intake.load(session, now)
    say(f"intake: {len(demo_intake.DEVICES)} devices, an Open311 client and the 12345 platform reported in")


def _street_of(session: Session, lon: float, lat: float) -> str:
    street = area_index.locate(session, lon, lat).street
    assert street is not None, "the synthetic map covers every district with streets"
    return street.code


def _nearest_part(session: Session, lon: float, lat: float, category: str) -> str | None:
    found = part_queries.nearest(session, lon, lat, category_code=category, radius_m=300, limit=1)
    return found[0][0].code if found else None


def _patrol_areas(session: Session, policy: auth_service.PasswordPolicy, now: datetime, collector_id: int,
                  collector_street: str) -> int:
    """One patrol area (责任网格) per gridded street, each with its own collector; the demo `collector` login
    patrols the street where the demo's cases are."""
    gridded = sa.select(sa.func.substr(Grid.code, 1, 9)).distinct()
    streets = session.execute(sa.select(Territory.code, Territory.name).where(
        Territory.level == TerritoryLevel.STREET, Territory.code.in_(gridded)).order_by(Territory.code)).all()
    shared_hash = policy.hasher.hash(DEMO_PASSWORD)
    for code, name in streets:
        if code == collector_street:
            owner = collector_id
        else:
            user = auth_service.create_user(session, policy, username=f"collector_{code}", password="",
                                            password_hash=shared_hash, roles=[Role.COLLECTOR], now=now,
                                            display_name=f"演示监督员（{name}）")
            session.flush()  # flush: the patrol area names the user
            owner = user.id
        area_service.set_patrol_area(session, code=f"PA{code}", name=f"{name}责任网格", collector_id=owner,
                                     grid_prefixes=[code], now=now, synthetic=True)
    return len(streets)


def _cases(session: Session, p: dict[str, Principal], lamp_part: str | None, now: datetime) -> None:
    t = now - timedelta(hours=6)

    def step() -> datetime:
        nonlocal t
        t += timedelta(minutes=7)
        return t

    def report(who: str, kind: Kind, code: str, text: str, lat: float, lon: float, address: str,
               urgent: bool = False, part_code: str | None = None) -> int:
        case = intake_service.report_case(session, p[who], CaseIn(
            kind=kind, category_code=code, description=text, lat=lat, lon=lon, address=address,
            urgent=urgent, part_code=part_code), now=step())
        session.flush()  # flush: later commands address the case by id
        return case.id

    def under(case_id: int, criterion: str) -> FileIn:
        """File under the class's row whose 立案条件 mentions `criterion`, as the shift leader would pick it."""
        rows = catalog_queries.standards_for(session, session.get_one(Case, case_id).category_id)
        return FileIn(filing_standard_id=next(r.id for r in rows if criterion in r.filing_criteria))

    # Codes are 运城's legacy 4-digit classes (major 2 + minor 2), the adopted directory.
    # A full loop, closed. 事件 0401 无照经营游商: 在城市公共场所流动经营摊贩.
    c = report("collector", Kind.EVENT, "0401", "黄龙体育中心东门外流动摊贩占道经营", 30.2712, 120.1376,
               "西湖区黄龙路1号东门外")
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    # The 运城 row is an emergency one (2紧急工作时): filing under it makes the case urgent.
    case_service.file(session, p["shift_leader"], c, under(c, "流动经营摊贩"), now=step())
    case_service.dispatch(session, p["dispatcher"], c, DispatchIn(), now=step())
    case_service.complete(session, p["unit_staff"], c, RequiredNoteIn(note="已劝离摊贩，恢复通行"), now=step())
    case_service.request_check(session, p["operator"], c, CollectorIn(), now=step())
    case_service.check(session, p["collector"], c, CheckIn(passed=True, note="现场已无摊贩"), now=step())
    case_service.close(session, p["shift_leader"], c, NoteIn(), now=step())
    # At the unit. 部件 0137 路灯, row 单盏不亮.
    # The lamp is a 部件 of the inventory: its maintainer gets the case (先属主).
    c = report("collector", Kind.PART, "0137", "曙光路与杭大路口路灯夜间不亮", 30.2707, 120.1452,
               "西湖区曙光路杭大路口东北角", part_code=lamp_part)
    case_service.accept(session, p["operator"], c, NoteIn(), now=step())
    case_service.file(session, p["shift_leader"], c, under(c, "单盏不亮"), now=step())
    case_service.dispatch(session, p["dispatcher"], c, DispatchIn(), now=step())
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
