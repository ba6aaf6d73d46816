"""Reads behind the GET methods. A request list is one query for the page plus one batched query per kind of
related data (units, clocks, last public steps, standards, photos), never a query per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas.models import Territory
from cityloop.attachments.models import Attachment, Stage
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.workflow import TERMINAL, Action, Outcome
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category, FilingStandard
from cityloop.deadlines.models import Deadline, DeadlineKind, DeadlineState
from cityloop.intake.models import Channel, Report, Review
from cityloop.intake.models import Outcome as ReportOutcome
from cityloop.open311 import attributes, errors, mapping
from cityloop.open311.timefmt import format_dt
from cityloop.units import queries as unit_queries

# Photos the public may see: the reporter's and the unit's "after" photo (doc §2.7: EXIF-free derivatives).
PUBLIC_STAGES = (Stage.REPORT, Stage.AFTER)


# --- services -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Service:
    category: Category
    rows: tuple[attributes.StandardRow, ...]

    @property
    def code(self) -> str:
        return mapping.service_code(self.category.kind, self.category.code)

    def attributes(self) -> list[attributes.Attribute]:
        return attributes.definition(self.category.kind, self.rows)

    def as_open311(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.category.name,
                "description": attributes.summary(self.rows), "metadata": bool(self.attributes()),
                "type": "realtime", "keywords": None, "group": self.category.major_name}

    def definition(self) -> dict[str, Any]:
        return {"service_code": self.code, "attributes": [a.as_open311() for a in self.attributes()]}


def _row(s: FilingStandard) -> attributes.StandardRow:
    return attributes.StandardRow(s.seq, s.filing_criteria, s.deadline_text, s.urgent)


def services(session: Session) -> list[Service]:
    """The adopted directory's classes open to public intake, in service_code order (BJ before SJ, then the
    code, whose first two digits are the 大类: so each group is contiguous)."""
    scheme = catalog_queries.adopted_version(session)
    rows: dict[int, list[attributes.StandardRow]] = defaultdict(list)
    for category, standard in catalog_queries.standards_of_version(session, scheme):
        rows[category.id].append(_row(standard))
    found = [Service(c, tuple(rows.get(c.id, ()))) for c in catalog_queries.list_categories(session, scheme=scheme)
             if c.public_intake]
    return sorted(found, key=lambda s: s.code)


def find_service(session: Session, code: str) -> Service | None:
    parsed = mapping.parse_service_code(code)
    if parsed is None:
        return None
    category = catalog_queries.find(session, *parsed)
    if category is None or not category.public_intake:
        return None
    return Service(category, tuple(_row(s) for s in catalog_queries.standards_for(session, category.id)))


# --- requests -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestFilter:
    """`ids` overrides everything else (spec). `codes` None = every service; an empty list matches nothing."""

    ids: Sequence[str] | None = None
    codes: Sequence[tuple[Kind, str]] | None = None
    statuses: frozenset[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    offset: int = 0
    limit: int = 1000


def _filtered(f: RequestFilter) -> sa.Select[Case, str]:
    stmt = (sa.select(Case, Category.name).join(Category, Category.id == Case.category_id)
            .where(Case.public.is_(True)))
    if f.ids is not None:
        return stmt.where(Case.number.in_(list(f.ids)))
    if f.codes is not None:
        if not f.codes:
            return stmt.where(sa.false())
        stmt = stmt.where(sa.or_(*(sa.and_(Case.kind == k, Case.category_code == c) for k, c in f.codes)))
    if f.statuses is not None and len(f.statuses) == 1:
        terminal = list(TERMINAL)
        stmt = stmt.where(Case.status.in_(terminal) if "closed" in f.statuses else Case.status.not_in(terminal))
    if f.start is not None:
        stmt = stmt.where(Case.created_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(Case.created_at <= f.end)
    return stmt


def find_requests(session: Session, f: RequestFilter) -> tuple[list[tuple[Case, str]], int]:
    """(case, its class name) newest first, and how many match in all."""
    stmt = _filtered(f)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(stmt.order_by(Case.created_at.desc(), Case.id.desc()).offset(f.offset).limit(f.limit))
    return [(row[0], row[1]) for row in rows], total


@dataclass
class _Related:
    units: dict[int, str] = field(default_factory=dict)
    handling: dict[int, Deadline] = field(default_factory=dict)
    last_step: dict[int, CaseEvent] = field(default_factory=dict)
    notices: dict[int, str] = field(default_factory=dict)
    photos: dict[int, list[tuple[str, Stage]]] = field(default_factory=dict)
    steps: dict[int, list[CaseEvent]] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    channels: dict[int, str] = field(default_factory=dict)


def _related(session: Session, cases: Sequence[Case], *, extended: bool) -> _Related:
    ids = [c.id for c in cases]
    out = _Related()
    if not ids:
        return out
    out.units = unit_queries.names_by_id(session, {c.unit_id for c in cases if c.unit_id is not None})
    # The clock behind expected_datetime: the running (or parked) handling deadline, the latest one.
    for d in session.scalars(sa.select(Deadline).where(
            Deadline.case_id.in_(ids), Deadline.kind == DeadlineKind.HANDLE,
            Deadline.state.in_([DeadlineState.PENDING, DeadlineState.PAUSED])).order_by(Deadline.id)):
        out.handling[d.case_id] = d
    last_ids = (sa.select(sa.func.max(CaseEvent.id)).where(
        CaseEvent.case_id.in_(ids), CaseEvent.action.in_(list(mapping.PUBLIC_ACTIONS))).group_by(CaseEvent.case_id))
    for e in session.scalars(sa.select(CaseEvent).where(CaseEvent.id.in_(last_ids))):
        out.last_step[e.case_id] = e
    standard_ids = {c.filing_standard_id for c in cases if c.filing_standard_id is not None}
    if standard_ids:
        for sid, text in session.execute(sa.select(FilingStandard.id, FilingStandard.deadline_text)
                                         .where(FilingStandard.id.in_(standard_ids))):
            if text:
                out.notices[sid] = f"处置时限：{text}"
    stages = PUBLIC_STAGES if extended else (Stage.REPORT,)
    for case_id, public_id, stage in session.execute(
            sa.select(Attachment.case_id, Attachment.public_id, Attachment.stage)
            .where(Attachment.case_id.in_(ids), Attachment.stage.in_(list(stages)))
            .order_by(Attachment.case_id, Attachment.id)):
        if case_id is not None:
            out.photos.setdefault(case_id, []).append((public_id, stage))
    if extended:
        for e in session.scalars(sa.select(CaseEvent).where(
                CaseEvent.case_id.in_(ids), CaseEvent.action.in_(list(mapping.PUBLIC_ACTIONS)))
                .order_by(CaseEvent.at, CaseEvent.id)):
            out.steps.setdefault(e.case_id, []).append(e)
        codes = {code for c in cases for code in (c.district_code, c.street_code) if code}
        if codes:
            out.places = dict(session.execute(
                sa.select(Territory.code, Territory.name).where(Territory.code.in_(codes))).all())
        first_report = (sa.select(sa.func.min(Report.id)).where(Report.case_id.in_(ids)).group_by(Report.case_id))
        for case_id, channel in session.execute(
                sa.select(Report.case_id, Report.channel).where(Report.id.in_(first_report))):
            if channel is Channel.OPEN311 and case_id is not None:
                out.channels[case_id] = "open311"
    return out


def _outcome(event: CaseEvent | None) -> Outcome | None:
    raw = (event.details or {}).get("outcome") if event is not None else None
    return Outcome(raw) if raw in set(Outcome) else None


def _coord(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def request_views(session: Session, rows: Sequence[tuple[Case, str]], *, media_base: str, now: datetime,
                  extended: bool = False) -> list[dict[str, Any]]:
    """The request objects of doc §7.1 (and §13.2's two keys when `extended`), in the order given."""
    rel = _related(session, [c for c, _ in rows], extended=extended)
    return [_view(case, name, rel, media_base, now, extended) for case, name in rows]


def _view(case: Case, name: str, rel: _Related, media_base: str, now: datetime, extended: bool) -> dict[str, Any]:
    last = rel.last_step.get(case.id)
    clock = rel.handling.get(case.id)
    closed = case.status in TERMINAL
    due = clock.due_at if clock is not None and not closed else None
    unit = rel.units.get(case.unit_id) if case.unit_id is not None else None
    st = mapping.public_status(case.status, last.action if last else None, _outcome(last), unit=unit, due=due)
    # Closed: the close time, which later internal edits never move (reject/void leave closed_at empty, so the
    # terminal step's time is the close time).
    updated = (case.closed_at or (last.at if last is not None else case.updated_at)) if closed else case.updated_at
    photos = rel.photos.get(case.id, [])
    first = next((p for p, stage in photos if stage is Stage.REPORT), None)
    view: dict[str, Any] = {
        "service_request_id": case.number,
        "status": st.status,
        "status_notes": st.notes,
        "service_name": name,
        "service_code": mapping.service_code(case.kind, case.category_code),
        "description": case.description or None,
        "agency_responsible": unit,
        "service_notice": rel.notices.get(case.filing_standard_id) if case.filing_standard_id else None,
        "requested_datetime": format_dt(case.created_at),
        "updated_datetime": format_dt(updated),
        "expected_datetime": format_dt(due),
        "address": case.address or case.location_desc or None,
        "address_id": case.part_code,
        "zipcode": None,
        "lat": _coord(case.lat),
        "long": _coord(case.lon),
        "media_url": f"{media_base}/{first}" if first else None,
    }
    if extended:
        overdue = clock is not None and not closed and (
            clock.breached_at is not None or (clock.due_at is not None and clock.due_at <= now))
        view["extended_attributes"] = {
            "detailed_status": st.detailed, "state": st.state, "state_label": st.state_label,
            "case_no": case.number, "channel": rel.channels.get(case.id, mapping.CHANNELS[case.source]),
            "district": rel.places.get(case.district_code or ""), "street": rel.places.get(case.street_code or ""),
            "grid_code": case.grid_code, "overdue": overdue,
            "closure_reason": st.fms if closed else None,
            "media_urls": [f"{media_base}/{p}" for p, _ in photos],
        }
        view["notes"] = [_note(e, rel.units) for e in rel.steps.get(case.id, [])]
    return view


def _note(e: CaseEvent, units: dict[int, str]) -> dict[str, Any]:
    st = mapping.public_status(e.to_status, e.action, _outcome(e), unit=units.get(e.unit_id or 0))
    return {"datetime": format_dt(e.at), "type": "status", "description": st.notes}


# --- tokens ---------------------------------------------------------------------------------------------------

def resolve_token(session: Session, digest: str) -> str | None:
    """The case number a follow-up token leads to; None while its report waits for review.

    Raises Open311Error 404 for an unknown token and for a discarded one (dropped below the review threshold,
    or rejected on review); the reason is a fixed phrase, never the reviewer's own note.
    """
    report = session.scalar(sa.select(Report).where(Report.token_hash == digest))
    seen: set[int] = set()
    # A report that joined another report still waiting for review follows that one.
    while report is not None and report.case_id is None and report.parent_id is not None \
            and report.id not in seen:
        seen.add(report.id)
        report = session.get(Report, report.parent_id)
    if report is None:
        raise errors.not_found(errors.TOKEN_NOT_FOUND)
    if report.case_id is not None:
        return session.scalar(sa.select(Case.number).where(Case.id == report.case_id))
    if report.review is Review.REJECTED:
        raise errors.not_found("token discarded: rejected on review")
    if report.outcome is ReportOutcome.DROPPED:
        raise errors.not_found("token discarded: below the confidence threshold")
    if report.outcome is ReportOutcome.REJECTED:
        raise errors.not_found("token discarded: invalid report")
    return None



# --- photos ---------------------------------------------------------------------------------------------------

def public_photo(session: Session, public_id: str) -> Attachment | None:
    """A photo anyone may fetch: a report or "after" photo of a public case (the stored copy is EXIF-free)."""
    return session.scalar(
        sa.select(Attachment).join(Case, Case.id == Attachment.case_id)
        .where(Attachment.public_id == public_id, Attachment.stage.in_(list(PUBLIC_STAGES)), Case.public.is_(True)))


# --- FixMyStreet status updates (§13.4) -----------------------------------------------------------------------

UPDATE_PREFIX = "ev-"


def find_updates(session: Session, start: datetime, end: datetime, *, offset: int,
                 limit: int) -> tuple[list[tuple[CaseEvent, str]], int]:
    """Public steps of public cases in [start, end], oldest first (a client applies them in order), each with
    its case number; and how many there are in all."""
    stmt = (sa.select(CaseEvent, Case.number).join(Case, Case.id == CaseEvent.case_id)
            .where(Case.public.is_(True), CaseEvent.action.in_(list(mapping.PUBLIC_ACTIONS)),
                   CaseEvent.at >= start, CaseEvent.at <= end))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(CaseEvent.at, CaseEvent.id).offset(offset).limit(limit))
    return [(row[0], row[1]) for row in rows], total


def update_views(session: Session, rows: Sequence[tuple[CaseEvent, str]], *,
                 media_base: str) -> list[dict[str, Any]]:
    """update_id is the case event's id: stable and unique, so a client's de-duplication holds. The status is
    always the specific one (FIXED, NO_FURTHER_ACTION …): FixMyStreet shows a bare "closed" as fixed."""
    case_ids = {e.case_id for e, _ in rows}
    units = unit_queries.names_by_id(session, {e.unit_id for e, _ in rows if e.unit_id is not None})
    after: dict[int, str] = {}
    if case_ids:
        for case_id, public_id in session.execute(
                sa.select(Attachment.case_id, Attachment.public_id)
                .where(Attachment.case_id.in_(case_ids), Attachment.stage == Stage.AFTER)
                .order_by(Attachment.id.desc())):
            if case_id is not None:
                after[case_id] = public_id  # descending: the first photo wins
    out = []
    for e, number in rows:
        st = mapping.public_status(e.to_status, e.action, _outcome(e), unit=units.get(e.unit_id or 0))
        photo = after.get(e.case_id) if e.action in (Action.COMPLETE, Action.CLOSE) else None
        out.append({"update_id": f"{UPDATE_PREFIX}{e.id}", "service_request_id": number, "status": st.fms,
                    "updated_datetime": format_dt(e.at), "description": st.notes,
                    "media_url": f"{media_base}/{photo}" if photo else None,
                    "external_status_code": e.to_status.value})
    return out
