"""A tiny city for map and routing tests: two square districts of two streets of two communities each, with
unit grids, territorial units and a few routing rules. Built with the real services, flushed, never committed.

    330101 (district A)  lon 120.10–120.12, lat 30.20–30.22
      330101001  west half; communities 330101001001 (south), 330101001002 (north)
      330101002  east half; communities 330101002001, 330101002002
    330102 (district B)  lon 120.12–120.14, same latitudes, laid out the same way

Each community is 0.01° × 0.01° (about 960 m × 1,110 m), so it holds about a hundred 100 m grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from sqlalchemy.orm import Session

from cityloop.areas import service as area_service
from cityloop.areas.models import TerritoryLevel
from cityloop.catalog.enums import Kind
from cityloop.routing import service as routing
from cityloop.units.models import Unit, UnitLevel
from tests.factories import EPOCH

DISTRICTS = {"330101": ("甲区", 120.10), "330102": ("乙区", 120.12)}
LAT0 = 30.20


def community_box(district: str, street: int, community: int) -> tuple[float, float, float, float]:
    lon0 = DISTRICTS[district][1] + (street - 1) * 0.01
    lat0 = LAT0 + (community - 1) * 0.01
    return lon0, lat0, lon0 + 0.01, lat0 + 0.01


def center(district: str, street: int, community: int) -> tuple[float, float]:
    """A point well inside a community (WGS-84)."""
    minx, miny, maxx, maxy = community_box(district, street, community)
    return (minx + maxx) / 2 + 0.0003, (miny + maxy) / 2 + 0.0002


@dataclass
class MapWorld:
    units: dict[str, Unit]  # by code

    def unit(self, code: str) -> Unit:
        return self.units[code]


def build(session: Session, *, grids: bool = True, rules: bool = True) -> MapWorld:
    items = [area_service.TerritoryInput("330100", "测试市", TerritoryLevel.CITY,
                                         shapely.box(120.10, 30.20, 120.14, 30.22))]
    for code, (name, lon0) in DISTRICTS.items():
        items.append(area_service.TerritoryInput(code, name, TerritoryLevel.DISTRICT,
                                                 shapely.box(lon0, 30.20, lon0 + 0.02, 30.22)))
        for s in (1, 2):
            street = f"{code}{s:03d}"
            items.append(area_service.TerritoryInput(street, f"{name}{s}街道", TerritoryLevel.STREET,
                                                     shapely.box(lon0 + (s - 1) * 0.01, 30.20,
                                                                 lon0 + s * 0.01, 30.22)))
            for c in (1, 2):
                items.append(area_service.TerritoryInput(f"{street}{c:03d}", f"{name}{s}街道{c}社区",
                                                         TerritoryLevel.COMMUNITY,
                                                         shapely.box(*community_box(code, s, c))))
    area_service.upsert_territories(session, items, now=EPOCH, source="tests")
    if grids:
        area_service.generate_grids(session, [], size_m=100.0, now=EPOCH)
    units: dict[str, Unit] = {}

    def unit(code: str, name: str, level: UnitLevel, industry: str, territory: str,
             credit: str | None = None) -> None:
        u = Unit(code=code, name=name, level=level, industry=industry, territory_code=territory,
                 credit_code=credit, created_at=EPOCH)
        session.add(u)
        units[code] = u

    unit("CITY-ZJ", "市住建局", UnitLevel.CITY, "住建", "330100")
    unit("CITY-DL", "市供电公司", UnitLevel.CITY, "电力", "330100", credit="91330100DL0000001X")
    for code, (name, _) in DISTRICTS.items():
        unit(f"{code}-SZ", f"{name}市政", UnitLevel.DISTRICT, "市政", code, credit=f"11{code}SZ00000000")
        unit(f"{code}-YL", f"{name}园林", UnitLevel.DISTRICT, "园林", code)
        for s in (1, 2):
            street = f"{code}{s:03d}"
            unit(f"{street}-SD", f"{name}{s}街道办", UnitLevel.STREET, "属地", street)
            unit(f"{street}-HW", f"{name}{s}街道环卫所", UnitLevel.STREET, "环卫", street)
    session.flush()  # flush: rules name units by code, tests by id
    if rules:
        for spec in (
            routing.RuleSpec("部件 → 区市政", kind=Kind.PART, target_level=UnitLevel.DISTRICT, target_industry="市政"),
            routing.RuleSpec("园林设施 → 区园林", kind=Kind.PART, category_code="04",
                             target_level=UnitLevel.DISTRICT, target_industry="园林"),
            routing.RuleSpec("事件 → 街道办", kind=Kind.EVENT, target_level=UnitLevel.STREET,
                             target_industry="属地"),
            routing.RuleSpec("暴露垃圾 → 街道环卫所", kind=Kind.EVENT, category_code="06010",
                             target_level=UnitLevel.STREET, target_industry="环卫"),
            routing.RuleSpec("施工管理 → 市住建", kind=Kind.EVENT, category_code="08", unit_code="CITY-ZJ",
                             priority=10),
        ):
            routing.create_rule(session, spec, now=EPOCH)
    return MapWorld(units)
