from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.cases.workflow import Action, RequestKind, Status
from cityloop.catalog.enums import Kind
from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum


class Source(StrEnum):
    """案件来源: the channel a report came in through."""

    COLLECTOR = "collector"  # 监督员上报
    CITIZEN = "citizen"      # 公众举报 / 随手拍
    HOTLINE = "hotline"      # 12345 热线 (entered by an operator)
    LEADER = "leader"        # 领导交办
    MEDIA = "media"          # 媒体曝光
    VIDEO = "video"          # 视频巡查
    DEVICE = "device"        # 智能采集
    OTHER = "other"


SOURCE_LABELS = {
    Source.COLLECTOR: "监督员上报", Source.CITIZEN: "公众举报", Source.HOTLINE: "热线转办",
    Source.LEADER: "领导交办", Source.MEDIA: "媒体曝光", Source.VIDEO: "视频巡查",
    Source.DEVICE: "智能采集", Source.OTHER: "其他",
}


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    LAPSED = "lapsed"  # the case left the status the request was made in


class TaskKind(StrEnum):
    VERIFY = "verify"  # 核实: is the reported problem real?
    CHECK = "check"    # 核查: has it been handled to the closing criterion?


class Case(CreatedAtMixin, Base):
    __tablename__ = "cases"
    # Dedup looks for open cases of one class reported recently near a point.
    __table_args__ = (sa.Index("ix_cases_category_code_last_report_at", "category_code", "last_report_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "case_kind", length=8))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"))
    category_code: Mapped[str] = mapped_column(sa.String(8))
    # The 立结案标准 row chosen at filing: it fixed the handling deadline and the closing criterion.
    filing_standard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("filing_standards.id"), default=None)
    # 计时区域 (A/B/C) when the standard's row has region variants of its deadline.
    region_class: Mapped[str | None] = mapped_column(sa.String(1), default=None)
    description: Mapped[str] = mapped_column(sa.Text)
    lat: Mapped[float]
    lon: Mapped[float]
    address: Mapped[str] = mapped_column(sa.String(256), default="")
    # Where the point fell when the case was opened (areas.locate): None only where no map is loaded yet.
    district_code: Mapped[str | None] = mapped_column(sa.String(6), index=True, default=None)
    street_code: Mapped[str | None] = mapped_column(sa.String(9), default=None)
    community_code: Mapped[str | None] = mapped_column(sa.String(12), default=None)
    grid_code: Mapped[str | None] = mapped_column(sa.String(15), index=True, default=None)
    # 方位描述: district, street, community, grid and the nearest named feature, as a person would say it.
    location_desc: Mapped[str] = mapped_column(sa.String(256), default="")
    # The 部件 the report is about (17-digit 标识码), when known; its owner routes the case.
    part_code: Mapped[str | None] = mapped_column(sa.String(17), default=None)
    source: Mapped[Source] = mapped_column(str_enum(Source, "case_source", length=16))
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    urgent: Mapped[bool] = mapped_column(default=False)
    self_handled: Mapped[bool] = mapped_column(default=False)
    status: Mapped[Status] = mapped_column(str_enum(Status, "case_status", length=16), index=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True, default=None)
    rework_count: Mapped[int] = mapped_column(default=0)
    supervised: Mapped[bool] = mapped_column(default=False)
    # How many reports (from any channel) the case gathered, and when the latest came: duplicates join.
    report_count: Mapped[int] = mapped_column(default=1, server_default="1")
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Non-public cases (a hotline complaint naming a person, staff-only classes) never show on public channels.
    public: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    version: Mapped[int] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="save-update, merge")
    requests: Mapped[list[CaseRequest]] = relationship(
        back_populates="case", order_by="CaseRequest.id", cascade="save-update, merge")
    tasks: Mapped[list[CaseTask]] = relationship(
        back_populates="case", order_by="CaseTask.id", cascade="save-update, merge")

    # Optimistic locking: every UPDATE of a case says "WHERE version = <what I read>", so of two concurrent
    # commands on one case exactly one succeeds; the other gets StaleDataError, mapped to 409 stale_version.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads this class attribute

    def pending_kinds(self) -> frozenset[RequestKind]:
        return frozenset(r.kind for r in self.requests if r.state is RequestState.PENDING)

    def open_task(self) -> CaseTask | None:
        return next((t for t in reversed(self.tasks) if t.done_at is None), None)


class CaseEvent(Base):
    """One step of a case's history: the timeline, the audit log and the input to evaluation.

    Rows are never updated or deleted: the ORM refuses (see below) and database triggers (migration
    0001) refuse too, so the trail holds even against hand-written SQL.
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    action: Mapped[Action] = mapped_column(str_enum(Action, "case_action"))
    tag: Mapped[str] = mapped_column(sa.String(48))
    # None only on the report event that opens the case.
    from_status: Mapped[Status | None] = mapped_column(str_enum(Status, "event_from_status", length=16))
    to_status: Mapped[Status] = mapped_column(str_enum(Status, "event_to_status", length=16))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_role: Mapped[str] = mapped_column(sa.String(32), default="")
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), default=None)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseRequest(Base):
    """A unit's request for 回退, 延期 or 挂账, waiting for the dispatcher's decision."""

    __tablename__ = "case_requests"
    __table_args__ = (
        # At most one pending request of each kind per case, enforced by the database as well.
        sa.Index("uq_case_requests_one_pending", "case_id", "kind", unique=True,
                 sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, "request_kind", length=16))
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState, "request_state", length=16))
    reason: Mapped[str] = mapped_column(sa.Text)
    amount: Mapped[int | None] = mapped_column(default=None)
    amount_unit: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    requested_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")

    case: Mapped[Case] = relationship(back_populates="requests")


class CaseTask(Base):
    """A 核实 or 核查 task given to one collector; also the source of 按时核实/核查 figures later."""

    __tablename__ = "case_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind, "task_kind", length=8))
    collector_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    assigned_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str | None] = mapped_column(sa.String(16), default=None)

    case: Mapped[Case] = relationship(back_populates="tasks")


class CaseNumberCounter(Base):
    """Per-day sequence behind the human-readable case number (business day in Asia/Shanghai)."""

    __tablename__ = "case_number_counters"

    day: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    last: Mapped[int]


@sa.event.listens_for(CaseEvent, "before_update")
@sa.event.listens_for(CaseEvent, "before_delete")
def _events_are_immutable(_mapper: Any, _conn: Any, target: CaseEvent) -> None:
    raise RuntimeError(f"case event {target.id} is immutable")
