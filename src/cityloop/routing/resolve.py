"""Which unit handles a case, and why, decided from data alone (no framework imports).

The national practice (docs/domain.md §5.2) is two phases whose order depends on the kind:

* 部件 — 先属主、后属地: the object's owners (养护单位, 权属单位, 主管部门) first, through owner rules or directly
  when the owner is itself a handling unit; the place only when no owner leads anywhere (不明部件).
* 事件 — 先属地、后属主: the place first — territory rules, then city-wide rules that hand a class to its
  competent authority —, the owners only if a part happens to be known.

Territory and city-wide rules form one "place" phase: at equal priority any territory rule outranks a city-wide
one (属地 first), but a city-wide rule given a higher priority wins, which is how a matrix says "08 施工管理 always
goes to 住建, whatever the street". Every candidate that matched but could not be used is kept in `considered`, so
a dispatcher who overrides the suggestion sees what the matrix tried.

Callers pass only the rules that are in force (active, within validity); this module does not know about time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityloop.catalog.enums import Kind

GRID, COMMUNITY, STREET, DISTRICT, CITY = "grid", "community", "street", "district", "city"

LEVEL_LABELS: dict[str, str] = {GRID: "网格级", COMMUNITY: "社区级", STREET: "街道级", DISTRICT: "区级", CITY: "市级"}
# Longer codes nest inside shorter ones (§5.1), so length alone tells the level a rule is written for.
LEVEL_BY_LENGTH: dict[int, str] = {15: GRID, 12: COMMUNITY, 9: STREET, 6: DISTRICT}
_TERRITORY_RANK: dict[str, int] = {GRID: 4, COMMUNITY: 3, STREET: 2, DISTRICT: 1, CITY: 0}
# Levels a relative target may name: a unit answers for a district, street or community, never for a grid.
_UNIT_LEVELS = frozenset({CITY, DISTRICT, STREET, COMMUNITY})

MAINTAINER, OWNER, COMPETENT = "养护单位", "权属单位", "主管部门"

BASIS_OWNER, BASIS_TERRITORY, BASIS_AUTHORITY = "owner", "territory", "authority"
PRECEDENCE: dict[Kind, str] = {Kind.PART: "部件：先属主、后属地", Kind.EVENT: "事件：先属地、后属主"}
_LEAD: dict[Kind, str] = {Kind.PART: "部件按先属主、后属地：", Kind.EVENT: "事件按先属地、后属主："}
MAX_CONSIDERED = 10


@dataclass(frozen=True)
class Place:
    """Territory codes of a case; the city is implicit, so a rule without territory is city-wide."""

    district: str | None = None   # 6 digits
    street: str | None = None     # 9 digits
    community: str | None = None  # 12 digits
    grid: str | None = None       # 15 digits

    def levels(self) -> tuple[tuple[str, str], ...]:
        """(level, code) pairs known for the case, most specific first."""
        pairs = ((GRID, self.grid), (COMMUNITY, self.community), (STREET, self.street), (DISTRICT, self.district))
        return tuple((level, code) for level, code in pairs if code)

    def code_at(self, level: str) -> str | None:
        return {GRID: self.grid, COMMUNITY: self.community, STREET: self.street, DISTRICT: self.district}.get(
            level) or None


@dataclass(frozen=True)
class PartOwner:
    """The 部件 a case is about, as the inventory describes it; "" where a code or name is unknown."""

    part_code: str
    maintainer_code: str = ""
    maintainer_name: str = ""
    owner_code: str = ""
    owner_name: str = ""
    competent_code: str = ""
    competent_name: str = ""

    def roles(self) -> tuple[tuple[str, str, str], ...]:
        """(role, code, name) for every known owner code, in order of preference."""
        # The maintainer does the work, the owner pays for it, the competent department only supervises: the one
        # closest to the object saves a dispatch hop.
        triples = ((MAINTAINER, self.maintainer_code, self.maintainer_name),
                   (OWNER, self.owner_code, self.owner_name),
                   (COMPETENT, self.competent_code, self.competent_name))
        return tuple(t for t in triples if t[1])


@dataclass(frozen=True)
class Rule:
    """One row of the responsibility matrix; None (or "") matchers match anything."""

    id: int
    name: str
    kind: Kind | None = None
    category_code: str | None = None   # exact class code (4 or 5 digits) or a 2-digit major
    territory_code: str | None = None  # district, street, community or grid code
    owner_code: str | None = None      # a 养护/权属/主管 code of the part
    unit_id: int | None = None
    target_level: str | None = None     # relative target: city / district / street / community …
    target_industry: str | None = None  # … and the industry of the unit at that level
    priority: int = 0


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    name: str
    level: str
    industry: str = ""
    territory_code: str | None = None
    credit_code: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Considered:
    """A candidate that matched but was not used, or an owner that is not a usable unit (rule_id None)."""

    rule_id: int | None
    reason: str


class UnitIndex:
    """Units looked up the three ways routing needs; build once per load of the unit table.

    Where several units share a key the active one with the lowest id stands for it, and an inactive one is kept
    only when no active one exists, so that the reason for a skip can say "停用" rather than "不存在".
    """

    __slots__ = ("_by_id", "_by_owner_code", "_by_slot")

    def __init__(self, by_id: dict[int, UnitRef], by_slot: dict[tuple[str, str, str | None], UnitRef],
                 by_owner_code: dict[str, UnitRef]) -> None:
        self._by_id = by_id
        self._by_slot = by_slot
        self._by_owner_code = by_owner_code

    @classmethod
    def build(cls, units: Iterable[UnitRef]) -> UnitIndex:
        ordered = sorted(units, key=lambda u: (not u.active, u.id))
        by_id = {u.id: u for u in ordered}
        by_slot: dict[tuple[str, str, str | None], UnitRef] = {}
        by_credit: dict[str, UnitRef] = {}
        by_code: dict[str, UnitRef] = {}
        for u in ordered:
            # A city-level unit is found by industry alone: the city is implicit in every place.
            territory = None if u.level == CITY else (u.territory_code or None)
            by_slot.setdefault((u.level, u.industry, territory), u)
            if u.credit_code:
                by_credit.setdefault(u.credit_code, u)
            by_code.setdefault(u.code, u)
        # The inventory names owners by 统一社会信用代码; a unit's own code is the fallback for units that have none.
        by_owner_code = {**by_code, **by_credit}
        return cls(by_id, by_slot, by_owner_code)

    def get(self, unit_id: int) -> UnitRef | None:
        return self._by_id.get(unit_id)

    def at(self, level: str, industry: str, territory_code: str | None) -> UnitRef | None:
        """The unit of `industry` answering for `territory_code` at `level` (any territory for the city)."""
        return self._by_slot.get((level, industry, None if level == CITY else territory_code))

    def owner(self, code: str) -> UnitRef | None:
        """The unit whose credit code (or, failing that, own code) is `code`."""
        return self._by_owner_code.get(code) if code else None

    def __len__(self) -> int:
        return len(self._by_id)


@dataclass(frozen=True)
class Suggestion:
    unit: UnitRef | None
    basis: str | None               # "owner" / "territory" / "authority" (a city-wide rule) / None
    rule_id: int | None
    rule_name: str | None
    matched_level: str | None       # grid … city for territory and authority bases; None for owner
    matched_territory: str | None   # the code the rule matched (None for city-wide and owner)
    owner: dict[str, str] | None = field(hash=False)  # role, code, name, part_code for the owner basis
    precedence: str
    explanation: str
    considered: tuple[Considered, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": None if self.unit is None else {"id": self.unit.id, "code": self.unit.code,
                                                    "name": self.unit.name},
            "basis": self.basis,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "matched_level": self.matched_level,
            "matched_territory": self.matched_territory,
            "owner": None if self.owner is None else dict(self.owner),
            "precedence": self.precedence,
            "explanation": self.explanation,
            "considered": [{"rule_id": c.rule_id, "reason": c.reason} for c in self.considered],
        }


def category_specificity(rule_code: str | None, category_code: str) -> int | None:
    """2 for the exact class, 1 for its major, 0 for any class; None when the rule is for another class."""
    if not rule_code:
        return 0
    if rule_code == category_code:
        return 2
    if len(rule_code) == 2 and category_code.startswith(rule_code):
        return 1
    return None


def _territory_match(rule_code: str | None, codes: dict[str, str]) -> str | None:
    """The level at which the rule's territory matches the case: CITY for a city-wide rule, None for no match."""
    if not rule_code:
        return CITY
    level = LEVEL_BY_LENGTH.get(len(rule_code))
    return level if level is not None and codes.get(level) == rule_code else None


@dataclass
class _Trace:
    """Skipped candidates, in the order they were tried."""

    items: list[Considered] = field(default_factory=list)
    rules_skipped: int = 0  # counted past the cap, for the no-match explanation

    def add(self, rule_id: int | None, reason: str) -> None:
        if rule_id is not None:
            self.rules_skipped += 1
        if len(self.items) < MAX_CONSIDERED:
            self.items.append(Considered(rule_id, reason))


def _target(rule: Rule, place: Place, units: UnitIndex, trace: _Trace) -> UnitRef | None:
    """The active unit the rule points to, or None after noting why not."""
    if rule.unit_id is not None:
        unit = units.get(rule.unit_id)
        if unit is None:
            trace.add(rule.id, f"目标单位 #{rule.unit_id} 不存在")
            return None
        if not unit.active:
            trace.add(rule.id, f"目标单位 {unit.name} 已停用")
            return None
        return unit
    level, industry = rule.target_level, rule.target_industry
    if not level or not industry:
        trace.add(rule.id, "规则未指定目标单位")
        return None
    if level not in _UNIT_LEVELS:
        trace.add(rule.id, f"目标层级 {level} 无效")
        return None
    label = LEVEL_LABELS[level]
    territory = None if level == CITY else place.code_at(level)
    if level != CITY and territory is None:
        trace.add(rule.id, f"案件缺少{label}区划代码，无法确定{industry}单位")
        return None
    unit = units.at(level, industry, territory)
    where = label if territory is None else f"{label}（{territory}）"
    if unit is None:
        trace.add(rule.id, f"{where}没有{industry}单位")
        return None
    if not unit.active:
        trace.add(rule.id, f"{where}的{industry}单位 {unit.name} 已停用")
        return None
    return unit


def _rule_label(rule: Rule) -> str:
    return f"规则 #{rule.id}「{rule.name}」"


def _where(level: str, code: str | None) -> str:
    return f"{LEVEL_LABELS[level]}（{code or '全市'}）"


def _owner_info(role: str, code: str, name: str, part: PartOwner) -> dict[str, str]:
    return {"role": role, "code": code, "name": name, "part_code": part.part_code}


def _owner_step(kind: Kind, category_code: str, part: PartOwner, codes: dict[str, str],
                rules: Sequence[Rule], units: UnitIndex, place: Place, trace: _Trace,
                note: str) -> Suggestion | None:
    roles = part.roles()
    if not roles:
        return None
    role_rank: dict[str, int] = {}
    for rank, (_role, code, _name) in enumerate(roles):
        role_rank.setdefault(code, rank)
    # Priority is the administrator's explicit lever; the owner's role breaks ties before specificity does.
    ranked: list[tuple[tuple[int, int, int, int, int], Rule]] = []
    for rule in rules:
        if not rule.owner_code or rule.owner_code not in role_rank:
            continue
        if (found := _matches(rule, kind, category_code, codes)) is None:
            continue
        spec, level = found
        ranked.append(((-rule.priority, role_rank[rule.owner_code], -spec, -_TERRITORY_RANK[level], rule.id), rule))
    ranked.sort(key=lambda pair: pair[0])
    lead = _LEAD[kind]
    for _key, rule in ranked:
        unit = _target(rule, place, units, trace)
        if unit is None:
            continue
        role, code, name = roles[role_rank[rule.owner_code or ""]]
        shown = name or code
        return Suggestion(
            unit=unit, basis=BASIS_OWNER, rule_id=rule.id, rule_name=rule.name, matched_level=None,
            matched_territory=None, owner=_owner_info(role, code, name, part), precedence=PRECEDENCE[kind],
            explanation=(f"{lead}{note}部件 {part.part_code} 的{role}为 {shown}，"
                         f"按{_rule_label(rule)}派往 {unit.name}。"),
            considered=tuple(trace.items))
    tried: set[str] = set()
    for role, code, name in roles:
        if code in tried:  # one organisation in two roles: asking twice would only repeat the reason
            continue
        tried.add(code)
        unit = units.owner(code)
        shown = name or code
        if unit is None:
            trace.add(None, f"{role} {shown}（{code}）不是本系统的处置单位")
            continue
        if not unit.active:
            trace.add(None, f"{role} {unit.name} 已停用")
            continue
        sent = "派往该单位" if unit.name == shown else f"派往 {unit.name}"
        return Suggestion(
            unit=unit, basis=BASIS_OWNER, rule_id=None, rule_name=None, matched_level=None, matched_territory=None,
            owner=_owner_info(role, code, name or unit.name, part), precedence=PRECEDENCE[kind],
            explanation=f"{lead}{note}部件 {part.part_code} 的{role}为 {shown}，{sent}。",
            considered=tuple(trace.items))
    return None


def _matches(rule: Rule, kind: Kind, category_code: str, codes: dict[str, str]) -> tuple[int, str] | None:
    """(class specificity, territory level matched) when the rule's kind, class and territory all match."""
    if rule.kind is not None and rule.kind != kind:
        return None
    spec = category_specificity(rule.category_code, category_code)
    level = _territory_match(rule.territory_code, codes)
    return None if spec is None or level is None else (spec, level)


def _place_step(kind: Kind, category_code: str, codes: dict[str, str], rules: Sequence[Rule],
                units: UnitIndex, place: Place, trace: _Trace, note: str) -> Suggestion | None:
    ranked: list[tuple[tuple[int, int, int, int, int], Rule, str]] = []
    for rule in rules:
        if rule.owner_code:
            continue
        if (found := _matches(rule, kind, category_code, codes)) is None:
            continue
        spec, level = found
        citywide = int(level == CITY)
        ranked.append(((-rule.priority, citywide, -spec, -_TERRITORY_RANK[level], rule.id), rule, level))
    ranked.sort(key=lambda triple: triple[0])
    lead = _LEAD[kind]
    for _key, rule, level in ranked:
        unit = _target(rule, place, units, trace)
        if unit is None:
            continue
        matched = None if level == CITY else rule.territory_code
        basis = BASIS_AUTHORITY if level == CITY else BASIS_TERRITORY
        text = f"{lead}{note}{_rule_label(rule)}在{_where(level, matched)}匹配，派往 {unit.name}。"
        target = rule.target_level
        if level == CITY and rule.unit_id is None and target is not None and target != CITY:
            # A city-wide rule with a relative target is territorial after all: the case's own street (or
            # district, community) picks the unit, and that is the level the explanation names.
            basis, level, matched = BASIS_TERRITORY, target, place.code_at(target)
            text = (f"{lead}{note}{_rule_label(rule)}（全市适用）按案件所在{LEVEL_LABELS[level].removesuffix('级')}"
                    f"（{matched}）确定"
                    f"{rule.target_industry}单位，派往 {unit.name}。")
        return Suggestion(
            unit=unit, basis=basis, rule_id=rule.id, rule_name=rule.name, matched_level=level,
            matched_territory=matched, owner=None, precedence=PRECEDENCE[kind], explanation=text,
            considered=tuple(trace.items))
    return None


def _owner_gap(part: PartOwner | None) -> str:
    """Why a 部件 fell through to the place phase, as a clause of the explanation."""
    if part is None:
        return "未关联部件，"
    if not part.roles():
        return f"部件 {part.part_code} 权属不明，"
    return f"部件 {part.part_code} 的属主均无可用处置单位，"


def resolve(kind: Kind, category_code: str, place: Place, part: PartOwner | None, rules: Sequence[Rule],
            units: UnitIndex) -> Suggestion:
    """Suggest the handling unit for a case of `kind` and class `category_code` at `place`."""
    codes = dict(place.levels())
    trace = _Trace()
    if kind == Kind.PART:
        if part is not None:
            found = _owner_step(kind, category_code, part, codes, rules, units, place, trace, "")
            if found is not None:
                return found
        note = _owner_gap(part)
        found = _place_step(kind, category_code, codes, rules, units, place, trace, note)
    else:
        note = ""
        found = _place_step(kind, category_code, codes, rules, units, place, trace, note)
        if found is None and part is not None:
            found = _owner_step(kind, category_code, part, codes, rules, units, place, trace,
                                "无属地或归口规则可用，")
    if found is not None:
        return found
    where = "、".join(f"{LEVEL_LABELS[level]} {code}" for level, code in place.levels()) or "未定位"
    why = (f"{trace.rules_skipped} 条匹配规则均无可用单位" if trace.rules_skipped
           else f"没有规则匹配类别 {category_code}（{where}）")
    return Suggestion(
        unit=None, basis=None, rule_id=None, rule_name=None, matched_level=None, matched_territory=None,
        owner=None, precedence=PRECEDENCE[kind],
        explanation=f"{_LEAD[kind]}{note}{why}，请调度员手动选择处置单位。",
        considered=tuple(trace.items))
