"""Routing rules and dispatch policies: edits, and the suggestion for a case. Never commits.

The decision itself is `resolve.resolve` (pure); this module loads its inputs. Rules and units are read at
the moment of routing, so an edited rule applies to every case routed after the edit and to none before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas.index import Location
from cityloop.catalog.enums import Kind
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.parts.models import Part
from cityloop.routing import resolve
from cityloop.routing.models import CommandLevel, DispatchPolicy, RoutingRule
from cityloop.units.models import Unit, UnitLevel

_TERRITORY_LENGTHS = (6, 9, 12, 15)


@dataclass(frozen=True)
class CaseFacts:
    """What routing needs to know about a case; the cases domain builds it (routing sits below cases)."""

    kind: Kind
    category_code: str
    district: str | None
    street: str | None
    community: str | None
    grid: str | None
    part_code: str | None


def facts_at(kind: Kind, category_code: str, where: Location, part_code: str | None = None,
             session: Session | None = None) -> CaseFacts:
    """Facts of a case that is not opened yet: a what-if from the API or CLI. Given a session, an unknown
    part_code is refused as opening a case would refuse it."""
    if session is not None and part_code and _part_owner(session, part_code) is None:
        raise ValidationFailed(f"part_code: no 部件 {part_code} in the inventory", field="part_code")
    return CaseFacts(kind=kind, category_code=category_code, district=where.district.code,
                     street=where.street.code if where.street else None,
                     community=where.community.code if where.community else None,
                     grid=where.grid_code, part_code=part_code)


@dataclass(frozen=True)
class RoutingInputs:
    """Rules and units loaded once, to route many cases (a queue page) with one read of each."""

    rules: tuple[resolve.Rule, ...]
    units: resolve.UnitIndex


def _rules(session: Session) -> tuple[resolve.Rule, ...]:
    return tuple(
        resolve.Rule(id=r.id, name=r.name, kind=r.kind, category_code=r.category_code,
                     territory_code=r.territory_code, owner_code=r.owner_code, unit_id=r.unit_id,
                     target_level=r.target_level.value if r.target_level else None,
                     target_industry=r.target_industry, priority=r.priority)
        for r in session.scalars(sa.select(RoutingRule).where(RoutingRule.active)))


def _units(session: Session, where: sa.ColumnElement[bool] | None = None) -> resolve.UnitIndex:
    query = sa.select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.industry, Unit.territory_code,
                      Unit.credit_code, Unit.active)
    if where is not None:
        query = query.where(where)
    return resolve.UnitIndex.build(
        resolve.UnitRef(id=u.id, code=u.code, name=u.name, level=u.level.value, industry=u.industry,
                        territory_code=u.territory_code, credit_code=u.credit_code, active=u.active)
        for u in session.execute(query))


def load_inputs(session: Session) -> RoutingInputs:
    """Every active rule and every unit: for routing many cases at once."""
    return RoutingInputs(_rules(session), _units(session))


def inputs_for(session: Session, facts: CaseFacts, part: resolve.PartOwner | None) -> RoutingInputs:
    """The rules, and only the units this case could be routed to: those the rules name, those answering for
    the case's territories or the whole city, and the part's owners. A few dozen rows instead of thousands."""
    rules = _rules(session)
    places = [c for c in (facts.district, facts.street, facts.community) if c]
    owners = [c for c in (part.maintainer_code, part.owner_code, part.competent_code) if c] if part else []
    ids = [r.unit_id for r in rules if r.unit_id is not None]
    where = sa.or_(Unit.level == UnitLevel.CITY, Unit.territory_code.in_(places), Unit.id.in_(ids),
                   Unit.credit_code.in_(owners), Unit.code.in_(owners))
    return RoutingInputs(rules, _units(session, where))


def _part_owner(session: Session, part_code: str | None) -> resolve.PartOwner | None:
    if not part_code:
        return None
    part = session.scalar(sa.select(Part).where(Part.code == part_code))
    if part is None:
        return None
    return resolve.PartOwner(part_code=part.code, maintainer_code=part.maintainer_code,
                             maintainer_name=part.maintainer_name, owner_code=part.owner_code,
                             owner_name=part.owner_name, competent_code=part.competent_code,
                             competent_name=part.competent_name)


def suggest(session: Session, facts: CaseFacts, inputs: RoutingInputs | None = None) -> resolve.Suggestion:
    part = _part_owner(session, facts.part_code)
    inputs = inputs or inputs_for(session, facts, part)
    place = resolve.Place(district=facts.district, street=facts.street, community=facts.community,
                          grid=facts.grid)
    return resolve.resolve(facts.kind, facts.category_code, place, part, inputs.rules, inputs.units)


# --- dispatch policies (一级监督、两级指挥) -------------------------------------------------------------------

def policy_for(session: Session, kind: Kind, category_code: str) -> tuple[CommandLevel, bool, str]:
    """(command level, auto dispatch, what matched): the class's own policy, else its major's, else district."""
    rows = session.scalars(sa.select(DispatchPolicy).where(
        DispatchPolicy.kind == kind, DispatchPolicy.category_code.in_([category_code, category_code[:2]]))).all()
    for code in (category_code, category_code[:2]):
        row = next((r for r in rows if r.category_code == code), None)
        if row is not None:
            return row.command_level, row.auto_dispatch, code
    return CommandLevel.DISTRICT, False, ""


def set_policy(session: Session, *, kind: Kind, category_code: str, command_level: CommandLevel,
               auto_dispatch: bool, now: datetime) -> DispatchPolicy:
    if len(category_code) not in (2, 4, 5) or not category_code.isdigit():
        raise ValidationFailed("category_code: a class code (4 or 5 digits) or a 2-digit major",
                               field="category_code")
    row = session.scalar(sa.select(DispatchPolicy).where(DispatchPolicy.kind == kind,
                                                         DispatchPolicy.category_code == category_code))
    if row is None:
        row = DispatchPolicy(kind=kind, category_code=category_code, command_level=command_level,
                             auto_dispatch=auto_dispatch, created_at=now, updated_at=now)
        session.add(row)
    else:
        row.command_level, row.auto_dispatch, row.updated_at = command_level, auto_dispatch, now
    return row


def list_policies(session: Session) -> Sequence[DispatchPolicy]:
    return session.scalars(sa.select(DispatchPolicy).order_by(DispatchPolicy.kind,
                                                              DispatchPolicy.category_code)).all()


# --- rule edits --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: Kind | None = None
    category_code: str | None = None
    territory_code: str | None = None
    owner_code: str | None = None
    unit_code: str | None = None
    target_level: UnitLevel | None = None
    target_industry: str | None = None
    priority: int = 0
    active: bool = True


def _validate(session: Session, spec: RuleSpec) -> int | None:
    if not spec.name.strip():
        raise ValidationFailed("name: a rule needs a name that says what it does", field="name")
    if spec.category_code is not None and (not spec.category_code.isdigit()
                                           or len(spec.category_code) not in (2, 4, 5)):
        raise ValidationFailed("category_code: a class code (4 or 5 digits) or a 2-digit major",
                               field="category_code")
    if spec.territory_code is not None and (not spec.territory_code.isdigit()
                                            or len(spec.territory_code) not in _TERRITORY_LENGTHS):
        raise ValidationFailed("territory_code: a district (6), street (9), community (12) or grid (15) code",
                               field="territory_code")
    if spec.owner_code is not None and not (1 <= len(spec.owner_code) <= 18):
        raise ValidationFailed("owner_code: a unit code of at most 18 characters", field="owner_code")
    relative = spec.target_level is not None or spec.target_industry is not None
    if (spec.unit_code is None) == (not relative):
        raise ValidationFailed("unit_code: name either a unit, or target_level with target_industry",
                               field="unit_code")
    if relative and (spec.target_level is None or not spec.target_industry):
        raise ValidationFailed("target_industry: a relative target needs both target_level and target_industry",
                               field="target_industry")
    if spec.unit_code is None:
        return None
    unit_id = session.scalar(sa.select(Unit.id).where(Unit.code == spec.unit_code, Unit.active))
    if unit_id is None:
        raise ValidationFailed(f"unit_code: no active unit {spec.unit_code!r}", field="unit_code")
    return unit_id


def create_rule(session: Session, spec: RuleSpec, *, now: datetime, synthetic: bool = False) -> RoutingRule:
    unit_id = _validate(session, spec)
    rule = RoutingRule(name=spec.name.strip(), kind=spec.kind, category_code=spec.category_code,
                       territory_code=spec.territory_code, owner_code=spec.owner_code, unit_id=unit_id,
                       target_level=spec.target_level, target_industry=spec.target_industry,
                       priority=spec.priority, active=spec.active, synthetic=synthetic,
                       created_at=now, updated_at=now)
    session.add(rule)
    session.flush()  # flush: the caller answers with the id
    return rule


def update_rule(session: Session, rule_id: int, spec: RuleSpec, *, now: datetime) -> RoutingRule:
    rule = get_rule(session, rule_id)
    unit_id = _validate(session, spec)
    rule.name, rule.kind, rule.category_code = spec.name.strip(), spec.kind, spec.category_code
    rule.territory_code, rule.owner_code, rule.unit_id = spec.territory_code, spec.owner_code, unit_id
    rule.target_level, rule.target_industry = spec.target_level, spec.target_industry
    rule.priority, rule.active, rule.updated_at = spec.priority, spec.active, now
    return rule


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"rule {rule_id} not found", field="rule_id")
    return rule


def list_rules(session: Session, *, include_inactive: bool = False) -> Sequence[RoutingRule]:
    query = sa.select(RoutingRule).order_by(RoutingRule.id)
    if not include_inactive:
        query = query.where(RoutingRule.active)
    return session.scalars(query).all()


def unit_code_of(session: Session, unit_id: int | None) -> str | None:
    return session.scalar(sa.select(Unit.code).where(Unit.id == unit_id)) if unit_id else None
