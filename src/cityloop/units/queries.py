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


_LEVEL_ORDER = (UnitLevel.CITY, UnitLevel.DISTRICT, UnitLevel.STREET, UnitLevel.COMMUNITY)


def serving_district(session: Session, district_code: str, limit: int) -> list[Unit]:
    """The active units a case in this district can go to: city-level and territory-less ones, and every unit
    whose territory lies in the district (the district's, its streets', its communities'); broadest first.
    A dispatcher picks among these rather than scrolling a city's thousands of units."""
    city_wide = sa.or_(Unit.level == UnitLevel.CITY, Unit.territory_code.is_(None))
    rows = session.scalars(sa.select(Unit).where(
        Unit.active.is_(True), sa.or_(city_wide, Unit.territory_code.startswith(district_code, autoescape=True)))
        .order_by(Unit.code).limit(limit)).all()
    return sorted(rows, key=lambda u: (_LEVEL_ORDER.index(u.level), u.code))


def names_by_id(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all())
