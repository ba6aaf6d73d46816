from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.pagination import PageParams
from cityloop.units.models import Unit, UnitLevel


def list_units(session: Session, page: PageParams, *, level: UnitLevel | None = None,
               parent_id: int | None = None, q: str | None = None,
               active: bool | None = True) -> tuple[Sequence[Unit], int]:
    stmt = sa.select(Unit)
    if level is not None:
        stmt = stmt.where(Unit.level == level)
    if parent_id is not None:
        stmt = stmt.where(Unit.parent_id == parent_id)
    if active is not None:
        stmt = stmt.where(Unit.active.is_(active))
    if q:
        # A literal, case-insensitive substring: % and _ typed by a person are characters, not wildcards.
        stmt = stmt.where(sa.or_(Unit.name.icontains(q, autoescape=True), Unit.code.icontains(q, autoescape=True)))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Unit.code).limit(page.limit).offset(page.offset)).all()
    return rows, total


def names_by_id(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all())
