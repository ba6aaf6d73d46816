"""Unit edits and lookups for other domains. Never commits."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.units.models import Unit, UnitLevel

# A child sits strictly below its parent: city > district > street > community.
_DEPTH = {UnitLevel.CITY: 0, UnitLevel.DISTRICT: 1, UnitLevel.STREET: 2, UnitLevel.COMMUNITY: 3}


def create_unit(session: Session, *, code: str, name: str, level: UnitLevel, now: datetime,
                industry: str = "", parent_code: str | None = None, synthetic: bool = False) -> Unit:
    code, name = code.strip(), name.strip()
    if not code:
        raise ValidationFailed("code must not be empty", field="code")
    if not name:
        raise ValidationFailed("name must not be empty", field="name")
    if session.scalar(sa.select(Unit.id).where(Unit.code == code)) is not None:
        raise Conflict(f"a unit with code {code!r} exists", field="code", code="unit_code_taken")
    parent_id = None
    if parent_code:
        parent = get_by_code(session, parent_code, field="parent")
        if _DEPTH[parent.level] > _DEPTH[level]:
            raise ValidationFailed(
                f"parent: a {level.value} unit cannot sit under a {parent.level.value} unit", field="parent")
        parent_id = parent.id
    unit = Unit(code=code, name=name, level=level, industry=industry.strip(), parent_id=parent_id,
                synthetic=synthetic, created_at=now)
    session.add(unit)
    return unit


def get_by_code(session: Session, code: str, *, field: str = "code") -> Unit:
    unit = session.scalar(sa.select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"{field}: no unit with code {code!r}", field=field)
    return unit


def get_active(session: Session, unit_id: int, *, field: str = "unit_id") -> Unit:
    """The unit to hand work to; an unknown or deactivated unit is the caller's input error."""
    unit = session.get(Unit, unit_id)
    if unit is None or not unit.active:
        raise ValidationFailed(f"{field}: no active unit with id {unit_id}", field=field)
    return unit


def get_unit(session: Session, unit_id: int, *, field: str = "unit_id") -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"{field}: no unit with id {unit_id}", field=field)
    return unit


def update_unit(session: Session, unit_id: int, *, name: str, active: bool,
                parent_code: str | None) -> Unit:
    """Rename, (de)activate or move a unit; None for `parent_code` makes it top-level. A deactivated unit keeps
    the cases it has but is offered no new ones (get_active refuses it)."""
    unit = get_unit(session, unit_id)
    name = name.strip()
    if not name:
        raise ValidationFailed("name must not be empty", field="name")
    parent_id = None
    if parent_code:
        parent = get_by_code(session, parent_code, field="parent")
        if _DEPTH[parent.level] > _DEPTH[unit.level]:
            raise ValidationFailed(
                f"parent: a {unit.level.value} unit cannot sit under a {parent.level.value} unit", field="parent")
        # Walk up from the new parent: reaching this unit would make the tree a loop.
        seen: set[int] = set()
        cursor: Unit | None = parent
        while cursor is not None and cursor.id not in seen:
            if cursor.id == unit.id:
                raise ValidationFailed("parent: a unit cannot sit under itself or one of its own units",
                                       field="parent")
            seen.add(cursor.id)
            cursor = session.get(Unit, cursor.parent_id) if cursor.parent_id is not None else None
        parent_id = parent.id
    unit.name, unit.active, unit.parent_id = name, active, parent_id
    return unit
