"""`cityloop routing …`: routing rules, dispatch policies and what-if suggestions."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cityloop.areas import index as area_index
from cityloop.catalog.enums import Kind
from cityloop.cli.common import database
from cityloop.core.clock import SystemClock
from cityloop.routing import service
from cityloop.routing.models import CommandLevel
from cityloop.units.models import UnitLevel

routing_app = typer.Typer(help="Routing rules (category × territory × owner → unit) and dispatch policies.",
                          no_args_is_help=True)

NameOpt = Annotated[str, typer.Option("--name", help="what the rule does, in words")]
KindOpt = Annotated[Kind | None, typer.Option("--kind", help="part or event; default: both")]
CategoryOpt = Annotated[str | None, typer.Option("--category", help="class code or 2-digit major")]
TerritoryOpt = Annotated[str | None, typer.Option("--territory", help="district/street/community/grid code")]
OwnerOpt = Annotated[str | None, typer.Option("--owner", help="a 部件 owner's code")]
UnitOpt = Annotated[str | None, typer.Option("--unit", help="fixed target unit code")]
LevelOpt = Annotated[UnitLevel | None, typer.Option("--level", help="relative target: unit level …")]
IndustryOpt = Annotated[str | None, typer.Option("--industry", help="… and industry")]
PriorityOpt = Annotated[int, typer.Option("--priority", help="higher wins")]


@routing_app.command("rules")
def rules(all_: Annotated[bool, typer.Option("--all", help="include inactive rules")] = False) -> None:
    """List the rules, one per line."""
    with database(write=False) as session:
        for r in service.list_rules(session, include_inactive=all_):
            target = service.unit_code_of(session, r.unit_id) or f"{r.target_level}:{r.target_industry}"
            typer.echo(f"#{r.id:<5} p{r.priority:<4} {r.kind or '*':<6} {r.category_code or '*':<6} "
                       f"{r.territory_code or '*':<16} {r.owner_code or '*':<19} → {target:<24} "
                       f"{'' if r.active else '(inactive) '}{r.name}")


def _write(action: str, rule_id: int | None, spec: service.RuleSpec) -> None:
    with database(write=True) as session:
        now = SystemClock().now()
        rule = (service.create_rule(session, spec, now=now) if rule_id is None
                else service.update_rule(session, rule_id, spec, now=now))
        shown = rule.id
    typer.echo(f"rule #{shown} {action}")


@routing_app.command("add")
def add(name: NameOpt, kind: KindOpt = None, category: CategoryOpt = None, territory: TerritoryOpt = None,
        owner: OwnerOpt = None, unit: UnitOpt = None, level: LevelOpt = None, industry: IndustryOpt = None,
        priority: PriorityOpt = 0) -> None:
    """Add a rule; it applies to cases routed from now on."""
    _write("added", None, service.RuleSpec(name, kind, category, territory, owner, unit, level, industry, priority))


@routing_app.command("set")
def set_rule(rule_id: int, name: NameOpt, kind: KindOpt = None, category: CategoryOpt = None,
             territory: TerritoryOpt = None, owner: OwnerOpt = None, unit: UnitOpt = None, level: LevelOpt = None,
             industry: IndustryOpt = None, priority: PriorityOpt = 0,
             inactive: Annotated[bool, typer.Option("--inactive", help="switch the rule off")] = False) -> None:
    """Replace a rule's matchers and target (every field as given)."""
    _write("updated", rule_id, service.RuleSpec(name, kind, category, territory, owner, unit, level, industry,
                                                priority, active=not inactive))


@routing_app.command("policy")
def policy(kind: Kind, category: str,
           level: Annotated[CommandLevel, typer.Option("--level", help="city or district command centre")],
           auto: Annotated[bool, typer.Option("--auto/--no-auto", help="dispatch on filing")] = False) -> None:
    """Set who dispatches a class (or a 2-digit major), and whether filing dispatches it at once."""
    with database(write=True) as session:
        service.set_policy(session, kind=kind, category_code=category, command_level=level, auto_dispatch=auto,
                           now=SystemClock().now())
    typer.echo(f"{kind.value} {category}: {level.value} command centre{', auto dispatch' if auto else ''}")


@routing_app.command("suggest")
def suggest(kind: Annotated[Kind, typer.Option("--kind")], category: Annotated[str, typer.Option("--category")],
            lon: Annotated[float, typer.Option("--lon")], lat: Annotated[float, typer.Option("--lat")],
            part: Annotated[str | None, typer.Option("--part", help="17-digit 部件 code")] = None) -> None:
    """Which unit would get such a case, and why (WGS-84 point), as JSON."""
    with database(write=False) as session:
        where = area_index.locate(session, lon, lat)
        facts = service.facts_at(kind, category, where, part, session)
        result = {"location": where.to_dict(), **service.suggest(session, facts).to_dict()}
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
