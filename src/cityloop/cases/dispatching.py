"""Where a case goes: the routing suggestion for a case, the command level that may dispatch it, and the
choice of unit a dispatch records (the suggestion, or an override with its reason)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityloop.auth.principal import Principal
from cityloop.cases.models import Case
from cityloop.core.errors import Forbidden, ValidationFailed
from cityloop.routing import service as routing
from cityloop.routing.models import CommandLevel
from cityloop.routing.resolve import Suggestion
from cityloop.units import service as unit_service
from cityloop.units.models import Unit


def facts_of(case: Case) -> routing.CaseFacts:
    return routing.CaseFacts(kind=case.kind, category_code=case.category_code, district=case.district_code,
                             street=case.street_code, community=case.community_code, grid=case.grid_code,
                             part_code=case.part_code)


def suggest(session: Session, case: Case, inputs: routing.RoutingInputs | None = None) -> Suggestion:
    return routing.suggest(session, facts_of(case), inputs)


def routing_view(session: Session, case: Case, inputs: routing.RoutingInputs | None = None) -> dict[str, Any]:
    """The suggestion and the command level, as the case detail shows them."""
    level, auto, matched = routing.policy_for(session, case.kind, case.category_code)
    return {"suggestion": suggest(session, case, inputs).to_dict(), "command_level": level.value,
            "auto_dispatch": auto, "policy_matched": matched or None}


def check_command_level(session: Session, actor: Principal, case: Case) -> CommandLevel:
    """一级监督、两级指挥: a district centre dispatches its district's cases of district-level classes only."""
    level, _, _ = routing.policy_for(session, case.kind, case.category_code)
    if actor.area_code and level is CommandLevel.CITY:
        raise Forbidden(f"class {case.category_code} is dispatched by the city command centre (市级指挥)",
                        code="city_dispatch_only")
    return level


def choose_unit(session: Session, case: Case, unit_id: int | None, note: str) -> tuple[Unit, dict[str, Any]]:
    """The unit a dispatch sends the case to, and the routing details its event records."""
    suggestion = suggest(session, case)
    details: dict[str, Any] = {"routing": suggestion.to_dict()}
    suggested = suggestion.unit.id if suggestion.unit else None
    if unit_id is None:
        if suggested is None:
            raise ValidationFailed(f"unit_id: no routing rule gives a unit for this case ({suggestion.explanation}); "
                                   "choose one", field="unit_id")
        unit_id = suggested
    unit = unit_service.get_active(session, unit_id)
    followed = unit.id == suggested
    if suggestion.unit is not None and not followed and not note.strip():
        raise ValidationFailed(
            f"note: say why the case goes to {unit.name} and not to the suggested {suggestion.unit.name}",
            field="note")
    details |= {"unit_id": unit.id, "unit_code": unit.code, "followed_suggestion": followed}
    return unit, details
