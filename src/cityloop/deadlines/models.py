from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base
from cityloop.db.types import UTCDateTime, str_enum


class DeadlineKind(StrEnum):
    """Each step of the loop has its own clock."""

    ACCEPT = "accept"      # 受理: report → accepted, rejected or sent for 核实
    VERIFY = "verify"      # 核实: sent → verified
    FILE = "file"          # 立案: registered → filed or voided
    DISPATCH = "dispatch"  # 派遣: filed → dispatched
    HANDLE = "handle"      # 处置: dispatched → handled; its limit comes from the filing standard
    CHECK = "check"        # 核查: handled → checked (or 返工)
    CLOSE = "close"        # 结案: checked → closed


DEADLINE_LABELS = {
    DeadlineKind.ACCEPT: "受理", DeadlineKind.VERIFY: "核实", DeadlineKind.FILE: "立案",
    DeadlineKind.DISPATCH: "派遣", DeadlineKind.HANDLE: "处置", DeadlineKind.CHECK: "核查",
    DeadlineKind.CLOSE: "结案",
}


class DeadlineState(StrEnum):
    PENDING = "pending"      # running
    PAUSED = "paused"        # 挂账: the clock stands still, its remaining time kept
    MET = "met"              # the step was done (on time or not: compare met_at with due_at)
    CANCELLED = "cancelled"  # the step no longer applies (作废, 回退, 强制结案 …)


class Deadline(Base):
    """One step's clock on one case. A breach is a stamp (breached_at = due_at), not a state, so a step done
    late still reads as late after it is met."""

    __tablename__ = "deadlines"
    __table_args__ = (
        # Read by the worker's breach and warning sweeps (cases/jobs.py): only running clocks, by due time.
        sa.Index("ix_deadlines_running_due", "due_at", sqlite_where=sa.text("state = 'pending'"),
                 postgresql_where=sa.text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[DeadlineKind] = mapped_column(str_enum(DeadlineKind, "deadline_kind", length=16))
    state: Mapped[DeadlineState] = mapped_column(str_enum(DeadlineState, "deadline_state", length=16))
    # The limit as given (amount + unit) and how it counts: working minutes or continuous minutes.
    limit_amount: Mapped[float]
    limit_unit: Mapped[str] = mapped_column(sa.String(16))
    working: Mapped[bool]
    total_minutes: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None while paused
    remaining_minutes: Mapped[int | None] = mapped_column(default=None)  # kept while paused
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the yellow light comes on (a share of the limit used, settings.deadline_yellow_at); precomputed
    # on the working calendar so the warning sweep is a plain comparison.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    extensions: Mapped[int] = mapped_column(default=0)


class StepLimit(Base):
    """A city's time limit for one step, for normal or urgent cases (the handling step's comes from the
    filing standard instead). Missing rows fall back to deadlines.service.DEFAULT_STEP_LIMITS."""

    __tablename__ = "step_limits"

    kind: Mapped[DeadlineKind] = mapped_column(str_enum(DeadlineKind, "step_kind", length=16), primary_key=True)
    urgent: Mapped[bool] = mapped_column(primary_key=True)
    amount: Mapped[float]
    unit: Mapped[str] = mapped_column(sa.String(16))


class CalendarDay(Base):
    """An override of the working calendar: a statutory holiday (workday False) or a 调休 make-up working day
    (workday True). It wins over the chinese-calendar package, which knows no year past the one it shipped."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    workday: Mapped[bool]
    note: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CalendarYear(Base):
    """A year whose holiday arrangement a city has loaded itself, so its days count as covered."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
