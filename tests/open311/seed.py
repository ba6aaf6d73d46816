"""A small city for the Open311 tests, built with the real services (never by writing statuses directly):
filing standards for two classes, an API key, cases walked to every status, follow-up tokens and photos.

The same scene serves the contract tests (inside the test's rolled-back transaction) and the live-server tests
(committed to a database of their own), so both see the same data.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import Attachment, Stage
from cityloop.attachments.storage import Storage
from cityloop.auth import apikeys
from cityloop.auth.permissions import ApiScope
from cityloop.auth.principal import Principal
from cityloop.cases import service as cases
from cityloop.cases.models import Case
from cityloop.cases.schemas import (
    CaseIn,
    CheckIn,
    CollectorIn,
    DispatchIn,
    ExtensionIn,
    FileIn,
    NoteIn,
    ReasonIn,
    RequiredNoteIn,
    VerifyIn,
)
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.models import FilingStandard
from cityloop.core.timeunits import TimeUnit
from cityloop.intake.models import Channel, Outcome, Report, Review
from cityloop.parts.models import Part, PartStatus
from tests import mapworld

EVENT = "SJ06010"  # 暴露垃圾: two filing-standard rows
PART = "BJ01001"   # 供水井盖: one row
LON, LAT = mapworld.center("330101", 1, 1)
OUTSIDE = (121.50, 31.20)  # 上海: outside the test city
PART_CODE = "33010100100100001"  # a 供水井盖 in the inventory, at the community's centre

STANDARDS: dict[tuple[Kind, str], list[dict[str, Any]]] = {
    (Kind.EVENT, "06010"): [
        {"filing_criteria": "公共场所暴露垃圾、渣土等废弃物，面积大于0.5㎡", "deadline_text": "2工作时",
         "deadline_amount": 2, "deadline_unit": TimeUnit.WORK_HOUR.value},
        {"filing_criteria": "主次干道暴露垃圾影响通行或有异味 & <紧急>", "deadline_text": "1紧急工作时",
         "deadline_amount": 1, "deadline_unit": TimeUnit.URGENT_HOUR.value, "urgent": True},
    ],
    (Kind.PART, "01001"): [
        {"filing_criteria": "供水井盖缺失、破损、移位", "deadline_text": "4工作时", "deadline_amount": 4,
         "deadline_unit": TimeUnit.WORK_HOUR.value},
    ],
}

# label → (service code, the steps that bring a fresh case there)
PATHS: dict[str, tuple[str, list[str]]] = {
    "reported": (EVENT, []),
    "verifying": (EVENT, ["request_verification"]),
    "registered": (EVENT, ["accept"]),
    "filed": (EVENT, ["accept", "file"]),
    "dispatched": (EVENT, ["accept", "file", "dispatch"]),
    "extended": (EVENT, ["accept", "file", "dispatch", "request_extension", "approve_extension"]),
    "suspended": (EVENT, ["accept", "file", "dispatch", "request_suspension", "approve_suspension"]),
    "returned": (EVENT, ["accept", "file", "dispatch", "request_return", "approve_return"]),
    "handled": (EVENT, ["accept", "file", "dispatch", "complete"]),
    "checking": (EVENT, ["accept", "file", "dispatch", "complete", "request_check"]),
    "rework": (EVENT, ["accept", "file", "dispatch", "complete", "request_check", "check_failed"]),
    "checked": (EVENT, ["accept", "file", "dispatch", "complete", "request_check", "check"]),
    "closed": (EVENT, ["accept", "file", "dispatch", "complete", "request_check", "check", "close"]),
    "forced": (EVENT, ["accept", "file", "dispatch", "force_close"]),
    "rejected": (EVENT, ["reject"]),
    "refuted": (EVENT, ["request_verification", "verify_refuted"]),
    "voided": (EVENT, ["accept", "void"]),
    "part_dispatched": (PART, ["accept", "file", "dispatch"]),
    "part_closed": (PART, ["accept", "file", "dispatch", "complete", "request_check", "check", "close"]),
    "private": (EVENT, ["accept"]),
}
CLOSED_LABELS = frozenset({"closed", "forced", "rejected", "refuted", "voided", "part_closed"})


@dataclass
class People:
    collector: Principal
    operator: Principal
    shift_leader: Principal
    dispatcher: Principal
    unit_staff: Principal
    unit_id: int


@dataclass
class Scene:
    now: datetime
    api_key: str
    key_id: int
    numbers: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    standards: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    photos: dict[str, str] = field(default_factory=dict)  # label → public id of its report photo

    def public_numbers(self) -> set[str]:
        return {n for label, n in self.numbers.items() if label != "private"}


def add_standards(session: Session) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for (kind, code), rows in STANDARDS.items():
        category = catalog_queries.find(session, kind, code)
        assert category is not None
        ids = []
        for seq, row in enumerate(rows, start=1):
            std = FilingStandard(category_id=category.id, seq=seq, **row)
            session.add(std)
            session.flush()  # flush: the scene names standards by id
            ids.append(std.id)
        out[("BJ" if kind is Kind.PART else "SJ") + code] = ids
    return out


def add_part(session: Session, now: datetime) -> Part:
    part = Part(code=PART_CODE, category_code="01001", name="供水井盖", competent_code="11330101SZ00000000",
                competent_name="甲区市政", grid_code="330101001001001", status=PartStatus.INTACT,
                surveyed_on=now.date(), lon=LON + 0.002, lat=LAT + 0.002, created_at=now)
    session.add(part)
    return part


def jpeg(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


def _steps(session: Session, p: People, standard_id: int) -> dict[str, Callable[[int, datetime], Any]]:
    s = session
    return {
        "accept": lambda i, t: cases.accept(s, p.operator, i, NoteIn(), now=t),
        "reject": lambda i, t: cases.reject(s, p.operator, i, ReasonIn(reason="不属于城市管理范围"), now=t),
        "request_verification": lambda i, t: cases.request_verification(
            s, p.operator, i, CollectorIn(collector_id=p.collector.user_id), now=t),
        "verify_refuted": lambda i, t: cases.verify(s, p.collector, i, VerifyIn(confirmed=False), now=t),
        "file": lambda i, t: cases.file(s, p.shift_leader, i, FileIn(filing_standard_id=standard_id), now=t),
        "void": lambda i, t: cases.void(s, p.shift_leader, i, ReasonIn(reason="重复立案"), now=t),
        "dispatch": lambda i, t: cases.dispatch(s, p.dispatcher, i, DispatchIn(unit_id=p.unit_id), now=t),
        "request_extension": lambda i, t: cases.request_extension(
            s, p.unit_staff, i, ExtensionIn(reason="需采购配件", amount=2, unit=TimeUnit.WORK_DAY), now=t),
        "approve_extension": lambda i, t: cases.approve_extension(s, p.dispatcher, i, NoteIn(), now=t),
        "request_suspension": lambda i, t: cases.request_suspension(
            s, p.unit_staff, i, ReasonIn(reason="需专项资金"), now=t),
        "approve_suspension": lambda i, t: cases.approve_suspension(s, p.dispatcher, i, NoteIn(), now=t),
        "request_return": lambda i, t: cases.request_return(s, p.unit_staff, i, ReasonIn(reason="非本单位职责"),
                                                            now=t),
        "approve_return": lambda i, t: cases.approve_return(s, p.dispatcher, i, NoteIn(), now=t),
        "complete": lambda i, t: cases.complete(s, p.unit_staff, i, RequiredNoteIn(note="已清运"), now=t),
        "request_check": lambda i, t: cases.request_check(
            s, p.operator, i, CollectorIn(collector_id=p.collector.user_id), now=t),
        "check": lambda i, t: cases.check(s, p.collector, i, CheckIn(passed=True), now=t),
        "check_failed": lambda i, t: cases.check(s, p.collector, i, CheckIn(passed=False), now=t),
        "close": lambda i, t: cases.close(s, p.shift_leader, i, NoteIn(), now=t),
        "force_close": lambda i, t: cases.force_close(s, p.shift_leader, i, ReasonIn(reason="责任单位撤销"), now=t),
    }


def token_report(session: Session, token: str, *, case_id: int | None, outcome: Outcome,
                 review: Review | None, at: datetime, parent_id: int | None = None) -> Report:
    report = Report(channel=Channel.PUBLIC, origin="public", kind=Kind.EVENT, category_code="06010", lat=LAT,
                    lon=LON, occurred_at=at, received_at=at, outcome=outcome, review=review, case_id=case_id,
                    parent_id=parent_id, review_note="内部备注：不应公开",
                    token_hash=hashlib.sha256(token.encode()).hexdigest())
    session.add(report)
    session.flush()  # flush: a child report names this one
    return report


def build(session: Session, people: People, *, now: datetime, storage: Storage | None = None) -> Scene:
    """Everything the Open311 tests read. Cases are an hour apart, the newest an hour before `now`."""
    mapworld.build(session, grids=False, rules=False)
    standards = add_standards(session)
    add_part(session, now)
    key, raw = apikeys.create(session, "open311 test client", [ApiScope.OPEN311], now=now - timedelta(days=1))
    scene = Scene(now=now, api_key=raw, key_id=key.id, standards=standards)
    start = now - timedelta(hours=len(PATHS) + 1)
    for n, (label, (code, steps)) in enumerate(PATHS.items()):
        at = start + timedelta(hours=n)
        kind = Kind.PART if code.startswith("BJ") else Kind.EVENT
        case = cases.create_case(session, people.collector, CaseIn(
            kind=kind, category_code=code[2:], description=f"{label}：文三路口有问题 <b>&</b>", lat=LAT, lon=LON,
            address="测试市甲区文三路"), now=at)
        do = _steps(session, people, standards[code][0])
        for i, step in enumerate(steps, start=1):
            do[step](case.id, at + timedelta(minutes=5 * i))
        if label == "private":
            case.public = False
        scene.numbers[label], scene.ids[label] = case.number, case.id
    session.flush()
    if storage is not None:
        for label in ("dispatched", "closed", "private"):
            photo = attachment_service.save(
                session, storage, data=jpeg(), filename=f"{label}.jpg", stage=Stage.REPORT,
                case_id=scene.ids[label], report_id=None, uploaded_by=None, now=now, max_bytes=1 << 20,
                max_pixels=10_000_000)
            scene.photos[label] = photo.public_id
        attachment_service.save(session, storage, data=jpeg((0, 200, 0)), filename="after.jpg", stage=Stage.AFTER,
                                case_id=scene.ids["closed"], report_id=None, uploaded_by=None, now=now,
                                max_bytes=1 << 20, max_pixels=10_000_000)
    _tokens(session, scene, now)
    return scene


def _tokens(session: Session, scene: Scene, now: datetime) -> None:
    at = now - timedelta(minutes=30)
    scene.tokens = {"created": "t-created-0001", "pending": "t-pending-0002", "dropped": "t-dropped-0003",
                    "rejected": "t-rejected-0004", "merged": "t-merged-0005", "joined": "t-joined-0006"}
    token_report(session, scene.tokens["created"], case_id=scene.ids["dispatched"], outcome=Outcome.CREATED,
                 review=None, at=at)
    pending = token_report(session, scene.tokens["pending"], case_id=None, outcome=Outcome.QUEUED,
                           review=Review.PENDING, at=at)
    token_report(session, scene.tokens["dropped"], case_id=None, outcome=Outcome.DROPPED, review=None, at=at)
    token_report(session, scene.tokens["rejected"], case_id=None, outcome=Outcome.QUEUED, review=Review.REJECTED,
                 at=at)
    token_report(session, scene.tokens["merged"], case_id=scene.ids["closed"], outcome=Outcome.MERGED, review=None,
                 at=at)
    # A report that joined one still waiting for review follows it: pending too.
    token_report(session, scene.tokens["joined"], case_id=None, outcome=Outcome.MERGED, review=None, at=at,
                 parent_id=pending.id)


def photo_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Attachment)) or 0


def case_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0
