"""Synthetic handling units and 部件 for the demo city: pure generators (numpy only, no database).

Hangzhou's collaboration system counts 2 498 units at city, district, street and community level in 25 industries
(domain.md §7), but the list of the 25 is not public: INDUSTRIES below is ours, a plausible set for a city of that
kind. Unit names are real-sounding office titles marked （演示）, codes start with DEMO-, and the 统一社会信用代码
start with DEMO, so no row can be mistaken for a real organisation's record.

The 部件 inventory follows GB/T 47678.5-2026 (domain.md §4.4): 17-digit codes, real 5-digit class codes and names
from the national directory, 主管部门 / 权属 / 养护 named by credit code and name. It is generated as columns so
that a few hundred thousand rows cost a few seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cityloop.areas.gridgen import M_PER_DEG, GridCell

CITY_CODE = "330100"
CITY_NAME = "杭州市"

# Ours, not Hangzhou's (whose list is not public). 属地 is the territorial line: district government, street office,
# community committee.
INDUSTRIES: tuple[str, ...] = (
    "城管", "市政", "园林", "环卫", "交通", "交警", "住建", "水务", "排水", "供水", "燃气", "电力", "通信",
    "规划资源", "生态环境", "市场监管", "公安", "消防", "应急", "文旅", "卫健", "教育", "房管", "河道", "属地",
)
# City-wide companies and vertically run services without a district office in the demo: their assets in a
# district are owned and maintained by the city-level unit.
CITY_ONLY: frozenset[str] = frozenset({"电力", "通信", "燃气", "供水", "排水", "消防", "河道"})
DISTRICT_INDUSTRIES: tuple[str, ...] = tuple(i for i in INDUSTRIES if i not in CITY_ONLY)

_ABBR = {
    "城管": "CG", "市政": "SZ", "园林": "YL", "环卫": "HW", "交通": "JT", "交警": "JJ", "住建": "ZJ", "水务": "SW",
    "排水": "PS", "供水": "GS", "燃气": "RQ", "电力": "DL", "通信": "TX", "规划资源": "GH", "生态环境": "ST",
    "市场监管": "SJ", "公安": "GA", "消防": "XF", "应急": "YJ", "文旅": "WL", "卫健": "WJ", "教育": "JY",
    "房管": "FG", "河道": "HD", "属地": "SD",
}
_CITY_TITLE = {
    "城管": "城市管理局", "市政": "市政设施管理中心", "园林": "园林文物局", "环卫": "环境卫生管理中心",
    "交通": "交通运输局", "交警": "公安局交通警察支队", "住建": "城乡建设委员会", "水务": "林业水利局",
    "排水": "排水有限公司", "供水": "供水有限公司", "燃气": "燃气有限公司", "电力": "供电公司",
    "通信": "通信管线有限公司", "规划资源": "规划和自然资源局", "生态环境": "生态环境局",
    "市场监管": "市场监督管理局", "公安": "公安局", "消防": "消防救援支队", "应急": "应急管理局",
    "文旅": "文化广电旅游局", "卫健": "卫生健康委员会", "教育": "教育局", "房管": "住房保障和房产管理局",
    "河道": "河道管理中心",
    # The city has no territorial office of its own; under 两级指挥 (domain.md §5.3) the city command centre tops
    # the territorial chain, dispatching to district centres, so it is the city's 属地 unit.
    "属地": "城市管理指挥保障中心",
}
_DISTRICT_TITLE = {
    "城管": "城市管理局", "市政": "市政设施养护中心", "园林": "园林绿化管理中心", "环卫": "环境卫生管理中心",
    "交通": "交通运输局", "交警": "交警大队", "住建": "住房和城乡建设局", "水务": "林业水利局",
    "规划资源": "规划和自然资源分局", "生态环境": "生态环境分局", "市场监管": "市场监督管理局", "公安": "公安分局",
    "应急": "应急管理局", "文旅": "文化和广电旅游体育局", "卫健": "卫生健康局", "教育": "教育局",
    "房管": "住房保障和房产管理中心", "属地": "人民政府",
}
_STREET_UNITS = (("属地", "SD", "办事处"), ("城管", "CG", "城管执法中队"), ("环卫", "HW", "环卫所"))
DEMO_SUFFIX = "（演示）"


@dataclass(frozen=True)
class UnitSpec:
    code: str            # DEMO-<territory>-<industry abbreviation>, ≤ 32 characters
    name: str            # ends with （演示）
    level: str           # "city" / "district" / "street" / "community" (UnitLevel values)
    industry: str
    parent_code: str | None
    territory_code: str  # the territory the unit answers for: 330100 for city units
    credit_code: str     # 18 characters, DEMO + 14 digits: shaped like, and never equal to, a real one


def demo_units(districts: Sequence[tuple[str, str]], streets: Sequence[tuple[str, str, str]],
               communities: Sequence[tuple[str, str, str]], *, city_code: str = CITY_CODE,
               city_name: str = CITY_NAME) -> list[UnitSpec]:
    """Units of the demo city, parents before children.

    districts are (code, name); streets and communities (code, name, parent code). Per city: one unit per industry
    (25); per district: one per DISTRICT_INDUSTRIES (18) under the city unit of its industry; per street: office
    (属地), 城管执法中队 (城管) and 环卫所 (环卫), all under the district 城管 unit (the district's command arm);
    per community: its 居委会 (属地) under the street office.
    """
    district_names = dict(districts)
    street_codes = {code for code, _, _ in streets}
    out: list[UnitSpec] = []
    for industry in INDUSTRIES:
        out.append(_unit(city_code, industry, f"{city_name}{_CITY_TITLE[industry]}", "city", None))
    for code, name in districts:
        for industry in DISTRICT_INDUSTRIES:
            out.append(_unit(code, industry, f"{name}{_DISTRICT_TITLE[industry]}", "district",
                             _code(city_code, industry)))
    for code, name, parent in streets:
        if parent not in district_names:
            raise ValueError(f"street {code}: unknown district {parent}")
        for industry, _, title in _STREET_UNITS:
            out.append(_unit(code, industry, f"{name}{title}", "street", _code(parent, "城管")))
    for code, name, parent in communities:
        if parent not in street_codes:
            raise ValueError(f"community {code}: unknown street {parent}")
        out.append(_unit(code, "属地", f"{name}居委会", "community", _code(parent, "属地")))
    for attr in ("code", "credit_code"):
        if len({getattr(u, attr) for u in out}) != len(out):
            raise ValueError(f"duplicate unit {attr}: territory codes must be unique")
    return out


class UnitLike(Protocol):
    """What the 部件 generator reads of a unit: a UnitSpec, a Unit row, or a selected row with these columns."""

    @property
    def territory_code(self) -> str | None: ...
    @property
    def industry(self) -> str: ...
    @property
    def credit_code(self) -> str | None: ...
    @property
    def name(self) -> str: ...


def _code(territory: str, industry: str) -> str:
    return f"DEMO-{territory}-{_ABBR[industry]}"


def _unit(territory: str, industry: str, name: str, level: str, parent: str | None) -> UnitSpec:
    # Territory codes of the four levels never collide once padded to 12 digits (sequences start at 001), and the
    # industry's rank tells the units of one territory apart.
    credit = f"DEMO{territory.ljust(12, '0')}{INDUSTRIES.index(industry) + 1:02d}"
    return UnitSpec(_code(territory, industry), name + DEMO_SUFFIX, level, industry, parent, territory, credit)


# --- 部件 -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartClass:
    code: str       # GB/T 47678.5-2026 major 2 + minor 3
    name: str       # the directory's name (≤ 30 characters, GLBJMC)
    weight: float   # relative frequency in the inventory
    competent: str  # industry of the 主管部门: always one with district units
    owner: str      # industry of the owner and maintainer (a CITY_ONLY one: the city company; "": unknown)


# The common street furniture of a Chinese city, weighted by a rough guess of how many stand per hectare (trees,
# lamps and covers dominate; toilets are few). Utilities' covers are supervised by 城管 (窨井盖 management) but
# owned by the utility; 不明井盖 is the cover whose owner nobody knows.
PART_CLASSES: tuple[PartClass, ...] = (
    PartClass("04002", "行道树", 20.0, "园林", "园林"),
    PartClass("01037", "路灯", 12.0, "市政", "市政"),
    PartClass("03005", "垃圾箱", 8.0, "环卫", "环卫"),
    PartClass("01003", "雨水井盖", 8.0, "市政", "市政"),
    PartClass("01002", "污水井盖", 7.0, "水务", "排水"),
    PartClass("01004", "雨水箅子", 6.0, "市政", "市政"),
    PartClass("01001", "供水井盖", 5.0, "水务", "供水"),
    PartClass("01005", "电力井盖", 4.0, "城管", "电力"),
    PartClass("01007", "通信井盖", 4.0, "城管", "通信"),
    PartClass("02010", "交通标志牌及标线", 4.0, "交警", "交警"),
    PartClass("02021", "便道桩", 4.0, "市政", "市政"),
    PartClass("02017", "交通护栏", 3.0, "交警", "交警"),
    PartClass("01011", "燃气井盖", 2.0, "城管", "燃气"),
    PartClass("01013", "消防设施", 2.0, "应急", "消防"),
    PartClass("01030", "电力立杆", 2.0, "城管", "电力"),
    PartClass("02012", "路名牌", 1.5, "规划资源", "市政"),
    PartClass("02014", "交通信号灯", 1.5, "交警", "交警"),
    PartClass("01027", "通信交接箱", 1.5, "城管", "通信"),
    PartClass("02004", "公交站设施", 1.0, "交通", "交通"),
    PartClass("03001", "公共厕所", 0.5, "环卫", "环卫"),
    PartClass("01023", "不明井盖", 0.5, "城管", ""),
)
UNKNOWN_OWNER_CLASS = "01023"

# GLBJZT 状态 as PartStatus values; new inventories are mostly intact.
STATUS_SHARES: tuple[tuple[str, float], ...] = (("intact", 0.93), ("damaged", 0.05), ("lost", 0.01),
                                                ("abandoned", 0.01))
SURVEY_FIRST = date(2020, 1, 1)
SURVEY_LAST = date(2025, 12, 31)
PART_CONSTANTS: dict[str, object] = {"changed_on": None, "data_source": "其他", "note": "合成数据（演示）",
                                     "synthetic": True}

# Grids come in one of two shapes; the interior point is always the last two fields.
GridSite = tuple[str, float, float, float, float, float, float]  # code, min lon/lat, max lon/lat, interior lon/lat
GridPoint = tuple[str, float, float]  # code, interior lon, lat (e.g. Grid.code, center_lon, center_lat)
ObjArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


def grid_sites(cells: Iterable[GridCell]) -> list[GridSite]:
    """What synthetic_parts needs of each generated grid: its bounding box and its interior point."""
    out: list[GridSite] = []
    for c in cells:
        minx, miny, maxx, maxy = c.geometry.bounds
        out.append((c.code, minx, miny, maxx, maxy, c.center_lon, c.center_lat))
    return out


@dataclass(frozen=True)
class PartColumns:
    """One array per Part column (names as in parts/models.py); strings are object arrays of str."""

    code: ObjArray
    category_code: ObjArray
    name: ObjArray
    competent_code: ObjArray
    competent_name: ObjArray
    owner_code: ObjArray
    owner_name: ObjArray
    maintainer_code: ObjArray
    maintainer_name: ObjArray
    grid_code: ObjArray
    street_code: ObjArray
    street_name: ObjArray
    community_code: ObjArray
    community_name: ObjArray
    status: ObjArray
    surveyed_on: npt.NDArray[np.datetime64]  # datetime64[D]; .tolist() gives datetime.date
    lon: FloatArray
    lat: FloatArray

    def __len__(self) -> int:
        return len(self.code)


def synthetic_parts(grids: Sequence[Sequence[Any]], *, per_grid: float, seed: int, units: Iterable[UnitLike],
                    territory_names: Mapping[str, str] | None = None, jitter_m: float = 20.0,
                    unknown_owner_share: float = 0.03, city_code: str = CITY_CODE,
                    classes: Sequence[PartClass] = PART_CLASSES) -> PartColumns:
    """Poisson(per_grid) parts in each grid, as columns.

    `grids` are GridSite or GridPoint rows (all of one shape). Each point is the grid's interior point moved by up
    to jitter_m metres on each axis (so within jitter_m·√2 of it); with a GridSite it is then kept inside the
    bounding box, which for a square cell means inside the grid itself. Codes are district + class + a sequence per
    (district, class) in grid order. The 主管部门 is the district unit of the class's competent industry; owner and
    maintainer the same for district industries, the city company for CITY_ONLY ones; about
    `unknown_owner_share` of all parts (不明井盖 included) have neither. Units without a territory or credit code
    are ignored, and of two units for one (territory, industry) the first wins. `territory_names` maps street and
    community codes to names.
    """
    if per_grid < 0 or jitter_m < 0 or not 0 <= unknown_owner_share < 1:
        raise ValueError("per_grid and jitter_m must be non-negative, unknown_owner_share within [0, 1)")
    width = len(grids[0]) if len(grids) else 3
    if width not in (3, 7) or any(len(g) != width for g in grids):
        raise ValueError("grids must all be (code, lon, lat) or all (code, min_lon, min_lat, max_lon, max_lat, "
                         "lon, lat)")
    rng = np.random.default_rng(seed)
    names = territory_names or {}
    codes = np.array([str(g[0]) for g in grids], dtype=object)
    values = np.array([tuple(g[1:]) for g in grids], dtype=np.float64).reshape(len(grids), width - 1)
    districts = sorted({c[:6] for c in codes.tolist()})
    rank = {code: k for k, code in enumerate(districts)}
    d_of_grid = np.array([rank[c[:6]] for c in codes.tolist()], dtype=np.int64)

    gi = np.repeat(np.arange(len(grids)), rng.poisson(per_grid, len(grids)))
    n = len(gi)
    weights = np.array([c.weight for c in classes])
    cls = rng.choice(len(classes), size=n, p=weights / weights.sum())

    half_lat = jitter_m / M_PER_DEG
    lat = values[gi, -1] + rng.uniform(-half_lat, half_lat, n)
    half_lon = jitter_m / (M_PER_DEG * np.cos(np.radians(lat)))
    lon = values[gi, -2] + rng.uniform(-1.0, 1.0, n) * half_lon
    if width == 7:
        box = values[gi, :4]
        # A hair inside the box, so that a point never sits on a grid edge shared with the next grid.
        pad_lon = (box[:, 2] - box[:, 0]) * 1e-6
        pad_lat = (box[:, 3] - box[:, 1]) * 1e-6
        lon = np.clip(lon, box[:, 0] + pad_lon, box[:, 2] - pad_lon)
        lat = np.clip(lat, box[:, 1] + pad_lat, box[:, 3] - pad_lat)

    # The unknown-owner class counts towards the share: draw the rest so that the total comes out near it.
    unknown_class = np.array([c.code == UNKNOWN_OWNER_CLASS for c in classes])
    base = float(weights[unknown_class].sum() / weights.sum())
    p_random = max(0.0, (unknown_owner_share - base) / (1 - base)) if base < 1 else 0.0
    unknown = unknown_class[cls] | (rng.random(n) < p_random)

    status_values = np.array([s for s, _ in STATUS_SHARES], dtype=object)
    shares = np.array([p for _, p in STATUS_SHARES])
    status = status_values[rng.choice(len(STATUS_SHARES), size=n, p=shares / shares.sum())]
    first = np.datetime64(SURVEY_FIRST, "D")
    span = int((np.datetime64(SURVEY_LAST, "D") - first).astype(np.int64)) + 1
    surveyed = first + rng.integers(0, span, n).astype("timedelta64[D]")

    unit_codes, unit_names, competent, owner = _unit_tables(districts, classes, units, city_code)
    d = d_of_grid[gi]
    comp_idx = competent[d, cls]
    own_idx = np.where(unknown, len(unit_codes) - 1, owner[d, cls])

    grid_code = codes[gi]
    street = np.array([c[:9] for c in codes.tolist()], dtype=object)
    community = np.array([c[:12] for c in codes.tolist()], dtype=object)
    street_name = np.array([names.get(c, "") for c in street.tolist()], dtype=object)
    community_name = np.array([names.get(c, "") for c in community.tolist()], dtype=object)
    class_codes = np.array([c.code for c in classes], dtype=object)
    class_names = np.array([c.name for c in classes], dtype=object)
    return PartColumns(
        code=_part_codes(districts, d, class_codes, cls), category_code=class_codes[cls], name=class_names[cls],
        competent_code=unit_codes[comp_idx], competent_name=unit_names[comp_idx],
        owner_code=unit_codes[own_idx], owner_name=unit_names[own_idx],
        maintainer_code=unit_codes[own_idx], maintainer_name=unit_names[own_idx],
        grid_code=grid_code, street_code=street[gi], street_name=street_name[gi],
        community_code=community[gi], community_name=community_name[gi],
        status=status, surveyed_on=surveyed, lon=lon, lat=lat)


def part_rows(parts: PartColumns, **extra: object) -> list[dict[str, object]]:
    """Rows for a bulk INSERT into `parts`: the columns, PART_CONSTANTS, and `extra` (e.g. created_at) in every row."""
    constants = {**PART_CONSTANTS, **extra}
    keys = [f.name for f in fields(parts)] + list(constants)
    columns = [getattr(parts, f.name).tolist() for f in fields(parts)]
    tail = tuple(constants.values())
    return [dict(zip(keys, row + tail, strict=True)) for row in zip(*columns, strict=True)]


def _unit_tables(districts: list[str], classes: Sequence[PartClass], units: Iterable[UnitLike],
                 city_code: str) -> tuple[ObjArray, ObjArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Credit codes and names of the units involved (the last entry empty: no owner), and per (district, class)
    the index of the competent unit and of the owner."""
    by_territory: dict[tuple[str, str], tuple[str, str]] = {}
    for u in units:
        if u.territory_code and u.credit_code:
            by_territory.setdefault((u.territory_code, u.industry), (u.credit_code, u.name))
    index: dict[str, int] = {}
    found: list[tuple[str, str]] = []

    def pick(district: str, industry: str, *, city_company: bool) -> int:
        unit = None if city_company else by_territory.get((district, industry))
        unit = unit or by_territory.get((city_code, industry))
        if unit is None:
            raise KeyError(f"no demo unit of industry {industry} for district {district} or the city")
        if unit[0] not in index:
            index[unit[0]] = len(found)
            found.append(unit)
        return index[unit[0]]

    competent = np.zeros((len(districts), len(classes)), dtype=np.int64)
    owner = np.zeros((len(districts), len(classes)), dtype=np.int64)
    unknown_slot: list[tuple[int, int]] = []
    for i, district in enumerate(districts):
        for j, c in enumerate(classes):
            competent[i, j] = pick(district, c.competent, city_company=False)
            if c.owner:
                owner[i, j] = pick(district, c.owner, city_company=c.owner in CITY_ONLY)
            else:
                unknown_slot.append((i, j))
    for i, j in unknown_slot:
        owner[i, j] = len(found)
    codes = np.array([credit for credit, _ in found] + [""], dtype=object)
    unit_names = np.array([name for _, name in found] + [""], dtype=object)
    return codes, unit_names, competent, owner


def _part_codes(districts: list[str], d: npt.NDArray[np.int64], class_codes: ObjArray,
                cls: npt.NDArray[np.int64]) -> ObjArray:
    """17-digit 标识码: district + class + a 6-digit sequence counted per (district, class) in row order."""
    n = len(d)
    key = d * len(class_codes) + cls
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if n else np.zeros(0, dtype=np.int64)
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    seq = np.empty(n, dtype=np.int64)
    seq[order] = np.arange(n) - group_start + 1
    if n and seq.max() > 999_999:
        raise ValueError("more than 999 999 parts of one class in one district: the 6-digit sequence overflows")
    prefix = [f"{dist}{cc}" for dist in districts for cc in class_codes.tolist()]
    return np.array([f"{prefix[k]}{s:06d}" for k, s in zip(key.tolist(), seq.tolist(), strict=True)], dtype=object)

