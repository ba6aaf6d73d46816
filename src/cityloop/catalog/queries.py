from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import CatalogVersion, Category, FilingStandard
from cityloop.core.errors import NotFound


def _adopted() -> sa.ColumnElement[str]:
    """The adopted version's code as an SQL expression: the version adopted last, or the national directory
    when none is (a database migrated but not yet seeded). Being SQL, find() stays one query per report."""
    latest = (sa.select(CatalogVersion.code).where(CatalogVersion.adopted_at.is_not(None))
              .order_by(CatalogVersion.adopted_at.desc()).limit(1).scalar_subquery())
    return sa.func.coalesce(latest, GBT_47678_2026)


def adopted_version(session: Session) -> str:
    """The code of the directory new reports are filed under."""
    return session.scalar(sa.select(_adopted())) or GBT_47678_2026


def _scheme_is(scheme: str | None) -> sa.ColumnElement[bool]:
    return Category.scheme == (scheme if scheme else _adopted())


def resolve_version(session: Session, version: str | None) -> str:
    """`version`, checked to exist, or the adopted one when None. Unknown → NotFound naming the field."""
    if version is None:
        return adopted_version(session)
    if session.get(CatalogVersion, version) is None:
        raise NotFound(f"version: no class directory version '{version}'", field="version")
    return version


def list_categories(session: Session, *, kind: Kind | None = None,
                    scheme: str | None = None) -> Sequence[Category]:
    """Active classes of `scheme` (None: the adopted version), ordered by kind, then code."""
    stmt = sa.select(Category).where(_scheme_is(scheme), Category.active.is_(True))
    if kind is not None:
        stmt = stmt.where(Category.kind == kind)
    return session.scalars(stmt.order_by(Category.kind, Category.code)).all()


def find(session: Session, kind: Kind, code: str, *, scheme: str | None = None) -> Category | None:
    """The active class `kind`/`code` of `scheme` (None: the adopted version, where new reports are filed)."""
    return session.scalar(sa.select(Category).where(
        _scheme_is(scheme), Category.kind == kind, Category.code == code, Category.active.is_(True)))


def names(session: Session, classes: set[tuple[Kind, str]]) -> dict[tuple[Kind, str], str]:
    """Class names of the adopted directory for (kind, code) pairs, in one query (lists show names)."""
    if not classes:
        return {}
    rows = session.execute(sa.select(Category.kind, Category.code, Category.name).where(
        _scheme_is(None), Category.code.in_({code for _, code in classes})))
    return {(kind, code): name for kind, code, name in rows if (kind, code) in classes}


def get_standard(session: Session, standard_id: int) -> FilingStandard | None:
    return session.get(FilingStandard, standard_id)


def standards_for(session: Session, category_id: int) -> Sequence[FilingStandard]:
    """The active 立结案标准 rows of one class, in the standard's order (seq)."""
    return session.scalars(sa.select(FilingStandard).where(
        FilingStandard.category_id == category_id, FilingStandard.active.is_(True))
        .order_by(FilingStandard.seq, FilingStandard.id)).all()


@dataclass(frozen=True)
class VersionSummary:
    code: str
    name: str
    source: str
    created_at: datetime
    adopted_at: datetime | None
    adopted: bool  # the current one: adopted last
    categories: int
    standards: int


def list_versions(session: Session) -> list[VersionSummary]:
    """Every version with its size, the current one flagged; oldest first."""
    current = adopted_version(session)
    cats = dict(session.execute(sa.select(Category.scheme, sa.func.count()).group_by(Category.scheme)).all())
    stds = dict(session.execute(
        sa.select(Category.scheme, sa.func.count()).join(FilingStandard, FilingStandard.category_id == Category.id)
        .group_by(Category.scheme)).all())
    return [VersionSummary(v.code, v.name, v.source, v.created_at, v.adopted_at, v.code == current,
                           cats.get(v.code, 0), stds.get(v.code, 0))
            for v in session.scalars(sa.select(CatalogVersion).order_by(CatalogVersion.created_at,
                                                                        CatalogVersion.code))]


def standards_of_version(session: Session, scheme: str, *, kind: Kind | None = None,
                         code: str | None = None) -> Sequence[tuple[Category, FilingStandard]]:
    """(class, standard) pairs of one version, in directory order: kind, code, seq."""
    stmt = (sa.select(Category, FilingStandard).join(FilingStandard, FilingStandard.category_id == Category.id)
            .where(Category.scheme == scheme, Category.active.is_(True), FilingStandard.active.is_(True)))
    if kind is not None:
        stmt = stmt.where(Category.kind == kind)
    if code is not None:
        stmt = stmt.where(Category.code == code)
    rows = session.execute(stmt.order_by(Category.kind, Category.code, FilingStandard.seq, FilingStandard.id))
    return [(c, s) for c, s in rows]
