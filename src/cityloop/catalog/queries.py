from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import Category


def list_categories(session: Session, *, kind: Kind | None = None,
                    scheme: str = GBT_47678_2026) -> Sequence[Category]:
    stmt = sa.select(Category).where(Category.scheme == scheme, Category.active.is_(True))
    if kind is not None:
        stmt = stmt.where(Category.kind == kind)
    return session.scalars(stmt.order_by(Category.kind, Category.code)).all()


def find(session: Session, kind: Kind, code: str, *, scheme: str = GBT_47678_2026) -> Category | None:
    return session.scalar(sa.select(Category).where(
        Category.scheme == scheme, Category.kind == kind, Category.code == code, Category.active.is_(True)))
