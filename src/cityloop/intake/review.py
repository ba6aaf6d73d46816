"""The operator's review queue: machine reports between the thresholds wait for a person to say yes or no."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.attachments import service as attachment_service
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.cases import service as cases
from cityloop.cases.models import Case, Source
from cityloop.cases.schemas import NoteIn
from cityloop.core.errors import Conflict, NotFound
from cityloop.intake import machine, rules
from cityloop.intake.models import Device, Report, Review
from cityloop.intake.service import bump_cases, case_in, category_or_fail, dedup_key, lock, open_candidates


def _pending(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None or report.parent_id is not None:
        raise NotFound(f"no report {report_id} in the review queue", field="report_id")
    if report.review is not Review.PENDING:
        raise Conflict(f"report {report_id} was already {report.review.value if report.review else 'decided'}",
                       code="already_reviewed")
    return report


def _children(session: Session, report_id: int) -> list[Report]:
    return list(session.scalars(sa.select(Report).where(Report.parent_id == report_id).order_by(Report.id)))


def accept(session: Session, actor: Principal, report_id: int, note: str, *, now: datetime) -> Case:
    """Confirmed: a case opens from the report (its duplicates join it) and is 受理'd by the operator.

    Where an open case of the class has appeared nearby while the report waited (a confident event, a citizen),
    the report and its duplicates join that case instead, as they would have on arrival.
    """
    actor.require(Permission.INTAKE_REVIEW)
    lock(session, [f"review:{report_id}"])
    report = _pending(session, report_id)
    lock(session, [dedup_key(report.kind, report.category_code)])
    category = category_or_fail(session, report.kind, report.category_code)
    children = _children(session, report.id)
    group = (report, *children)
    latest = max(r.occurred_at for r in group)
    rule = rules.load(session).dedup(category.code)
    found = open_candidates(session, report.kind, category.code, [report.lat], [report.lon], latest, rule).nearest(
        report.lat, report.lon, latest, rule)
    if found is not None:
        joined = session.get(Case, found)
        assert joined is not None
        _decide(session, group, joined, actor, now)
        report.review_note = note
        session.flush()
        bump_cases(session, {joined.id: (len(group), latest)})
        return joined
    device = session.get(Device, report.device_id) if report.device_id else None
    description = report.description or (machine.describe(device, category, None, None) if device else category.name)
    case = cases.open_case(session, case_in(category, report.lon, report.lat, description=description),
                           source=Source.DEVICE, reporter_id=None, actor=None, now=now,
                           where=area_index.locate_or_none(session, report.lon, report.lat),
                           reported_at=report.occurred_at)
    _decide(session, group, case, actor, now)
    report.review_note = note
    session.flush()
    if children:
        bump_cases(session, {case.id: (len(children), max(r.occurred_at for r in children))})
    cases.accept(session, actor, case.id, NoteIn(note=note or "智能采集复核属实"), now=now)
    return case


def _decide(session: Session, group: tuple[Report, ...], case: Case, actor: Principal, now: datetime) -> None:
    """The reports go into the case, and so do the photos that came with them."""
    for r in group:
        r.case_id, r.review, r.reviewed_by, r.reviewed_at = case.id, Review.ACCEPTED, actor.user_id, now
        attachment_service.attach_to_case(session, r.id, case.id)


def reject(session: Session, actor: Principal, report_id: int, reason: str, *, now: datetime) -> Report:
    """Not a problem: the report and its duplicates count against the algorithm that raised them."""
    actor.require(Permission.INTAKE_REVIEW)
    lock(session, [f"review:{report_id}"])
    report = _pending(session, report_id)
    # As in accept: a batch adding a duplicate to this report holds the class's lock, so the duplicate is
    # either seen here and rejected with it, or finds the report decided and is not attached to it.
    lock(session, [dedup_key(report.kind, report.category_code)])
    for r in (report, *_children(session, report.id)):
        r.review, r.reviewed_by, r.reviewed_at = Review.REJECTED, actor.user_id, now
    report.review_note = reason
    return report
