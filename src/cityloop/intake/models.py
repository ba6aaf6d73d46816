from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.catalog.enums import Kind
from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum


class Channel(StrEnum):
    """The way a report came in (finer than a case's source: Open311 and the public form are both citizens)."""

    STAFF = "staff"        # a signed-in user through the API (collector, operator, leader …)
    PUBLIC = "public"      # 随手拍: the public form, with or without an account
    HOTLINE = "hotline"    # a work order pushed by the 12345 platform
    OPEN311 = "open311"    # an Open311 GeoReport v2 client
    DEVICE = "device"      # a machine-collection device (智能采集)


MACHINE_CHANNELS = frozenset({Channel.DEVICE})


class DeviceType(StrEnum):
    VIDEO_AI = "video_ai"              # AI video analysis on a fixed camera
    DRONE = "drone"
    VEHICLE_CAMERA = "vehicle_camera"  # camera on a patrol or sanitation vehicle
    IOT_SENSOR = "iot_sensor"          # water level, manhole cover tilt, bin fill …


DEVICE_TYPE_LABELS = {DeviceType.VIDEO_AI: "智能视频", DeviceType.DRONE: "无人机",
                      DeviceType.VEHICLE_CAMERA: "车载视频", DeviceType.IOT_SENSOR: "物联感知"}


class Outcome(StrEnum):
    CREATED = "created"    # opened a case
    MERGED = "merged"      # joined an open case (or a report waiting for review) as another report
    QUEUED = "queued"      # waits in the operator's review queue
    DROPPED = "dropped"    # below the review threshold: counted, nothing opened
    REJECTED = "rejected"  # invalid input; never stored, only answered


class Review(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Device(CreatedAtMixin, Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[DeviceType] = mapped_column(str_enum(DeviceType, "device_type", length=16))
    vendor: Mapped[str] = mapped_column(sa.String(100), default="")
    algorithm: Mapped[str] = mapped_column(sa.String(64), default="")
    algorithm_version: Mapped[str] = mapped_column(sa.String(32), default="")
    # A fixed camera or sensor has a place; events without coordinates take it.
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    # Sensors: a reading at or above this raises an emergency case of `alarm_category_code` at once.
    alarm_threshold: Mapped[float | None] = mapped_column(default=None)
    alarm_category_code: Mapped[str | None] = mapped_column(sa.String(5), default=None)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Report(Base):
    """One report as it arrived, from any channel. A case has one or more; a queued or dropped machine event
    has none (yet). Rows are appended, and changed only by the review decision."""

    __tablename__ = "reports"
    __table_args__ = (
        # (origin, external_id) makes a retry idempotent: a device's event id, a hotline order number, an
        # Open311 Idempotency-Key. NULL external ids never collide.
        sa.UniqueConstraint("origin", "external_id"),
        # Partial indexes: most rows are machine events without a reporter, parent, token or review, and every
        # index a row enters is work on the batch path (docs/PERFORMANCE.md).
        sa.Index("ix_reports_review_pending", "category_code", sqlite_where=sa.text("review = 'pending'"),
                 postgresql_where=sa.text("review = 'pending'")),
        sa.Index("ix_reports_parent_id", "parent_id", sqlite_where=sa.text("parent_id IS NOT NULL"),
                 postgresql_where=sa.text("parent_id IS NOT NULL")),
        sa.Index("ix_reports_reporter_id", "reporter_id", sqlite_where=sa.text("reporter_id IS NOT NULL"),
                 postgresql_where=sa.text("reporter_id IS NOT NULL")),
        sa.Index("uq_reports_token_hash", "token_hash", unique=True, sqlite_where=sa.text("token_hash IS NOT NULL"),
                 postgresql_where=sa.text("token_hash IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "report_channel", length=16))
    # Who sent it, as one string: "device:7", "key:3", "user:12" or "public".
    origin: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True, default=None)
    # A report that joined another report still waiting for review (before any case exists).
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"), default=None)
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("devices.id"), default=None)
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id"), default=None)
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), default=None)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "report_kind", length=8))
    category_code: Mapped[str] = mapped_column(sa.String(8))
    confidence: Mapped[float | None] = mapped_column(default=None)
    # "name@version" of the detecting algorithm, kept as it was when the event came (precision is per version).
    algorithm: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    lat: Mapped[float]
    lon: Mapped[float]
    description: Mapped[str] = mapped_column(sa.Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "report_outcome", length=16))
    review: Mapped[Review | None] = mapped_column(str_enum(Review, "report_review", length=16), default=None)
    reviewed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    review_note: Mapped[str] = mapped_column(sa.Text, default="")
    # SHA-256 of the token a citizen (or an Open311 batch client) follows the report with.
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    # Private: reporter name and phone. Never shown publicly, never in Open311 output.
    contact: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    # What else came with it: snapshot URL, sensor reading, Open311 attributes, the raw hotline fields.
    extra: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)


# The review queue's partial index is used only when a query spells its condition as this literal: a bound
# parameter does not prove to SQLite that the row is pending.
PENDING_REVIEW = sa.text("reports.review = 'pending'")


class MachineThreshold(Base):
    """Confidence thresholds for machine events of one class and algorithm ("*" = any).

    confidence ≥ auto_at: filed without a person; review_at ≤ confidence < auto_at: operator's review
    queue; below review_at: counted and dropped. The most specific row wins.
    """

    __tablename__ = "machine_thresholds"
    __table_args__ = (sa.UniqueConstraint("category_code", "algorithm"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(sa.String(8))
    algorithm: Mapped[str] = mapped_column(sa.String(64))
    auto_at: Mapped[float]
    review_at: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DedupRule(Base):
    """A report of this class within radius_m metres and window_min minutes of an open case joins it."""

    __tablename__ = "dedup_rules"

    category_code: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # "*" = default
    radius_m: Mapped[float]
    window_min: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
