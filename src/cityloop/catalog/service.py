"""Catalog commands: adopting a version, and bringing whole versions in from and out to city files.

Services never commit; the caller owns the transaction, so a rejected import leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.catalog import exchange, queries
from cityloop.catalog.deadline_text import ParsedDeadline, format_deadline
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import CatalogVersion, Category, FilingStandard
from cityloop.catalog.seed import standard_values
from cityloop.catalog.specs import ClassSpec, StandardSpec
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.timeunits import TimeUnit

_VERSION_CODE_MAX = 40  # CatalogVersion.code and Category.scheme


@dataclass(frozen=True)
class VersionCounts:
    version: str
    categories: int
    standards: int


def adopt(session: Session, version_code: str, now: datetime) -> CatalogVersion:
    """Make `version_code` the directory new reports are filed under. Cases filed earlier keep their class."""
    version = session.get(CatalogVersion, version_code)
    if version is None:
        raise NotFound(f"version: no class directory version '{version_code}'", field="version")
    latest = session.scalar(sa.select(CatalogVersion.adopted_at).where(CatalogVersion.adopted_at.is_not(None))
                            .order_by(CatalogVersion.adopted_at.desc()).limit(1))
    # The current version is the one adopted last. Two adoptions in one clock tick (a seed followed by the
    # demo's adoption, a fake clock in tests) must still leave this one current, so never stamp it earlier.
    version.adopted_at = now if latest is None or now > latest else latest + timedelta(microseconds=1)
    return version


def create_version(session: Session, code: str, name: str, source: str, specs: list[ClassSpec],
                   now: datetime, *, adopt_it: bool = False) -> VersionCounts:
    """A new version with its classes and standards (seq in the given order)."""
    if not code or len(code) > _VERSION_CODE_MAX:
        raise ValidationFailed(f"version: a version code has 1 to {_VERSION_CODE_MAX} characters", field="version")
    if session.get(CatalogVersion, code) is not None:
        raise Conflict(f"version: '{code}' exists; name the new version with --version", field="version")
    session.add(CatalogVersion(code=code, name=name[:200], source=source[:500], created_at=now))
    cats = [Category(scheme=code, kind=s.kind, code=s.code, major_code=s.major_code, major_name=s.major_name,
                     sub_code=s.sub_code, name=s.name, source=(s.source or source)[:300]) for s in specs]
    session.add_all(cats)
    session.flush()  # flush: the version row must exist before adopt() reads it; standards need category ids
    standards = 0
    for cat, spec in zip(cats, specs, strict=True):
        for seq, std in enumerate(spec.standards, start=1):
            values = standard_values(std)
            values["source"] = (std.source or source)[:300]
            session.add(FilingStandard(category_id=cat.id, seq=seq, **values))
            standards += 1
    if adopt_it:
        adopt(session, code, now)
    return VersionCounts(code, len(cats), standards)


def default_version_code(path: Path) -> str:
    """A version code from the file's name: '运城2027.xlsx' → '运城2027'."""
    return path.stem.strip()[:_VERSION_CODE_MAX]


def import_file(session: Session, path: Path, now: datetime, *, version: str | None = None,
                name: str | None = None, adopt_it: bool = False) -> VersionCounts:
    """Import a city's file (exchange.py) as a new version. Every problem in the file is reported at once
    (exchange.ImportRejected) and nothing is created unless the whole file is valid."""
    specs = exchange.read_catalog(path)
    code = version or default_version_code(path)
    return create_version(session, code, name or code, f"imported from {path.name}", specs, now,
                          adopt_it=adopt_it)


def version_specs(session: Session, version: str | None = None) -> tuple[str, list[ClassSpec]]:
    """A version (None: the adopted one) as plain data: 部件 before 事件, by code, standards by seq."""
    code = queries.resolve_version(session, version)
    order = {Kind.PART: 0, Kind.EVENT: 1}
    cats = sorted(queries.list_categories(session, scheme=code), key=lambda c: (order[c.kind], c.code))
    specs = {c.id: ClassSpec(c.kind, c.major_code, c.major_name, c.sub_code, c.name, c.source) for c in cats}
    for cat, std in queries.standards_of_version(session, code):
        specs[cat.id].standards.append(StandardSpec(
            filing_criteria=std.filing_criteria, closing_criteria=std.closing_criteria,
            deadline=ParsedDeadline(std.deadline_amount, TimeUnit(std.deadline_unit),
                                    std.deadline_text or format_deadline(std.deadline_amount, std.deadline_unit)),
            handling_subject=std.handling_subject, supervising_subject=std.supervising_subject,
            region_deadlines=std.region_deadlines, source=std.source))
    return code, list(specs.values())


def export_file(session: Session, path: Path, *, version: str | None = None) -> VersionCounts:
    """Write a version (None: the adopted one) in the import shape; importing the file gives it back."""
    code, specs = version_specs(session, version)
    exchange.write_catalog(path, specs)
    return VersionCounts(code, len(specs), sum(len(s.standards) for s in specs))
