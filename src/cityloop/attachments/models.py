from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum


class Stage(StrEnum):
    """The step of the loop a photo belongs to."""

    REPORT = "report"  # 上报: with the report
    VERIFY = "verify"  # 核实: the collector confirming the problem
    BEFORE = "before"  # 处置前: the unit on arrival
    AFTER = "after"    # 处置后: the unit when done
    CHECK = "check"    # 核查: the collector checking the fix


STAGE_LABELS = {Stage.REPORT: "上报", Stage.VERIFY: "核实", Stage.BEFORE: "处置前", Stage.AFTER: "处置后",
                Stage.CHECK: "核查"}


class Attachment(CreatedAtMixin, Base):
    """One photo. Only an EXIF-free copy and its thumbnail are stored; the GPS and capture time read from
    the EXIF are kept here as columns (a location hint), never in a file that leaves the system."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, unguessable: public media URLs (Open311 media_url, citizen pages) name the photo by it.
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True, default=None)
    report_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"), index=True, default=None)
    stage: Mapped[Stage] = mapped_column(str_enum(Stage, "attachment_stage", length=16))
    mime: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    thumb_key: Mapped[str] = mapped_column(sa.String(200))
    original_name: Mapped[str] = mapped_column(sa.String(200), default="")
    gps_lat: Mapped[float | None] = mapped_column(default=None)
    gps_lon: Mapped[float | None] = mapped_column(default=None)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), default=None)
