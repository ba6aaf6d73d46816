"""One door for every report: store it, locate it, de-duplicate it, open (or join) a case.

Services never commit. Two submissions racing for the same external id, or for the same place and class,
are serialised: SQLite writers hold the database's write lock for the whole transaction, and on PostgreSQL
each submission takes transaction-scoped advisory locks on its origin and on its class before it looks.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.auth.principal import Principal
from cityloop.auth.service import token_digest
from cityloop.cases import service as cases
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, Source
from cityloop.cases.schemas import CaseIn
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import Category
from cityloop.core import crs
from cityloop.core.errors import ValidationFailed
from cityloop.core.geo import check_wgs84
from cityloop.db import bulk
from cityloop.intake import dedup, rules
from cityloop.intake.models import Channel, Outcome, Report
from cityloop.intake.schemas import ReportIn
from cityloop.parts.models import Part

# The case source each channel records; staff reports take theirs from the reporter's role (cases.service).
SOURCE_OF = {Channel.PUBLIC: Source.CITIZEN, Channel.OPEN311: Source.CITIZEN, Channel.HOTLINE: Source.HOTLINE,
             Channel.DEVICE: Source.DEVICE}
# Staff report what they see on purpose (an operator merges by hand); everyone else is de-duplicated.
DEDUP_CHANNELS = frozenset({Channel.PUBLIC, Channel.OPEN311, Channel.HOTLINE, Channel.DEVICE})
# Channels whose reporters follow the case publicly (token, Open311): they may join public cases only, or a
# citizen would be shown a non-public case (a complaint naming a person) and the replies meant for its reporter.
PUBLIC_CHANNELS = frozenset({Channel.PUBLIC, Channel.OPEN311})


@dataclass(frozen=True)
class Sender:
    channel: Channel
    origin: str  # "device:7", "key:3", "user:12" or "public"
    principal: Principal | None = None
    api_key_id: int | None = None


@dataclass
class Submitted:
    report: Report
    case: Case | None
    outcome: Outcome
    replayed: bool = False
    token: str | None = None  # the follow-up token, in plain text, only when it was just issued


def lock(session: Session, names: Iterable[str]) -> None:
    """PostgreSQL advisory locks held to the end of the transaction, always taken in one order."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the writer already holds the database's write lock (BEGIN IMMEDIATE)
    for name in sorted(set(names)):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})


def dedup_key(kind: Kind, category_code: str) -> str:
    return f"dedup:{kind.value}:{category_code}"


def find_replay(session: Session, origin: str, external_id: str) -> Report | None:
    return session.scalar(sa.select(Report).where(Report.origin == origin, Report.external_id == external_id))


def category_or_fail(session: Session, kind: Kind, code: str, field: str = "category_code") -> Category:
    category = catalog_queries.find(session, kind, code)
    if category is None or not category.active:
        raise ValidationFailed(f"{field}: {code} is not a {kind.value} class of the adopted directory",
                               field=field)
    return category


def place_of(session: Session, data: ReportIn) -> tuple[float, float]:
    """WGS-84 (lon, lat) of a report: its coordinates, or where its 部件 stands."""
    if data.lat is not None and data.lon is not None:
        lon, lat = crs.to_wgs84(data.lon, data.lat, crs.parse_crs(data.crs))
        check_wgs84(lon, lat)
        return lon, lat
    if data.part_code is not None:
        row = session.execute(sa.select(Part.lon, Part.lat).where(Part.code == data.part_code)).first()
        if row is None:
            raise ValidationFailed(f"part_code: no 部件 {data.part_code} in the inventory", field="part_code")
        return row.lon, row.lat
    raise ValidationFailed("lat: a location is required: lat and lon, or the part_code of a 部件", field="lat")


def open_candidates(session: Session, kind: Kind, category_code: str, lats: list[float], lons: list[float],
                    earliest: datetime, rule: dedup.Rule, *, public_only: bool = False) -> dedup.Candidates:
    """Open cases of the class near any of the points whose latest report falls in the window."""
    min_lat, max_lat, min_lon, max_lon = dedup.bbox(lats, lons, rule.radius_m)
    query = (sa.select(Case.id, Case.lat, Case.lon, Case.last_report_at)
             .where(Case.category_code == category_code, Case.kind == kind, Case.status.in_(wf.OPEN),
                    Case.last_report_at >= earliest - rule.window,
                    Case.lat.between(min_lat, max_lat), Case.lon.between(min_lon, max_lon)))
    rows = session.execute(query.where(Case.public.is_(True)) if public_only else query)
    found = dedup.Candidates()
    for r in rows:
        found.add(r.id, r.lat, r.lon, r.last_report_at)
    return found


def bump_cases(session: Session, joined: dict[int, tuple[int, datetime]]) -> None:
    """Count joined reports on their cases without touching the case version: a duplicate arriving must
    not make a dispatcher's concurrent command fail as stale. One statement for all the cases."""
    if not joined:
        return
    table = cast(sa.Table, Case.__table__)
    latest = sa.bindparam("latest", type_=table.c.last_report_at.type)
    last = sa.func.coalesce(table.c.last_report_at, latest)
    stmt = (sa.update(table).where(table.c.id == sa.bindparam("case_id", type_=table.c.id.type))
            .values(report_count=table.c.report_count + sa.bindparam("n", type_=table.c.report_count.type),
                    last_report_at=sa.case((last < latest, latest), else_=last)))
    bulk.update(session.connection(), stmt, ["case_id", "n", "latest"],
                [table.c.id, table.c.report_count, table.c.last_report_at],
                [(cid, n, at) for cid, (n, at) in sorted(joined.items())])
    for case_id in joined:
        obj = session.identity_map.get(session.identity_key(Case, case_id))
        if obj is not None:
            session.expire(obj, ["report_count", "last_report_at"])


def case_in(category: Category, lon: float, lat: float, *, description: str, address: str = "",
            part_code: str | None = None, urgent: bool = False) -> CaseIn:
    """The case command for a report already validated here (CaseIn's own limits are the staff form's)."""
    return CaseIn.model_construct(
        kind=category.kind, category_code=category.code, description=description or category.name, lat=lat,
        lon=lon, crs="wgs84", address=address, part_code=part_code, urgent=urgent, self_handled=False, source=None)


def submit_report(session: Session, sender: Sender, data: ReportIn, *, now: datetime, dedup_on: bool = True,
                  issue_token: bool = False) -> Submitted:
    """A report from a person or another system. Idempotent on (origin, external_id)."""
    if data.external_id is not None:
        lock(session, [f"origin:{sender.origin}:{data.external_id}"])
        earlier = find_replay(session, sender.origin, data.external_id)
        if earlier is not None:
            same = session.get(Case, earlier.case_id) if earlier.case_id else None
            return Submitted(earlier, same, earlier.outcome, replayed=True)
    category = category_or_fail(session, data.kind, data.category_code)
    if sender.channel in PUBLIC_CHANNELS and not category.public_intake:
        # Some classes are for staff only (a collector's 部件 inspection, say): the public may not file them.
        raise ValidationFailed(f"category_code: class {category.code} does not take reports from the public",
                               field="category_code")
    lon, lat = place_of(session, data)
    where = area_index.locate_or_none(session, lon, lat)
    occurred = min(data.occurred_at or now, now)
    case: Case | None = None
    outcome = Outcome.CREATED
    if dedup_on and sender.channel in DEDUP_CHANNELS:
        lock(session, [dedup_key(data.kind, category.code)])
        rule = rules.load(session).dedup(category.code)
        found = open_candidates(session, data.kind, category.code, [lat], [lon], occurred, rule,
                                public_only=sender.channel in PUBLIC_CHANNELS).nearest(lat, lon, occurred, rule)
        if found is not None:
            case = session.get(Case, found)
            bump_cases(session, {found: (1, occurred)})
            outcome = Outcome.MERGED
    if case is None:
        reporter = sender.principal.user_id if sender.principal else None
        case = cases.open_case(
            session, case_in(category, lon, lat, description=data.description, address=data.address,
                             part_code=data.part_code, urgent=data.urgent),
            source=SOURCE_OF.get(sender.channel, Source.OTHER), reporter_id=reporter, actor=sender.principal,
            now=now, public=data.public, where=where, reported_at=occurred)
    token = secrets.token_urlsafe(24) if issue_token else None
    report = record(session, sender, case, outcome, kind=data.kind, category_code=category.code, lat=lat, lon=lon,
                    occurred_at=occurred, now=now, description=data.description, external_id=data.external_id,
                    token=token, contact=data.contact.model_dump(exclude_defaults=True) if data.contact else None,
                    extra=_extra(data))
    return Submitted(report, case, outcome, token=token)


def report_case(session: Session, actor: Principal, data: CaseIn, *, now: datetime) -> Case:
    """A signed-in user's report through the case API: opened as cases.service always did, and recorded."""
    case = cases.create_case(session, actor, data, now=now)
    record(session, Sender(Channel.STAFF, f"user:{actor.user_id}", actor), case, Outcome.CREATED, kind=case.kind,
           category_code=case.category_code, lat=case.lat, lon=case.lon, occurred_at=now, now=now,
           description=case.description)
    return case


def record(session: Session, sender: Sender, case: Case | None, outcome: Outcome, *, kind: Kind, category_code: str,
           lat: float, lon: float, occurred_at: datetime, now: datetime, description: str = "",
           external_id: str | None = None, token: str | None = None, contact: dict[str, Any] | None = None,
           extra: dict[str, Any] | None = None) -> Report:
    report = Report(
        channel=sender.channel, origin=sender.origin, external_id=external_id, case_id=case.id if case else None,
        api_key_id=sender.api_key_id, reporter_id=sender.principal.user_id if sender.principal else None,
        kind=kind, category_code=category_code, lat=lat, lon=lon, description=description,
        occurred_at=occurred_at, received_at=now, outcome=outcome, review_note="",
        token_hash=token_digest(token) if token else None, contact=contact or None, extra=extra or None)
    session.add(report)
    session.flush()
    return report


def _extra(data: ReportIn) -> dict[str, Any] | None:
    extra: dict[str, Any] = {}
    if data.attributes:
        extra["attributes"] = data.attributes
    if data.part_code:
        extra["part_code"] = data.part_code
    if data.address:
        extra["address"] = data.address
    return extra or None


def report_counts(session: Session, case_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per case, its reports by channel."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not case_ids:
        return out
    rows = session.execute(sa.select(Report.case_id, Report.channel, sa.func.count())
                           .where(Report.case_id.in_(case_ids)).group_by(Report.case_id, Report.channel))
    for case_id, channel, n in rows:
        if case_id is not None:
            out[case_id][channel.value] = n
    return out
