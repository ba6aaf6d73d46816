"""Versioned class directories: the 运城 standard as seeded, adoption, and cases keeping their class."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.cases.schemas import CaseIn
from cityloop.cases.service import create_case
from cityloop.catalog import queries, service
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import CatalogVersion, Category, FilingStandard
from cityloop.catalog.seed import DEMO_STANDARD, SeedCounts, seed_demo_standard, seed_national_directory
from cityloop.core.errors import NotFound, ValidationFailed
from tests.conftest import World
from tests.factories import EPOCH

FORMAL, WORKBOOK = "standards_preview.csv", "muban.xlsx"


@pytest.fixture
def yc(session: Session) -> SeedCounts:
    return seed_demo_standard(session, EPOCH)


def _standards(session: Session, kind: Kind, code: str) -> list[FilingStandard]:
    cat = queries.find(session, kind, code, scheme=DEMO_STANDARD)
    assert cat is not None
    return list(queries.standards_for(session, cat.id))


def test_seed_loads_every_row_of_the_three_source_groups(session: Session, yc: SeedCounts) -> None:
    assert yc == SeedCounts(categories_inserted=190, categories_updated=0, standards_inserted=518,
                            standards_updated=0)
    rows = session.execute(
        sa.select(Category.kind, Category.source, sa.func.count(sa.distinct(Category.id)), sa.func.count())
        .join(FilingStandard, FilingStandard.category_id == Category.id)
        .where(Category.scheme == DEMO_STANDARD).group_by(Category.kind, Category.source)).all()
    by_group = {(kind, WORKBOOK if WORKBOOK in source else FORMAL): (classes, standards)
                for kind, source, classes, standards in rows}
    # (subclasses, standards) per group, as the data README counts them: 279 + 95 + 144 = 518.
    assert by_group == {(Kind.PART, FORMAL): (66, 279), (Kind.PART, WORKBOOK): (26, 95),
                        (Kind.EVENT, WORKBOOK): (98, 144)}
    codes = session.execute(sa.select(Category.code, Category.major_code, Category.sub_code)
                            .where(Category.scheme == DEMO_STANDARD)).all()
    assert all(len(code) == 4 and code == major + sub for code, major, sub in codes)


def test_the_version_names_its_source_and_is_not_adopted(session: Session, yc: SeedCounts) -> None:
    version = session.get_one(CatalogVersion, DEMO_STANDARD)
    assert version.name == "运城市城市综合管理服务立案、处置和结案标准（2026，演示城市借用）"
    assert "zhcg2026/smart_cityguard" in version.source
    assert "not a national one" in version.source
    assert version.adopted_at is None
    assert queries.adopted_version(session) == GBT_47678_2026


def test_rows_of_one_subclass_keep_their_order_criteria_and_subjects(session: Session, yc: SeedCounts) -> None:
    rows = _standards(session, Kind.PART, "0101")
    assert [(r.seq, r.filing_criteria, r.deadline_text, r.deadline_amount, r.deadline_unit, r.urgent)
            for r in rows] == [
        (1, "缺失、移位、开裂，存在安全隐患的", "2紧急工作时", 2, "紧急工作时", True),
        (2, "破损超过25c㎡", "4工作时", 4, "工作时", False),
        (3, "弹跳产生声响，翻盖明显影响安全", "2工作日", 2, "工作日", False),
        (4, "井盖周边路面150cm×150cm范围内出现深陷、凸起或破损,井框与路面高低差大于2cm", "5工作日", 5, "工作日", False),
    ]
    assert {(r.handling_subject, r.supervising_subject) for r in rows} == {
        ("运城市城市节约用水中心、各产权单位", "运城市城市管理局、盐湖区政府、运城市经济开发区")}
    assert rows[0].closing_criteria == "恢复"


def test_workbook_days_and_hours_are_read_as_working_time(session: Session, yc: SeedCounts) -> None:
    # 部件 0199 爱心驿站 comes from the workbook: "3天" there is 3 工作日, the text kept verbatim.
    station = _standards(session, Kind.PART, "0199")
    assert (station[0].deadline_text, station[0].deadline_amount, station[0].deadline_unit) == (
        "3天", 3, "工作日")
    assert (station[0].handling_subject, station[0].supervising_subject) == (
        "运城市园林绿化服务中心", "运城市城市管理局")
    garbage = _standards(session, Kind.EVENT, "0110")
    assert [(r.deadline_text, r.deadline_unit) for r in garbage] == [("4小时", "工作时")]
    # Urgent units are not remapped; the formal file's rows keep the unit they were written with.
    sprawl = _standards(session, Kind.EVENT, "0101")
    assert [(r.deadline_unit, r.urgent) for r in sprawl] == [("紧急工作日", True), ("工作日", False)]
    units = Counter(session.scalars(sa.select(FilingStandard.deadline_unit).join(Category).where(
        Category.scheme == DEMO_STANDARD)))
    assert units == {"工作日": 233 + 175 + 1, "工作时": 26 + 37, "紧急工作时": 42, "紧急工作日": 4}


def test_free_texts_keep_their_words(session: Session, yc: SeedCounts) -> None:
    tree = next(r for r in _standards(session, Kind.PART, "0402") if r.filing_criteria == "缺失")
    assert (tree.deadline_text, tree.deadline_amount, tree.deadline_unit) == ("种植季节15工作日", 15, "工作日")
    stop = session.scalars(sa.select(FilingStandard).where(FilingStandard.deadline_text == "1紧急工作时制止")).one()
    assert (stop.deadline_amount, stop.deadline_unit, stop.urgent) == (1, "紧急工作时", True)


def test_seeding_again_changes_nothing_and_puts_edits_right(session: Session, yc: SeedCounts) -> None:
    assert seed_demo_standard(session, EPOCH + timedelta(days=1)) == SeedCounts()
    row = _standards(session, Kind.PART, "0137")[2]
    row.deadline_text, row.deadline_amount = "9天", 9
    session.flush()
    assert seed_demo_standard(session, EPOCH) == SeedCounts(standards_updated=1)
    assert (row.deadline_text, row.deadline_amount, row.filing_criteria) == ("2工作日", 2, "单盏不亮")
    assert session.scalar(sa.select(sa.func.count()).select_from(FilingStandard)) == 518
    assert seed_national_directory(session, EPOCH) == (0, 0)
    assert session.scalar(sa.select(sa.func.count()).select_from(CatalogVersion)) == 2


def test_adopting_switches_what_find_and_list_categories_return(session: Session, yc: SeedCounts) -> None:
    assert queries.find(session, Kind.PART, "0101") is None
    national = queries.find(session, Kind.PART, "01001")
    assert national is not None
    assert national.scheme == GBT_47678_2026

    service.adopt(session, DEMO_STANDARD, EPOCH)
    assert queries.adopted_version(session) == DEMO_STANDARD
    local = queries.find(session, Kind.PART, "0101")
    assert local is not None
    assert (local.scheme, local.name) == (DEMO_STANDARD, "上水井盖")
    assert queries.find(session, Kind.PART, "01001") is None
    assert queries.find(session, Kind.PART, "01001", scheme=GBT_47678_2026) == national
    assert len(queries.list_categories(session)) == 190
    assert len(queries.list_categories(session, kind=Kind.EVENT)) == 98
    assert len(queries.list_categories(session, scheme=GBT_47678_2026)) == 403


def test_the_last_adoption_wins_even_within_one_clock_tick(session: Session, yc: SeedCounts) -> None:
    service.adopt(session, DEMO_STANDARD, EPOCH)
    service.adopt(session, GBT_47678_2026, EPOCH)
    assert queries.adopted_version(session) == GBT_47678_2026
    service.adopt(session, DEMO_STANDARD, EPOCH - timedelta(days=400))  # a clock behind the stored stamps
    assert queries.adopted_version(session) == DEMO_STANDARD
    summary = {v.code: v for v in queries.list_versions(session)}
    assert (summary[DEMO_STANDARD].adopted, summary[DEMO_STANDARD].categories,
            summary[DEMO_STANDARD].standards) == (True, 190, 518)
    assert (summary[GBT_47678_2026].adopted, summary[GBT_47678_2026].standards) == (False, 0)


def test_unknown_version_cannot_be_adopted(session: Session) -> None:
    with pytest.raises(NotFound, match="no class directory version 'nope'"):
        service.adopt(session, "nope", EPOCH)


def test_without_any_adopted_version_the_national_directory_is_used(session: Session) -> None:
    session.execute(sa.update(CatalogVersion).values(adopted_at=None))
    assert queries.adopted_version(session) == GBT_47678_2026
    assert queries.find(session, Kind.EVENT, "09006") is not None


def test_get_standard(session: Session, yc: SeedCounts) -> None:
    first = _standards(session, Kind.EVENT, "0406")[0]
    assert queries.get_standard(session, first.id) == first
    assert queries.get_standard(session, 10**9) is None


def _report(session: Session, world: World, kind: Kind, code: str) -> int:
    case = create_case(session, world["collector"].principal(), CaseIn(
        kind=kind, category_code=code, description="测试", lat=30.27, lon=120.14), now=EPOCH)
    session.flush()
    return case.id


def test_cases_keep_their_class_when_another_version_is_adopted(session: Session, world: World,
                                                               yc: SeedCounts) -> None:
    before = _report(session, world, Kind.PART, "01001")
    service.adopt(session, DEMO_STANDARD, EPOCH)
    after = _report(session, world, Kind.PART, "0101")
    session.expire_all()

    cases = {row.id: row for row in session.execute(
        sa.text("SELECT c.id, c.category_code, g.scheme, g.name FROM cases c "
                "JOIN categories g ON g.id = c.category_id WHERE c.id IN (:a, :b)"), {"a": before, "b": after})}
    assert (cases[before].category_code, cases[before].scheme, cases[before].name) == (
        "01001", GBT_47678_2026, "供水井盖")
    assert (cases[after].category_code, cases[after].scheme, cases[after].name) == (
        "0101", DEMO_STANDARD, "上水井盖")
    # New reports go to the adopted directory only: the national code is no longer offered.
    with pytest.raises(ValidationFailed, match="01001 is not a part class of the adopted directory"):
        _report(session, world, Kind.PART, "01001")
