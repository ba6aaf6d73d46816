"""/api/v1/routing: rules and dispatch policies (read: staff; edit: routing:manage), and what-if suggestions."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.auth.deps import require
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.catalog.enums import Kind
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep
from cityloop.routing import service
from cityloop.routing.models import RoutingRule
from cityloop.routing.schemas import PolicyIn, PolicyOut, RuleIn, RuleOut, SuggestIn

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])

_read = require(Permission.ROUTING_READ)
_manage = require(Permission.ROUTING_MANAGE)


def _out(session: Session, rule: RoutingRule) -> RuleOut:
    return RuleOut(id=rule.id, name=rule.name, kind=rule.kind, category_code=rule.category_code,
                   territory_code=rule.territory_code, owner_code=rule.owner_code, unit_id=rule.unit_id,
                   unit_code=service.unit_code_of(session, rule.unit_id), target_level=rule.target_level,
                   target_industry=rule.target_industry, priority=rule.priority, active=rule.active,
                   synthetic=rule.synthetic, updated_at=rule.updated_at)


def _spec(body: RuleIn) -> service.RuleSpec:
    return service.RuleSpec(**body.model_dump())


@router.get("/rules", response_model=list[RuleOut])
def list_rules(session: ReadSessionDep, _: Principal = _read, include_inactive: bool = False) -> list[RuleOut]:
    return [_out(session, r) for r in service.list_rules(session, include_inactive=include_inactive)]


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, session: SessionDep, clock: ClockDep, _: Principal = _manage) -> RuleOut:
    """A new rule applies to every case routed from now on."""
    rule = service.create_rule(session, _spec(body), now=clock.now())
    session.commit()
    return _out(session, rule)


@router.get("/rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: int, session: ReadSessionDep, _: Principal = _read) -> RuleOut:
    return _out(session, service.get_rule(session, rule_id))


@router.put("/rules/{rule_id}", response_model=RuleOut)
def update_rule(rule_id: int, body: RuleIn, session: SessionDep, clock: ClockDep,
                _: Principal = _manage) -> RuleOut:
    """Cases dispatched before the edit keep the rule as it was in their dispatch event."""
    rule = service.update_rule(session, rule_id, _spec(body), now=clock.now())
    session.commit()
    return _out(session, rule)


@router.get("/policies", response_model=list[PolicyOut])
def list_policies(session: ReadSessionDep, _: Principal = _read) -> list[PolicyOut]:
    return [PolicyOut.model_validate(p) for p in service.list_policies(session)]


@router.put("/policies/{kind}/{category_code}", response_model=PolicyOut)
def set_policy(kind: Kind, category_code: str, body: PolicyIn, session: SessionDep, clock: ClockDep,
               _: Principal = _manage) -> PolicyOut:
    """一级监督、两级指挥: which command level dispatches a class (or a 2-digit major), and auto-dispatch."""
    row = service.set_policy(session, kind=kind, category_code=category_code, command_level=body.command_level,
                             auto_dispatch=body.auto_dispatch, now=clock.now())
    session.commit()
    return PolicyOut.model_validate(row)


@router.post("/suggest")
def suggest(body: SuggestIn, session: ReadSessionDep, _: Principal = _read) -> dict[str, object]:
    """Where would such a case go, and why — without opening one (WGS-84)."""
    where = area_index.locate(session, body.lon, body.lat)
    facts = service.facts_at(body.kind, body.category_code, where, body.part_code, session)
    return {"location": where.to_dict(), **service.suggest(session, facts).to_dict()}
