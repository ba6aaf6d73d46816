"""One command per action. Services never commit: the caller owns the transaction, and every status change
writes its CaseEvent in that same transaction (see `steps.record`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.auth.permissions import Permission, Role
from cityloop.auth.principal import Principal
from cityloop.cases import clocks, dispatching, steps
from cityloop.cases import workflow as wf
from cityloop.cases.models import (
    Case,
    CaseEvent,
    CaseNumberCounter,
    CaseRequest,
    RequestState,
    Source,
    TaskKind,
)
from cityloop.cases.schemas import (
    CaseIn,
    CheckIn,
    CollectorIn,
    CommentIn,
    DispatchIn,
    ExtensionIn,
    FileIn,
    NoteIn,
    ReasonIn,
    RequiredNoteIn,
    VerifyIn,
)
from cityloop.catalog import queries as catalog_queries
from cityloop.core import crs
from cityloop.core.clock import to_business
from cityloop.core.errors import Forbidden, ValidationFailed
from cityloop.core.geo import check_wgs84
from cityloop.core.timeunits import TimeUnit
from cityloop.deadlines import service as deadlines
from cityloop.parts.models import Part

A = wf.Action

# The channel a report is recorded under when the caller does not (or may not) name one.
DEFAULT_SOURCE: dict[Role, Source] = {
    Role.COLLECTOR: Source.COLLECTOR,
    Role.CITIZEN: Source.CITIZEN,
    Role.OPERATOR: Source.HOTLINE,
    Role.LEADER: Source.LEADER,
}


def _next_number(session: Session, now: datetime) -> str:
    """Case numbers read YYYYMMDD + a 6-digit daily sequence, the day taken in Asia/Shanghai.

    One atomic upsert hands out the next value, so concurrent reports never share a number on either
    database (PostgreSQL serialises on the row; SQLite writers hold the database lock).
    """
    day = to_business(now).strftime("%Y%m%d")
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(CaseNumberCounter).values(day=day, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["day"],
                                      set_={"last": CaseNumberCounter.last + 1})
    seq = session.execute(stmt.returning(CaseNumberCounter.last)).scalar_one()
    return f"{day}{seq:06d}"


def create_case(session: Session, actor: Principal, data: CaseIn, *, now: datetime) -> Case:
    """Open a case where it happened: the point is located in district, street, community and grid.

    A point outside the city is refused (422 outside_city); where no map is loaded yet the case opens
    unlocated.
    """
    actor.require(Permission.CASE_CREATE)
    if data.self_handled and not actor.has(Permission.CASE_SELF_HANDLE):
        raise Forbidden("self_handled: only a collector's own report can be self-handled (自处置)",
                        field="self_handled")
    if data.source is not None and not actor.has(Permission.CASE_SET_SOURCE):
        raise Forbidden("source: your role records reports under its own channel", field="source")
    source = data.source or next(
        (DEFAULT_SOURCE[r] for r in Role if r in actor.roles and r in DEFAULT_SOURCE), Source.OTHER)
    return open_case(session, data, source=source, reporter_id=actor.user_id, actor=actor, now=now)


def open_case(session: Session, data: CaseIn, *, source: Source, reporter_id: int | None, actor: Principal | None,
              now: datetime, public: bool = True, where: area_index.Location | None = None,
              reported_at: datetime | None = None) -> Case:
    """The one way a case comes into being, for every channel; callers have checked who may report.

    `actor` None records the report as the system's (a device, a hotline push, an anonymous citizen);
    `where` is the place when the caller located it already (machine batches locate in bulk);
    `reported_at` when the problem was seen, if earlier than now (the dedup window runs from it).
    """
    lon, lat = crs.to_wgs84(data.lon, data.lat, crs.parse_crs(data.crs))
    check_wgs84(lon, lat)
    if where is None:
        where = area_index.locate_or_none(session, lon, lat)
    if data.part_code is not None and session.scalar(sa.select(Part.id).where(Part.code == data.part_code)) is None:
        raise ValidationFailed(f"part_code: no 部件 {data.part_code} in the inventory", field="part_code")
    category = catalog_queries.find(session, data.kind, data.category_code)
    if category is None:
        raise ValidationFailed(
            f"category_code: {data.category_code} is not a {data.kind.value} class of the adopted directory",
            field="category_code")
    case = Case(
        number=_next_number(session, now), kind=data.kind, category_id=category.id,
        category_code=category.code, description=data.description, lat=lat, lon=lon,
        address=data.address, part_code=data.part_code, source=source, reporter_id=reporter_id, urgent=data.urgent,
        self_handled=data.self_handled, status=wf.Status.REPORTED, created_at=now, updated_at=now,
        report_count=1, last_report_at=reported_at or now, public=public,
        # A new case has none: said here, the first transition does not query for them.
        requests=[], tasks=[],
    )
    details: dict[str, Any] = {"source": source.value, "urgent": data.urgent, "self_handled": data.self_handled}
    if where is not None:
        case.district_code = where.district.code
        case.street_code = where.street.code if where.street else None
        case.community_code = where.community.code if where.community else None
        case.grid_code = where.grid_code
        case.location_desc = where.description[:256]
        details["location"] = {"district": case.district_code, "street": case.street_code,
                               "community": case.community_code, "grid": case.grid_code}
    if data.crs != "wgs84":
        details["reported_crs"] = {"crs": data.crs, "lon": data.lon, "lat": data.lat}
    session.add(case)
    session.add(CaseEvent(
        case=case, action=A.REPORT, tag="case:report", from_status=None, to_status=wf.Status.REPORTED,
        actor_id=actor.user_id if actor else None, actor_role=steps.role(actor, A.REPORT) if actor else "system",
        note="", details=details, at=now))
    session.flush()  # flush: the step clock and the alert name the case by id
    clocks.apply(session, case, A.REPORT, None, now)
    if case.urgent:
        steps.alert(session, case, "role:dispatcher", now)
    return case


def system_file(session: Session, case: Case, *, now: datetime, note: str, dispatch: bool = False) -> Case:
    """受理 and 立案 without a person: a machine report at or above its class's auto threshold.

    Files under the class's first filing-standard row (an emergency row first when the case is urgent);
    `dispatch` sends it to the routing suggestion at once even where the class's policy would wait for a
    dispatcher (a sensor's emergency: the 30-minute loop).
    """
    steps.record(session, case, steps.plan(case, A.ACCEPT), None, now, note=note, details={"auto": True})
    rows = catalog_queries.standards_for(session, case.category_id)
    details: dict[str, Any] = {"auto": True}
    if rows:
        standard = next((r for r in rows if r.urgent), rows[0]) if case.urgent else rows[0]
        case.filing_standard_id = standard.id
        details |= {"filing_standard_id": standard.id, "filing_criteria": standard.filing_criteria,
                    "deadline": {"amount": standard.deadline_amount, "unit": standard.deadline_unit,
                                 "text": standard.deadline_text}}
        if standard.urgent and not case.urgent:
            case.urgent = True
            details["urgent"] = True
    steps.record(session, case, steps.plan(case, A.FILE), None, now, note=note, details=details)
    if details.get("urgent"):  # an urgent report alerted the dispatchers when it came in; a row made it urgent now
        steps.alert(session, case, "role:dispatcher", now)
    steps.auto_dispatch(session, case, now, force=dispatch)
    return case


# --- 受理 / 核实 / 立案 ------------------------------------------------------------------------------------

def accept(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *, now: datetime) -> Case:
    return steps.simple(session, actor, case_id, A.ACCEPT, cmd, now, note=cmd.note)


def reject(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *, now: datetime) -> Case:
    return steps.simple(session, actor, case_id, A.REJECT, cmd, now, note=cmd.reason)


def request_verification(session: Session, actor: Principal, case_id: int, cmd: CollectorIn, *,
                         now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.REQUEST_VERIFICATION, cmd)
    step = steps.plan(case, A.REQUEST_VERIFICATION)
    task = steps.assign(session, case, TaskKind.VERIFY, cmd.collector_id, actor, now)
    steps.record(session, case, step, actor, now, note=cmd.note, details={"collector_id": task.collector_id})
    return case


def verify(session: Session, actor: Principal, case_id: int, cmd: VerifyIn, *, now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.VERIFY, cmd)
    outcome = wf.Outcome.CONFIRMED if cmd.confirmed else wf.Outcome.REFUTED
    step = steps.plan(case, A.VERIFY, outcome)
    steps.finish_task(case, TaskKind.VERIFY, actor, now, outcome)
    steps.record(session, case, step, actor, now, note=cmd.note)
    return case


def file(session: Session, actor: Principal, case_id: int, cmd: FileIn, *, now: datetime) -> Case:
    """立案 under one row of the filing standard, which fixes the handling deadline and closing criterion.

    A class with rows requires one of them (422 filing_standard_id otherwise); a class without rows (the bare
    national directory) files under the city's default handling limit.
    """
    case = steps.load(session, actor, case_id, A.FILE, cmd)
    step = steps.plan(case, A.FILE, wf.Outcome.SELF_HANDLED if case.self_handled else None)
    details: dict[str, Any] = {}
    rows = catalog_queries.standards_for(session, case.category_id)
    if cmd.filing_standard_id is None and rows:
        raise ValidationFailed(
            f"filing_standard_id: choose one of the {len(rows)} filing standards of class {case.category_code}",
            field="filing_standard_id")
    if cmd.filing_standard_id is not None:
        standard = next((r for r in rows if r.id == cmd.filing_standard_id), None)
        if standard is None:
            raise ValidationFailed(
                f"filing_standard_id: {cmd.filing_standard_id} is not a filing standard of class "
                f"{case.category_code}", field="filing_standard_id")
        if cmd.region_class and cmd.region_class not in (standard.region_deadlines or {}):
            raise ValidationFailed(f"region_class: the row has no deadline for region class {cmd.region_class}",
                                   field="region_class")
        case.filing_standard_id, case.region_class = standard.id, cmd.region_class
        details = {"filing_standard_id": standard.id, "filing_criteria": standard.filing_criteria,
                   "deadline": {"amount": standard.deadline_amount, "unit": standard.deadline_unit,
                                "text": standard.deadline_text}}
        if standard.urgent and not case.urgent:
            case.urgent = True  # an emergency row makes an emergency case
            details["urgent"] = True
    steps.record(session, case, step, actor, now, note=cmd.note, details=details)
    if case.urgent:
        steps.alert(session, case, "role:dispatcher", now)
    steps.auto_dispatch(session, case, now)
    return case


def void(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *, now: datetime) -> Case:
    return steps.simple(session, actor, case_id, A.VOID, cmd, now, note=cmd.reason)


# --- 派遣 and the unit's requests ---------------------------------------------------------------------------

def dispatch(session: Session, actor: Principal, case_id: int, cmd: DispatchIn, *, now: datetime) -> Case:
    """派遣 to the routing suggestion, or to another unit with a note saying why; the event keeps both."""
    case = steps.load(session, actor, case_id, A.DISPATCH, cmd)
    step = steps.plan(case, A.DISPATCH)
    level = dispatching.check_command_level(session, actor, case)
    unit, details = dispatching.choose_unit(session, case, cmd.unit_id, cmd.note)
    details["command_level"] = level.value
    steps.send(session, case, step, actor, now, unit.id, details, note=cmd.note)
    return case


def _open_request(session: Session, actor: Principal, case_id: int, action: wf.Action, cmd: ReasonIn,
                  now: datetime, *, amount: int | None = None, amount_unit: str | None = None,
                  precheck: Callable[[Case], object] | None = None) -> Case:
    case = steps.load(session, actor, case_id, action, cmd)
    step = steps.plan(case, action)  # an invalid transition answers before any precheck does
    if precheck is not None:
        precheck(case)
    steps.require_own_unit(actor, case)
    assert step.opens is not None
    req = CaseRequest(kind=step.opens, state=RequestState.PENDING, reason=cmd.reason, amount=amount,
                      amount_unit=amount_unit, requested_by=actor.user_id, requested_at=now)
    case.requests.append(req)
    session.flush()  # flush: the event names the request by id
    details: dict[str, Any] = {"kind": step.opens.value}
    if amount is not None:
        details |= {"amount": amount, "unit": amount_unit}
    steps.record(session, case, step, actor, now, note=cmd.reason, details=details, request=req)
    return case


def request_return(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *,
                   now: datetime) -> Case:
    return _open_request(session, actor, case_id, A.REQUEST_RETURN, cmd, now)


def request_extension(session: Session, actor: Principal, case_id: int, cmd: ExtensionIn, *,
                      now: datetime) -> Case:
    return _open_request(session, actor, case_id, A.REQUEST_EXTENSION, cmd, now, amount=cmd.amount,
                         amount_unit=cmd.unit.value,
                         precheck=lambda case: deadlines.check_extendable(session, case.id))


def request_suspension(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *,
                       now: datetime) -> Case:
    return _open_request(session, actor, case_id, A.REQUEST_SUSPENSION, cmd, now)


def _decide(session: Session, actor: Principal, case_id: int, action: wf.Action, cmd: NoteIn | ReasonIn,
            now: datetime) -> Case:
    case = steps.load(session, actor, case_id, action, cmd)
    step = steps.plan(case, action)
    note = cmd.reason if isinstance(cmd, ReasonIn) else cmd.note
    details: dict[str, Any] = {}
    if action is A.APPROVE_RETURN:
        # 非本单位: the case goes back to the dispatcher's queue without a unit, all else kept.
        details["returned_by_unit_id"] = case.unit_id
        case.unit_id = None
    if action is A.APPROVE_EXTENSION:
        req = next(r for r in case.requests
                   if r.kind is wf.RequestKind.EXTENSION and r.state is RequestState.PENDING)
        details |= {"amount": req.amount, "unit": req.amount_unit}
        moved = deadlines.extend(session, case.id, float(req.amount or 0), TimeUnit(req.amount_unit or "工作日"),
                                 now=now)
        details["due_at"] = to_business(moved.due_at).isoformat() if moved.due_at else None
    steps.record(session, case, step, actor, now, note=note, details=details,
            unit_id=details.get("returned_by_unit_id"))
    return case


def approve_return(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *, now: datetime) -> Case:
    return _decide(session, actor, case_id, A.APPROVE_RETURN, cmd, now)


def deny_return(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *, now: datetime) -> Case:
    return _decide(session, actor, case_id, A.DENY_RETURN, cmd, now)


def approve_extension(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *,
                      now: datetime) -> Case:
    return _decide(session, actor, case_id, A.APPROVE_EXTENSION, cmd, now)


def deny_extension(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *,
                   now: datetime) -> Case:
    return _decide(session, actor, case_id, A.DENY_EXTENSION, cmd, now)


def approve_suspension(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *,
                       now: datetime) -> Case:
    return _decide(session, actor, case_id, A.APPROVE_SUSPENSION, cmd, now)


def deny_suspension(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *,
                    now: datetime) -> Case:
    return _decide(session, actor, case_id, A.DENY_SUSPENSION, cmd, now)


def resume(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *, now: datetime) -> Case:
    return steps.simple(session, actor, case_id, A.RESUME, cmd, now, note=cmd.note)


def complete(session: Session, actor: Principal, case_id: int, cmd: RequiredNoteIn, *,
             now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.COMPLETE, cmd)
    step = steps.plan(case, A.COMPLETE)
    steps.require_own_unit(actor, case)
    steps.record(session, case, step, actor, now, note=cmd.note)
    return case


# --- 核查 / 结案 and the flags ------------------------------------------------------------------------------

def request_check(session: Session, actor: Principal, case_id: int, cmd: CollectorIn, *,
                  now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.REQUEST_CHECK, cmd)
    step = steps.plan(case, A.REQUEST_CHECK)
    task = steps.assign(session, case, TaskKind.CHECK, cmd.collector_id, actor, now)
    steps.record(session, case, step, actor, now, note=cmd.note, details={"collector_id": task.collector_id})
    return case


def check(session: Session, actor: Principal, case_id: int, cmd: CheckIn, *, now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.CHECK, cmd)
    outcome = wf.Outcome.PASSED if cmd.passed else wf.Outcome.FAILED
    step = steps.plan(case, A.CHECK, outcome)
    steps.finish_task(case, TaskKind.CHECK, actor, now, outcome)
    steps.record(session, case, step, actor, now, note=cmd.note)
    return case


def close(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *, now: datetime) -> Case:
    """结案, recording that the filing standard's closing criterion (结案条件) was met."""
    case = steps.load(session, actor, case_id, A.CLOSE, cmd)
    step = steps.plan(case, A.CLOSE)
    standard = catalog_queries.get_standard(session, case.filing_standard_id) if case.filing_standard_id else None
    details = {"closing_criteria": standard.closing_criteria, "criteria_met": True} if standard else {}
    case.closed_at = now
    steps.record(session, case, step, actor, now, note=cmd.note, details=details)
    return case


def force_close(session: Session, actor: Principal, case_id: int, cmd: ReasonIn, *, now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.FORCE_CLOSE, cmd)
    step = steps.plan(case, A.FORCE_CLOSE)
    case.closed_at = now
    steps.record(session, case, step, actor, now, note=cmd.reason, details={"forced": True})
    return case


def supervise(session: Session, actor: Principal, case_id: int, cmd: NoteIn, *, now: datetime) -> Case:
    case = steps.load(session, actor, case_id, A.SUPERVISE, cmd)
    step = steps.plan(case, A.SUPERVISE)
    case.supervised = True
    steps.record(session, case, step, actor, now, note=cmd.note)
    return case


def comment(session: Session, actor: Principal, case_id: int, cmd: RequiredNoteIn, *, now: datetime) -> Case:
    """A note on the timeline; a public one (CommentIn.public) is the reply the reporter sees."""
    case = steps.load(session, actor, case_id, A.COMMENT, cmd)
    public = isinstance(cmd, CommentIn) and cmd.public
    steps.record(session, case, steps.plan(case, A.COMMENT), actor, now, note=cmd.note,
            details={"public": True} if public else None)
    return case
