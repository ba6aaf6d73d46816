"""Idempotent import of the class directories shipped in catalog/data/categories.csv: the national directory
GB/T 47678.5-2026 (codes and names only) and the demo city's filing standard, 运城's real 2026 municipal
立案、处置和结案标准 (legacy 4-digit codes, several rows per subclass, deadlines as text)."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.catalog.deadline_text import parse_deadline
from cityloop.catalog.enums import GBT_47678_2026, KIND_BY_LABEL
from cityloop.catalog.models import CatalogVersion, Category, FilingStandard
from cityloop.catalog.specs import ClassSpec, StandardSpec
from cityloop.core.clock import SystemClock
from cityloop.core.timeunits import TimeUnit

_DATA = "data/categories.csv"

NATIONAL_NAME = "GB/T 47678.5-2026 管理部件（附录A 表A.1）与管理事项（附录C 表C.1）"
NATIONAL_SOURCE = ("GB/T 47678.5-2026 附录A 表A.1 and 附录C 表C.1, as transcribed in github "
                   "Jackyhellolove/city-inspection-ai supabase-gb47678.5-directory.sql (commit 088839d9)")

DEMO_STANDARD = "YC-2026"
DEMO_STANDARD_NAME = "运城市城市综合管理服务立案、处置和结案标准（2026，演示城市借用）"
DEMO_STANDARD_SOURCE = (
    "《运城市城市综合管理服务立案、处置和结案标准（部件）》 (standards_preview.csv) and 《运城市中心城区数字化城市"
    "管理部件事件类监管立案、处置和结案标准及处置责任分解表》 (muban.xlsx, sheets 部件 and 事件), github "
    "zhcg2026/smart_cityguard. A local standard of 运城市 (Shanxi), not a national one; the demo city borrows it "
    "because Hangzhou's own is not public.")

# The workbook writes N天/N小时 where the formal file writes N工作日/N工作时 for the same criterion (all but a
# handful of rows), so its units are read as working time. This is a mapping for that source, not a rule.
_WORKBOOK = "muban.xlsx"
_WORKBOOK_UNITS = {TimeUnit.DAY_PLAIN: TimeUnit.WORK_DAY, TimeUnit.HOUR: TimeUnit.WORK_HOUR}
_HANDLING_LABELS = ("责任主体", "处置单位")
_SUPERVISING_LABELS = ("监管主体", "主管部门")


@dataclass(frozen=True)
class DirectoryRow:
    kind_label: str
    major_code: str
    major_name: str
    sub_code: str
    sub_name: str
    source: str


@dataclass(frozen=True)
class SeedCounts:
    categories_inserted: int = 0
    categories_updated: int = 0
    standards_inserted: int = 0
    standards_updated: int = 0


def _records() -> list[dict[str, str]]:
    text = resources.files("cityloop.catalog").joinpath(_DATA).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _is_national(rec: dict[str, str]) -> bool:
    return rec["source"].startswith(GBT_47678_2026)


def national_directory() -> list[DirectoryRow]:
    """The GB/T 47678.5-2026 rows of the shipped file (3-digit minor codes; the 运城 rows have 2)."""
    return [DirectoryRow(r["kind"], r["major_code"], r["major_name"], r["sub_code"], r["sub_name"], r["source"])
            for r in _records() if _is_national(r)]


def split_subjects(unit_type: str) -> tuple[str, str]:
    """'责任主体: A | 监管主体: B' or '处置单位: A | 主管部门: B' → (handling A, supervising B)."""
    handling, sep, supervising = unit_type.partition(" | ")
    if not sep:
        raise ValueError(f"unit_type {unit_type!r}: expected '<handling>: … | <supervising>: …'")
    return _labelled(handling, _HANDLING_LABELS), _labelled(supervising, _SUPERVISING_LABELS)


def _labelled(part: str, labels: tuple[str, ...]) -> str:
    label, sep, value = part.partition(":")
    if not sep or label.strip() not in labels:
        raise ValueError(f"{part!r}: expected one of {', '.join(labels)} before ':'")
    return value.strip()


def demo_standard() -> list[ClassSpec]:
    """The 运城 rows as classes in file order, each with its standards in file order (their seq)."""
    classes: dict[tuple[str, str, str], ClassSpec] = {}
    for rec in _records():
        if _is_national(rec):
            continue
        key = (rec["kind"], rec["major_code"], rec["sub_code"])
        spec = classes.get(key)
        if spec is None:
            spec = classes[key] = ClassSpec(
                kind=KIND_BY_LABEL[rec["kind"]], major_code=rec["major_code"], major_name=rec["major_name"],
                sub_code=rec["sub_code"], name=rec["sub_name"], source=rec["source"][:300])
        deadline = parse_deadline(rec["deadline_urgent"] or rec["deadline_normal"])
        if _WORKBOOK in rec["source"]:
            deadline = dataclasses.replace(deadline, unit=_WORKBOOK_UNITS.get(deadline.unit, deadline.unit))
        handling, supervising = split_subjects(rec["unit_type"])
        spec.standards.append(StandardSpec(
            filing_criteria=rec["filing_criteria"], closing_criteria=rec["closing_criteria"], deadline=deadline,
            handling_subject=handling, supervising_subject=supervising, source=rec["source"][:300]))
    return list(classes.values())


def ensure_version(session: Session, code: str, name: str, source: str, now: datetime, *,
                   adopt_if_none: bool) -> CatalogVersion:
    """The version row, created or renamed. With adopt_if_none, a database with no adopted version adopts it,
    so a fresh install files reports under the national directory without a separate step."""
    version = session.get(CatalogVersion, code)
    if version is None:
        version = CatalogVersion(code=code, name=name, source=source, created_at=now)
        session.add(version)
    else:
        version.name, version.source = name, source
    if adopt_if_none and session.scalar(
            sa.select(CatalogVersion.code).where(CatalogVersion.adopted_at.is_not(None)).limit(1)) is None:
        version.adopted_at = now
    return version


def seed_national_directory(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """Insert missing classes and refresh names of existing ones. Returns (inserted, updated)."""
    ensure_version(session, GBT_47678_2026, NATIONAL_NAME, NATIONAL_SOURCE, now or SystemClock().now(),
                   adopt_if_none=True)
    existing = {(c.kind, c.code): c for c in session.scalars(
        sa.select(Category).where(Category.scheme == GBT_47678_2026))}
    inserted = updated = 0
    for row in national_directory():
        kind = KIND_BY_LABEL[row.kind_label]
        code = row.major_code + row.sub_code
        cat = existing.get((kind, code))
        if cat is None:
            session.add(Category(scheme=GBT_47678_2026, kind=kind, code=code, major_code=row.major_code,
                                 major_name=row.major_name, sub_code=row.sub_code, name=row.sub_name,
                                 source=row.source[:300]))
            inserted += 1
        elif (cat.name, cat.major_name) != (row.sub_name, row.major_name):
            cat.name, cat.major_name = row.sub_name, row.major_name
            updated += 1
    return inserted, updated


def seed_demo_standard(session: Session, now: datetime | None = None) -> SeedCounts:
    """Load or refresh the 运城 version (DEMO_STANDARD) without adopting it: adoption is the city's choice."""
    ensure_version(session, DEMO_STANDARD, DEMO_STANDARD_NAME, DEMO_STANDARD_SOURCE, now or SystemClock().now(),
                   adopt_if_none=False)
    specs = demo_standard()
    cats = {(c.kind, c.code): c for c in session.scalars(
        sa.select(Category).where(Category.scheme == DEMO_STANDARD))}
    cat_new = cat_upd = 0
    for spec in specs:
        cat = cats.get((spec.kind, spec.code))
        if cat is None:
            cat = cats[(spec.kind, spec.code)] = Category(
                scheme=DEMO_STANDARD, kind=spec.kind, code=spec.code, major_code=spec.major_code,
                major_name=spec.major_name, sub_code=spec.sub_code, name=spec.name, source=spec.source)
            session.add(cat)
            cat_new += 1
        elif (cat.name, cat.major_name, cat.source) != (spec.name, spec.major_name, spec.source):
            cat.name, cat.major_name, cat.source = spec.name, spec.major_name, spec.source
            cat_upd += 1
    session.flush()  # flush: the standards below point at the new categories' ids
    rows = {(s.category_id, s.seq): s for s in session.scalars(
        sa.select(FilingStandard).join(Category, Category.id == FilingStandard.category_id)
        .where(Category.scheme == DEMO_STANDARD))}
    std_new = std_upd = 0
    for spec in specs:
        category_id = cats[(spec.kind, spec.code)].id
        for seq, std in enumerate(spec.standards, start=1):
            values = standard_values(std)
            row = rows.get((category_id, seq))
            if row is None:
                session.add(FilingStandard(category_id=category_id, seq=seq, **values))
                std_new += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                std_upd += 1
    return SeedCounts(cat_new, cat_upd, std_new, std_upd)


def standard_values(std: StandardSpec) -> dict[str, object]:
    """The FilingStandard columns a spec sets (all but id, category and seq)."""
    return {
        "filing_criteria": std.filing_criteria, "closing_criteria": std.closing_criteria,
        "deadline_text": std.deadline.text, "deadline_amount": std.deadline.amount,
        "deadline_unit": std.deadline.unit.value, "urgent": std.deadline.urgent,
        "handling_subject": std.handling_subject, "supervising_subject": std.supervising_subject,
        "region_deadlines": std.region_deadlines, "source": std.source,
    }
