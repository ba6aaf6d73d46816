"""routing/resolve.py: the national precedence (docs/domain.md §5.2) over plain data, no database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityloop.catalog.enums import Kind
from cityloop.routing.resolve import (
    MAX_CONSIDERED,
    PartOwner,
    Place,
    Rule,
    Suggestion,
    UnitIndex,
    UnitRef,
    category_specificity,
    resolve,
)

DISTRICT, STREET, OTHER_STREET = "330106", "330106003", "330106004"
COMMUNITY, GRID = "330106003001", "330106003001001"
HERE = Place(district=DISTRICT, street=STREET, community=COMMUNITY, grid=GRID)

MAINTAINER_CREDIT = "12330106MB0000001X"
GAS_CREDIT = "91330100MA0000GAS1"
COMPANY = "91330100MA27XXXX0Q"  # a contractor in the inventory that is not a handling unit

UNITS = (
    UnitRef(1, "U-XH-SZ", "西湖区市政设施养护中心（演示）", "district", "市政", DISTRICT, MAINTAINER_CREDIT),
    UnitRef(2, "U-XH-003-HW", "西湖合成三街道环卫所（演示）", "street", "环卫", STREET),
    UnitRef(3, "U-XH-004-HW", "西湖合成四街道环卫所（演示）", "street", "环卫", OTHER_STREET),
    UnitRef(4, "U-ZJ", "市住建局（演示）", "city", "住建"),
    UnitRef(5, "U-XH-CG", "西湖区城管局（演示）", "district", "城管", DISTRICT),
    UnitRef(6, "U-XH-003", "合成三街道办事处（演示）", "street", "综合", STREET),
    UnitRef(7, "U-OLD", "已撤并的养护所（演示）", "street", "市政", STREET, active=False),
    UnitRef(8, "U-GAS", "市燃气集团（演示）", "city", "燃气", None, GAS_CREDIT),
    UnitRef(9, "U-SQ-HW", "合成一社区保洁站（演示）", "community", "环卫", COMMUNITY),
    UnitRef(10, "U-GRID", "网格保洁组（演示）", "community", "保洁", COMMUNITY),
)
INDEX = UnitIndex.build(UNITS)
NAMES = {u.id: u.name for u in UNITS}


def rule(rule_id: int, **kw: Any) -> Rule:
    kw.setdefault("name", f"规则{rule_id}")
    return Rule(id=rule_id, **kw)


def part(code: str = "330106010010000123", maintainer: str = "", owner: str = "", competent: str = "",
         names: tuple[str, str, str] = ("", "", "")) -> PartOwner:
    return PartOwner(part_code=code, maintainer_code=maintainer, maintainer_name=names[0], owner_code=owner,
                     owner_name=names[1], competent_code=competent, competent_name=names[2])


def unit_id(s: Suggestion) -> int | None:
    return None if s.unit is None else s.unit.id


# --- 部件: 先属主、后属地 -------------------------------------------------------------------------------------------

def test_part_maintainer_that_is_a_unit_wins_over_a_territory_rule() -> None:
    rules = [rule(1, territory_code=STREET, unit_id=2, priority=100)]
    manhole = part(maintainer=MAINTAINER_CREDIT, names=("西湖区市政设施养护中心（演示）", "", ""))

    s = resolve(Kind.PART, "01001", HERE, manhole, rules, INDEX)

    assert unit_id(s) == 1
    assert (s.basis, s.rule_id, s.matched_level, s.matched_territory) == ("owner", None, None, None)
    assert s.owner == {"role": "养护单位", "code": MAINTAINER_CREDIT, "name": "西湖区市政设施养护中心（演示）",
                       "part_code": "330106010010000123"}
    assert s.precedence == "部件：先属主、后属地"
    assert s.explanation == ("部件按先属主、后属地：部件 330106010010000123 的养护单位为 "
                             "西湖区市政设施养护中心（演示），派往该单位。")


def test_part_falls_to_owner_then_competent_when_maintainer_is_not_a_unit() -> None:
    lamp = part(maintainer=COMPANY, competent=MAINTAINER_CREDIT, names=("某照明工程公司", "", "区市政"))

    s = resolve(Kind.PART, "01037", HERE, lamp, [], INDEX)

    assert unit_id(s) == 1
    assert s.owner is not None
    assert s.owner["role"] == "主管部门"
    assert s.explanation.endswith("派往 西湖区市政设施养护中心（演示）。")
    reason = f"养护单位 某照明工程公司（{COMPANY}）不是本系统的处置单位"
    assert [(c.rule_id, c.reason) for c in s.considered] == [(None, reason)]


def test_owner_rule_maps_a_company_code_to_a_unit() -> None:
    gas_valve = part(maintainer=COMPANY, names=("某燃气工程公司", "", ""))
    rules = [rule(3, name="燃气工程公司→燃气集团", owner_code=COMPANY, unit_id=8),
             rule(4, territory_code=STREET, unit_id=6, priority=50)]

    s = resolve(Kind.PART, "01010", HERE, gas_valve, rules, INDEX)

    assert (unit_id(s), s.basis, s.rule_id, s.rule_name) == (8, "owner", 3, "燃气工程公司→燃气集团")
    assert s.owner is not None
    assert s.owner["role"] == "养护单位"
    assert s.explanation == ("部件按先属主、后属地：部件 330106010010000123 的养护单位为 某燃气工程公司，"
                             "按规则 #3「燃气工程公司→燃气集团」派往 市燃气集团（演示）。")


def test_owner_rules_prefer_maintainer_over_owner_over_competent() -> None:
    p = part(maintainer="M-CODE", owner="O-CODE", competent="C-CODE")
    rules = [rule(1, owner_code="C-CODE", unit_id=5), rule(2, owner_code="O-CODE", unit_id=6),
             rule(3, owner_code="M-CODE", unit_id=2)]

    assert unit_id(resolve(Kind.PART, "01001", HERE, p, rules, INDEX)) == 2
    assert unit_id(resolve(Kind.PART, "01001", HERE, p, rules[:2], INDEX)) == 6
    # An explicit priority outranks the role.
    boosted = [rule(1, owner_code="C-CODE", unit_id=5, priority=1), *rules[1:]]
    assert unit_id(resolve(Kind.PART, "01001", HERE, p, boosted, INDEX)) == 5


def test_owner_rule_for_another_class_does_not_apply() -> None:
    p = part(maintainer=COMPANY)
    rules = [rule(1, owner_code=COMPANY, category_code="02", unit_id=8), rule(2, territory_code=STREET, unit_id=6)]

    s = resolve(Kind.PART, "01001", HERE, p, rules, INDEX)

    assert (s.basis, s.rule_id) == ("territory", 2)


def test_unknown_part_with_empty_codes_falls_back_to_territory() -> None:
    unknown_manhole = part(code="")  # 不明井盖: nobody claims it
    rules = [rule(7, name="部件→街道", territory_code=STREET, unit_id=6)]

    s = resolve(Kind.PART, "01001", HERE, unknown_manhole, rules, INDEX)

    assert (unit_id(s), s.basis, s.matched_level, s.matched_territory) == (6, "territory", "street", STREET)
    assert s.owner is None
    assert "权属不明" in s.explanation
    assert s.explanation.startswith("部件按先属主、后属地：")


def test_part_without_inventory_record_falls_back_to_territory_then_city_wide() -> None:
    rules = [rule(7, territory_code=STREET, unit_id=6), rule(8, unit_id=5)]

    s = resolve(Kind.PART, "01001", HERE, None, rules, INDEX)
    assert (unit_id(s), s.basis) == (6, "territory")
    assert "未关联部件" in s.explanation

    s = resolve(Kind.PART, "01001", HERE, None, rules[1:], INDEX)
    assert (unit_id(s), s.basis, s.matched_level, s.matched_territory) == (5, "authority", "city", None)


def test_part_whose_owners_are_not_units_falls_back_and_says_why() -> None:
    p = part(maintainer=COMPANY, owner=COMPANY, names=("某公司", "某公司", ""))
    s = resolve(Kind.PART, "01001", HERE, p, [rule(1, territory_code=DISTRICT, unit_id=5)], INDEX)

    assert (unit_id(s), s.basis, s.matched_level) == (5, "territory", "district")
    # The same company in two roles is asked once.
    assert [c.rule_id for c in s.considered] == [None]
    assert "属主均无可用处置单位" in s.explanation


# --- 事件: 先属地、后属主 -------------------------------------------------------------------------------------------

def test_event_territory_rule_beats_city_wide_rule_even_with_exact_class() -> None:
    rules = [rule(1, category_code="06010", unit_id=4), rule(2, category_code="06", territory_code=STREET, unit_id=6)]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert (unit_id(s), s.basis, s.rule_id) == (6, "territory", 2)
    assert s.precedence == "事件：先属地、后属主"


def test_higher_priority_city_wide_authority_beats_generic_territory_rule() -> None:
    rules = [rule(1, name="街道兜底", territory_code=STREET, unit_id=6),
             rule(2, name="施工管理→住建", category_code="08", unit_id=4, priority=10)]

    s = resolve(Kind.EVENT, "08003", HERE, None, rules, INDEX)

    assert (unit_id(s), s.basis, s.rule_id, s.matched_level, s.matched_territory) == (4, "authority", 2, "city", None)
    assert s.explanation == "事件按先属地、后属主：规则 #2「施工管理→住建」在市级（全市）匹配，派往 市住建局（演示）。"
    # The authority rule does not reach other classes.
    assert resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX).rule_id == 1


@pytest.mark.parametrize(("levels", "expected"), [
    ((GRID, COMMUNITY, STREET, DISTRICT), GRID),
    ((COMMUNITY, STREET, DISTRICT), COMMUNITY),
    ((STREET, DISTRICT), STREET),
    ((DISTRICT,), DISTRICT),
])
def test_most_specific_territory_wins(levels: tuple[str, ...], expected: str) -> None:
    # Ids run against specificity so that the id tie-break cannot produce the answer.
    rules = [rule(100 - len(code), territory_code=code, unit_id=6) for code in levels]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert s.matched_territory == expected


@pytest.mark.parametrize(("codes", "expected"), [
    ((None, "06", "06010"), "06010"),
    ((None, "06"), "06"),
    ((None,), None),
])
def test_exact_class_beats_major_beats_any(codes: tuple[str | None, ...], expected: str | None) -> None:
    rules = [rule(10 - i, category_code=code, territory_code=STREET, unit_id=6) for i, code in enumerate(codes)]
    by_id = {r.id: r for r in rules}

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert s.rule_id is not None
    assert by_id[s.rule_id].category_code == expected


def test_category_beats_territory_specificity_within_the_territory_step() -> None:
    rules = [rule(1, category_code="06", territory_code=GRID, unit_id=10),
             rule(2, category_code="06010", territory_code=DISTRICT, unit_id=5)]

    assert resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX).rule_id == 2


def test_category_specificity() -> None:
    assert category_specificity(None, "06010") == 0
    assert category_specificity("", "06010") == 0
    assert category_specificity("06", "06010") == 1
    assert category_specificity("06010", "06010") == 2
    assert category_specificity("0610", "06010") is None
    assert category_specificity("07", "06010") is None
    assert category_specificity("06011", "06010") is None


def test_relative_target_resolves_to_the_unit_of_the_cases_street() -> None:
    rules = [rule(12, name="暴露垃圾→街道环卫所", category_code="06010", territory_code=DISTRICT,
                  target_level="street", target_industry="环卫")]
    elsewhere = Place(district=DISTRICT, street=OTHER_STREET, community="330106004002", grid="330106004002003")

    here = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)
    there = resolve(Kind.EVENT, "06010", elsewhere, None, rules, INDEX)

    assert (unit_id(here), unit_id(there)) == (2, 3)
    assert here.explanation == ("事件按先属地、后属主：规则 #12「暴露垃圾→街道环卫所」在区级（330106）匹配，"
                                "派往 西湖合成三街道环卫所（演示）。")


def test_relative_target_at_community_and_city_level() -> None:
    community = [rule(1, target_level="community", target_industry="环卫")]
    city = [rule(2, target_level="city", target_industry="燃气")]

    assert unit_id(resolve(Kind.EVENT, "06010", HERE, None, community, INDEX)) == 9
    assert unit_id(resolve(Kind.EVENT, "06010", Place(), None, city, INDEX)) == 8


def test_relative_target_without_a_unit_is_skipped_and_the_next_candidate_wins() -> None:
    unstaffed = Place(district=DISTRICT, street="330106005", community="330106005001", grid="330106005001001")
    rules = [rule(1, name="街道环卫", territory_code=DISTRICT, target_level="street", target_industry="环卫",
                  priority=5),
             rule(2, name="区城管兜底", territory_code=DISTRICT, unit_id=5)]

    s = resolve(Kind.EVENT, "06010", unstaffed, None, rules, INDEX)

    assert (unit_id(s), s.rule_id) == (5, 2)
    assert len(s.considered) == 1
    assert s.considered[0].rule_id == 1
    assert "330106005" in s.considered[0].reason
    assert "环卫" in s.considered[0].reason


def test_relative_target_needs_the_level_in_the_place() -> None:
    no_street = Place(district=DISTRICT)
    rules = [rule(1, target_level="street", target_industry="环卫", priority=1), rule(2, unit_id=4)]

    s = resolve(Kind.EVENT, "06010", no_street, None, rules, INDEX)

    assert unit_id(s) == 4
    assert s.considered[0].rule_id == 1
    assert "街道级" in s.considered[0].reason


def test_inactive_or_missing_fixed_unit_is_skipped() -> None:
    rules = [rule(1, territory_code=STREET, unit_id=7, priority=2), rule(2, territory_code=STREET, unit_id=999,
                                                                         priority=1),
             rule(3, territory_code=STREET, unit_id=6)]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert (unit_id(s), s.rule_id) == (6, 3)
    assert [c.rule_id for c in s.considered] == [1, 2]
    assert "已停用" in s.considered[0].reason
    assert "不存在" in s.considered[1].reason


def test_kind_matcher() -> None:
    rules = [rule(1, kind=Kind.PART, territory_code=STREET, unit_id=6), rule(2, kind=Kind.EVENT, unit_id=5)]

    assert resolve(Kind.EVENT, "01001", HERE, None, rules, INDEX).rule_id == 2
    assert resolve(Kind.PART, "01001", HERE, None, rules, INDEX).rule_id == 1


def test_event_with_a_known_part_uses_the_owner_only_after_place_rules() -> None:
    p = part(maintainer=MAINTAINER_CREDIT, names=("西湖区市政设施养护中心（演示）", "", ""))
    place_rule = rule(1, territory_code=STREET, unit_id=6)

    assert resolve(Kind.EVENT, "01001", HERE, p, [place_rule], INDEX).basis == "territory"
    s = resolve(Kind.EVENT, "01001", HERE, p, [], INDEX)
    assert (unit_id(s), s.basis) == (1, "owner")
    assert s.explanation.startswith("事件按先属地、后属主：无属地或归口规则可用，")


def test_rule_outside_the_place_does_not_match() -> None:
    rules = [rule(1, territory_code=OTHER_STREET, unit_id=3), rule(2, territory_code="330106004001001", unit_id=3)]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert s.unit is None


def test_no_match_leaves_the_choice_to_the_dispatcher() -> None:
    s = resolve(Kind.EVENT, "06010", HERE, None, [rule(1, category_code="08", unit_id=4)], INDEX)

    assert (s.unit, s.basis, s.rule_id, s.matched_level) == (None, None, None, None)
    assert "没有规则匹配" in s.explanation
    assert "调度员" in s.explanation
    assert s.to_dict()["unit"] is None


def test_no_usable_rule_says_so_and_lists_the_candidates() -> None:
    rules = [rule(i, territory_code=STREET, unit_id=7) for i in range(1, 15)]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert s.unit is None
    assert len(s.considered) == MAX_CONSIDERED
    assert "14 条匹配规则均无可用单位" in s.explanation
    assert "调度员" in s.explanation


def test_tie_goes_to_the_lower_id_whatever_the_input_order() -> None:
    rules = [rule(5, territory_code=STREET, unit_id=6), rule(3, territory_code=STREET, unit_id=2)]

    assert resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX).rule_id == 3
    assert resolve(Kind.EVENT, "06010", HERE, None, rules[::-1], INDEX).rule_id == 3


def test_to_dict_is_json_ready() -> None:
    p = part(maintainer=MAINTAINER_CREDIT)
    d = resolve(Kind.PART, "01001", HERE, p, [], INDEX).to_dict()

    assert json.loads(json.dumps(d, ensure_ascii=False)) == d
    assert d["unit"] == {"id": 1, "code": "U-XH-SZ", "name": "西湖区市政设施养护中心（演示）"}
    assert d["owner"]["role"] == "养护单位"
    assert set(d) == {"unit", "basis", "rule_id", "rule_name", "matched_level", "matched_territory", "owner",
                      "precedence", "explanation", "considered"}


def test_place_levels_most_specific_first() -> None:
    assert HERE.levels() == (("grid", GRID), ("community", COMMUNITY), ("street", STREET), ("district", DISTRICT))
    assert Place(district=DISTRICT, street="").levels() == (("district", DISTRICT),)


def test_unit_index_lookups() -> None:
    idx = UnitIndex.build([
        UnitRef(2, "OLD", "旧环卫所", "street", "环卫", STREET, active=False),
        UnitRef(5, "NEW", "新环卫所", "street", "环卫", STREET, credit_code="CREDIT-5"),
        UnitRef(3, "C", "市环卫", "city", "环卫", "330100"),
    ])

    assert idx.at("street", "环卫", STREET) == idx.get(5)  # the active one stands for the slot
    assert idx.at("city", "环卫", None) == idx.get(3)        # a city unit is found whatever its territory
    assert idx.owner("CREDIT-5") == idx.get(5)
    assert idx.owner("OLD") == idx.get(2)                    # by code when the inventory uses it
    assert idx.owner("") is None
    assert len(idx) == 3


# --- properties -----------------------------------------------------------------------------------------------------

_TERRITORIES = [None, DISTRICT, STREET, OTHER_STREET, COMMUNITY, GRID, "330106004001"]
_CATEGORIES = [None, "06", "06010", "06011", "08", "01", "01001"]
_OWNER_CODES = [None, None, None, COMPANY, MAINTAINER_CREDIT, "C-CODE"]

rules_strategy = st.lists(
    st.builds(
        lambda kind, cat, terr, owner, target, prio: (kind, cat, terr, owner, target, prio),
        st.sampled_from([None, Kind.PART, Kind.EVENT]),
        st.sampled_from(_CATEGORIES),
        st.sampled_from(_TERRITORIES),
        st.sampled_from(_OWNER_CODES),
        st.one_of(st.sampled_from([u.id for u in UNITS] + [999]),
                  st.tuples(st.sampled_from(["city", "district", "street", "community", "grid"]),
                            st.sampled_from(["环卫", "城管", "住建", "燃气"]))),
        st.integers(min_value=0, max_value=3),
    ),
    max_size=25,
)


def _build_rules(specs: list[tuple[Any, ...]]) -> list[Rule]:
    out = []
    for i, (kind, cat, terr, owner, target, prio) in enumerate(specs, start=1):
        fixed = target if isinstance(target, int) else None
        level, industry = (None, None) if fixed is not None else target
        out.append(Rule(i, f"r{i}", kind, cat, terr, owner, fixed, level, industry, prio))
    return out


def _matches(r: Rule, kind: Kind, category: str, place: Place, p: PartOwner | None) -> bool:
    codes = {code for _level, code in place.levels()}
    owners = set() if p is None else {p.maintainer_code, p.owner_code, p.competent_code} - {""}
    return ((r.kind is None or r.kind == kind)
            and (r.category_code is None or r.category_code == category
                 or (len(r.category_code) == 2 and category.startswith(r.category_code)))
            and (r.territory_code is None or r.territory_code in codes)
            and (r.owner_code is None or r.owner_code in owners))


@settings(max_examples=200, deadline=None)
@given(specs=rules_strategy, kind=st.sampled_from(list(Kind)), category=st.sampled_from(["06010", "08001", "01001"]),
       with_part=st.booleans(), seed=st.randoms(use_true_random=False))
def test_winner_is_a_matching_rule_or_an_owner_and_order_does_not_matter(
        specs: list[tuple[Any, ...]], kind: Kind, category: str, with_part: bool, seed: Any) -> None:
    rules = _build_rules(specs)
    p = part(maintainer=COMPANY, competent="C-CODE") if with_part else None

    s = resolve(kind, category, HERE, p, rules, INDEX)

    if s.unit is not None:
        assert s.unit.active
        assert s.basis in {"owner", "territory", "authority"}
        if s.rule_id is not None:
            winner = next(r for r in rules if r.id == s.rule_id)
            assert _matches(winner, kind, category, HERE, p)
            assert (winner.owner_code is not None) == (s.basis == "owner")
            if s.basis != "owner":
                # City-wide means authority, unless the target is relative below city level: then the case's own
                # territory picked the unit.
                territorial_target = winner.unit_id is None and winner.target_level not in (None, "city")
                assert (winner.territory_code is None and not territorial_target) == (s.basis == "authority")
        else:
            assert s.basis == "owner"
            assert p is not None
    else:
        assert s.basis is None
        assert "调度员" in s.explanation
    assert len(s.considered) <= MAX_CONSIDERED

    shuffled = list(rules)
    seed.shuffle(shuffled)
    assert resolve(kind, category, HERE, p, shuffled, INDEX) == s


def test_a_city_wide_rule_with_a_relative_target_is_explained_by_the_case_street() -> None:
    rules = [rule(1, name="暴露垃圾 → 街道环卫所", kind=Kind.EVENT, category_code="06010", target_level="street",
                  target_industry="环卫")]

    s = resolve(Kind.EVENT, "06010", HERE, None, rules, INDEX)

    assert unit_id(s) == 2
    assert (s.basis, s.matched_level, s.matched_territory) == ("territory", "street", STREET)
    assert s.explanation == ("事件按先属地、后属主：规则 #1「暴露垃圾 → 街道环卫所」（全市适用）按案件所在街道"
                             f"（{STREET}）确定环卫单位，派往 西湖合成三街道环卫所（演示）。")
