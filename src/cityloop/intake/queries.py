"""Reads: the review queue, a case's reports, what a citizen or the hotline may see, machine figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.attachments.models import Attachment, Stage
from cityloop.auth.service import token_digest
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, CaseEvent, Source
from cityloop.catalog import queries as catalog_queries
from cityloop.core.errors import NotFound
from cityloop.core.pagination import PageParams
from cityloop.intake.models import MACHINE_CHANNELS, PENDING_REVIEW, Channel, Device, Outcome, Report, Review
from cityloop.intake.schemas import PublicStep
from cityloop.units.models import Unit

A = wf.Action
# What a citizen (or the hotline) is told of each step; requests, comments and deadlines stay inside.
_PUBLIC_STEPS = {A.REPORT: "已上报", A.ACCEPT: "已受理", A.REJECT: "不予受理", A.FILE: "已立案",
                 A.DISPATCH: "已派遣", A.COMPLETE: "处置完成，待核查", A.CLOSE: "已结案", A.FORCE_CLOSE: "已结案",
                 A.VOID: "已作废", A.APPROVE_RETURN: "改派中"}
# Reports that reached people: a dropped event never did, a rejected one was never stored.
COUNTED = (Outcome.CREATED, Outcome.MERGED, Outcome.QUEUED)


def review_queue(session: Session, page: PageParams, *, category_code: str | None = None) -> tuple[list[Any], int]:
    """Pending machine reports, each with how many duplicates joined it, oldest first."""
    dupes = (sa.select(Report.parent_id, sa.func.count().label("n")).where(Report.parent_id.is_not(None))
             .group_by(Report.parent_id).subquery())
    query = (sa.select(Report, sa.func.coalesce(dupes.c.n, 0))
             .outerjoin(dupes, dupes.c.parent_id == Report.id)
             .where(PENDING_REVIEW, Report.parent_id.is_(None)))
    if category_code:
        query = query.where(Report.category_code == category_code)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Report.occurred_at, Report.id).limit(page.limit).offset(page.offset)).all()
    return [(r, n) for r, n in rows], total


def case_reports(session: Session, case_id: int) -> list[Report]:
    return list(session.scalars(sa.select(Report).where(Report.case_id == case_id).order_by(Report.id)))


def public_steps(session: Session, case: Case) -> list[PublicStep]:
    events = session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    unit_ids = set()
    rows = list(events)
    for ev in rows:
        if ev.action is A.DISPATCH and ev.unit_id:
            unit_ids.add(ev.unit_id)
    names = dict(session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) \
        if unit_ids else {}
    steps = []
    for ev in rows:
        if ev.action is A.COMMENT:
            if (ev.details or {}).get("public"):
                steps.append(PublicStep(at=ev.at, label="答复", reply=ev.note))
            continue
        if ev.action is A.CHECK:
            passed = (ev.details or {}).get("outcome") == wf.Outcome.PASSED.value
            steps.append(PublicStep(at=ev.at, label="核查通过" if passed else "核查未通过，返工处置"))
            continue
        label = _PUBLIC_STEPS.get(ev.action)
        if label is None:
            continue
        if ev.action is A.DISPATCH and ev.unit_id in names:
            label = f"已派遣：{names[ev.unit_id]}"
        steps.append(PublicStep(at=ev.at, label=label))
    return steps


@dataclass(frozen=True)
class PublicView:
    report: Report
    case: Case
    category_name: str
    steps: list[PublicStep]
    photo_ids: list[str]


def public_view(session: Session, number: str, token: str) -> PublicView:
    """The report behind a citizen's token, if its case has this number; 404 alike for every mismatch, so
    neither numbers nor tokens can be probed."""
    report = session.scalar(sa.select(Report).where(Report.token_hash == token_digest(token)))
    case = session.get(Case, report.case_id) if report is not None and report.case_id else None
    if report is None or case is None or case.number != number:
        raise NotFound("no report with this number and token", field="token")
    return _view(session, report, case)


def _view(session: Session, report: Report, case: Case) -> PublicView:
    category = catalog_queries.find(session, case.kind, case.category_code)
    photos = session.scalars(
        sa.select(Attachment.public_id).where(sa.or_(
            Attachment.report_id == report.id,
            sa.and_(Attachment.case_id == case.id, Attachment.stage == Stage.AFTER)))
        .order_by(Attachment.id))
    return PublicView(report, case, category.name if category else case.category_code, public_steps(session, case),
                      list(photos))


def my_reports(session: Session, user_id: int, page: PageParams) -> tuple[list[PublicView], int]:
    """A signed-in person's own reports, whichever way they came in (随手拍, or the API as a citizen)."""
    query = sa.select(Report).where(Report.reporter_id == user_id, Report.case_id.is_not(None))
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    reports = session.scalars(query.order_by(Report.id.desc()).limit(page.limit).offset(page.offset))
    views = []
    for r in reports:
        case = session.get(Case, r.case_id)
        if case is not None:
            views.append(_view(session, r, case))
    return views, total


def hotline_order(session: Session, origin: str, external_id: str) -> tuple[Report, Case | None, str | None]:
    report = session.scalar(sa.select(Report).where(Report.origin == origin, Report.external_id == external_id))
    if report is None:
        raise NotFound(f"no work order {external_id} from this system", field="external_id")
    case = session.get(Case, report.case_id) if report.case_id else None
    unit = session.get(Unit, case.unit_id) if case is not None and case.unit_id else None
    return report, case, unit.name if unit else None


def hotline_changes(session: Session, origin: str, since: datetime, limit: int) -> list[tuple[Report, Case]]:
    """The system's orders whose case changed since `since`, oldest change first (for polling).

    The caller polls again with the last `updated_at` it saw, strictly after it; so a page never ends inside
    a group of orders sharing one `updated_at` (orders merged into one case, cases changed by one job): such
    a group is returned whole, even past `limit`, or the next poll would skip its rest.
    """
    query = (sa.select(Report, Case).join(Case, Case.id == Report.case_id)
             .where(Report.origin == origin, Report.external_id.is_not(None), Case.updated_at > since)
             .order_by(Case.updated_at, Case.id, Report.id))
    rows = session.execute(query.limit(limit)).all()
    if len(rows) == limit:
        last = rows[-1][1].updated_at
        rows = [row for row in rows if row[1].updated_at < last]
        rows += session.execute(query.where(Case.updated_at == last)).all()
    return [(r, c) for r, c in rows]


# --- machine figures ----------------------------------------------------------------------------------------

def machine_share(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Share of reports, and of cases opened, that came from machines in [start, end)."""
    rows = session.execute(
        sa.select(Report.channel, sa.func.count())
        .where(Report.received_at >= start, Report.received_at < end, Report.outcome.in_(COUNTED))
        .group_by(Report.channel)).all()
    by_channel = {channel.value: n for channel, n in rows}
    total = sum(by_channel.values())
    machine = sum(n for c, n in by_channel.items() if Channel(c) in MACHINE_CHANNELS)
    case_rows = session.execute(
        sa.select(Case.source, sa.func.count()).where(Case.created_at >= start, Case.created_at < end)
        .group_by(Case.source)).all()
    by_source = {source.value: n for source, n in case_rows}
    cases_total = sum(by_source.values())
    cases_machine = by_source.get(Source.DEVICE.value, 0)
    dropped = session.scalar(sa.select(sa.func.count()).select_from(Report).where(
        Report.received_at >= start, Report.received_at < end, Report.outcome == Outcome.DROPPED)) or 0
    return {
        "start": start, "end": end,
        "reports": {"total": total, "machine": machine, "share": machine / total if total else None,
                    "by_channel": by_channel},
        "cases": {"total": cases_total, "machine": cases_machine,
                  "share": cases_machine / cases_total if cases_total else None, "by_source": by_source},
        "dropped_events": dropped,
        "definition": "机器上报占比 = 智能采集上报数 ÷ 全部上报数（各渠道收到的、建案、并案或进入复核的上报；"
                      "低于复核阈值丢弃的事件不计入，另列 dropped_events）；案件口径按案件来源统计。",
    }


def precision(session: Session, start: datetime, end: datetime, *, by: str = "algorithm") -> list[dict[str, Any]]:
    """Per algorithm (or device): confirmed vs rejected machine reports.

    Confirmed: the report belongs to a case that was not rejected or voided. Rejected: the operator rejected
    it in review, or its case was rejected (不予受理) or voided (作废). Pending and dropped are shown, not counted.
    """
    bad_case = Case.status.in_((wf.Status.REJECTED, wf.Status.VOIDED))
    rejected = sa.or_(Report.review == Review.REJECTED, sa.and_(Report.case_id.is_not(None), bad_case))
    confirmed = sa.and_(Report.case_id.is_not(None), sa.not_(bad_case))
    key = Report.algorithm if by == "algorithm" else Report.device_id
    query = (sa.select(
        key.label("key"),
        sa.func.count().label("reports"),
        sa.func.sum(sa.case((confirmed, 1), else_=0)).label("confirmed"),
        sa.func.sum(sa.case((rejected, 1), else_=0)).label("rejected"),
        sa.func.sum(sa.case((Report.review == Review.PENDING, 1), else_=0)).label("pending"),
        sa.func.sum(sa.case((Report.outcome == Outcome.DROPPED, 1), else_=0)).label("dropped"))
        .outerjoin(Case, Case.id == Report.case_id)
        .where(Report.channel == Channel.DEVICE, Report.received_at >= start, Report.received_at < end)
        .group_by(key).order_by(key))
    out = []
    names: dict[int, str] = {}
    if by == "device":
        names = dict(session.execute(sa.select(Device.id, Device.name)).all())
    for row in session.execute(query):
        decided = (row.confirmed or 0) + (row.rejected or 0)
        item = {by: row.key, "reports": row.reports, "confirmed": row.confirmed or 0, "rejected": row.rejected or 0,
                "pending": row.pending or 0, "dropped": row.dropped or 0,
                "precision": (row.confirmed or 0) / decided if decided else None}
        if by == "device":
            item["device_name"] = names.get(row.key, "")
        out.append(item)
    return out
