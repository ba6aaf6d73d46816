"""What each channel sends and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cityloop.catalog.enums import Kind
from cityloop.core.clock import BUSINESS_TZ
from cityloop.core.serialization import BizDateTime
from cityloop.intake.models import DeviceType, Outcome, Review


def _aware(value: datetime) -> datetime:
    # Devices and hotline systems often send local time without an offset; in this city that is +08:00.
    return (value if value.tzinfo else value.replace(tzinfo=BUSINESS_TZ)).astimezone(UTC)


InDateTime = Annotated[datetime, AfterValidator(_aware)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
CategoryCode = Annotated[str, Field(pattern=r"^\d{4,5}$", description="5-digit class code of the adopted directory")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactIn(_Strict):
    """The reporter's contact, private: never shown on a public channel."""

    name: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=200)


class ReportIn(_Strict):
    """One report from a person or another system (every channel but the device batch)."""

    kind: Kind
    category_code: CategoryCode
    description: str = Field(default="", max_length=4000)
    lat: Lat | None = None
    lon: Lon | None = None
    crs: Literal["wgs84", "gcj02"] = Field(default="wgs84", description="wgs84 (GPS) or gcj02 (a Chinese web map)")
    address: str = Field(default="", max_length=256)
    part_code: str | None = Field(default=None, pattern=r"^\d{17}$",
                                  description="the 部件 (17-digit 标识码); locates the report when no lat/lon")
    urgent: bool = False
    external_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="the sender's own id: sending it again never opens a second case")
    occurred_at: InDateTime | None = None
    contact: ContactIn | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    public: bool = Field(default=True, description="false: never shown on public channels (a personal complaint)")

    @model_validator(mode="after")
    def _both_or_neither(self) -> ReportIn:
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise ValueError(f"{missing}: give both lat and lon, or neither (with part_code)")
        return self


class PublicReportIn(_Strict):
    """随手拍: what a citizen sends, with or without an account."""

    kind: Kind
    category_code: CategoryCode
    description: str = Field(min_length=1, max_length=2000)
    lat: Lat
    lon: Lon
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    address: str = Field(default="", max_length=256)
    contact: ContactIn | None = None


class ReportAccepted(BaseModel):
    """What a citizen keeps: the case number and the token that shows its progress."""

    number: str
    token: str


class PublicStep(BaseModel):
    at: BizDateTime
    label: str
    reply: str | None = None


class PublicReportOut(BaseModel):
    """Public fields only: no staff names, internal notes or other reporters."""

    number: str
    status: str
    status_label: str
    category_code: str
    category_name: str
    reported_at: BizDateTime
    updated_at: BizDateTime
    closed_at: BizDateTime | None
    lat: float
    lon: float
    address: str
    location_desc: str
    steps: list[PublicStep]
    photos: list[str]


class EventIn(_Strict):
    """One detection from a device."""

    device_event_id: str = Field(min_length=1, max_length=64)
    occurred_at: InDateTime
    kind: Kind
    category_code: CategoryCode
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    lat: Lat | None = None
    lon: Lon | None = None
    snapshot_url: str | None = Field(default=None, max_length=500)
    value: float | None = Field(default=None, allow_inf_nan=False, description="a sensor's reading (e.g. water cm)")
    description: str = Field(default="", max_length=500)


@dataclass(frozen=True, slots=True)
class EventResult:
    """What became of one event. A plain dataclass: a batch makes a thousand of them per call."""

    device_event_id: str | None
    outcome: Outcome
    case_id: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"device_event_id": self.device_event_id, "outcome": self.outcome.value, "case_id": self.case_id,
                "reason": self.reason}


class EventResultOut(BaseModel):
    device_event_id: str | None
    outcome: Outcome
    case_id: int | None = Field(default=None, description="the case opened or joined, else null")
    reason: str | None = Field(default=None, description="why the event was rejected, naming the field, else null")


class EventBatchOut(BaseModel):
    results: list[EventResultOut]


class DeviceIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    type: DeviceType
    vendor: str = Field(default="", max_length=100)
    algorithm: str = Field(default="", max_length=64)
    algorithm_version: str = Field(default="", max_length=32)
    lat: Lat | None = None
    lon: Lon | None = None
    alarm_threshold: float | None = Field(default=None, allow_inf_nan=False)
    alarm_category_code: CategoryCode | None = None


class DevicePatch(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    vendor: str | None = Field(default=None, max_length=100)
    algorithm: str | None = Field(default=None, max_length=64)
    algorithm_version: str | None = Field(default=None, max_length=32)
    lat: Lat | None = None
    lon: Lon | None = None
    alarm_threshold: float | None = Field(default=None, allow_inf_nan=False)
    alarm_category_code: CategoryCode | None = None
    active: bool | None = None


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    type: DeviceType
    vendor: str
    algorithm: str
    algorithm_version: str
    lat: float | None
    lon: float | None
    alarm_threshold: float | None
    alarm_category_code: str | None
    active: bool
    api_key_id: int
    created_at: BizDateTime
    updated_at: BizDateTime


class DeviceCreated(BaseModel):
    id: int
    api_key: str


class ThresholdIn(_Strict):
    category_code: str = Field(pattern=r"^(\*|\d{4,5})$", description='a class code, or "*" for any')
    algorithm: str = Field(default="*", min_length=1, max_length=64, description='an algorithm name, or "*"')
    auto_at: float = Field(ge=0, le=1)
    review_at: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdIn:
        if self.review_at > self.auto_at:
            raise ValueError("review_at: must not exceed auto_at")
        return self


class ThresholdOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category_code: str
    algorithm: str
    auto_at: float
    review_at: float


class DedupRuleIn(_Strict):
    category_code: str = Field(pattern=r"^(\*|\d{4,5})$")
    radius_m: float = Field(gt=0, le=5000)
    window_min: int = Field(gt=0, le=60 * 24 * 30)


class DedupRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category_code: str
    radius_m: float
    window_min: int


class ReportOut(BaseModel):
    """A report as staff see it (contact included: staff may call the reporter back)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    external_id: str | None
    case_id: int | None
    parent_id: int | None
    device_id: int | None
    reporter_id: int | None
    kind: Kind
    category_code: str
    confidence: float | None
    algorithm: str | None
    lat: float
    lon: float
    description: str
    occurred_at: BizDateTime
    received_at: BizDateTime
    outcome: Outcome
    review: Review | None
    review_note: str
    contact: dict[str, Any] | None
    extra: dict[str, Any] | None
    duplicates: int = 0


class ReviewIn(_Strict):
    note: str = Field(default="", max_length=2000)


class ReviewRejectIn(_Strict):
    reason: str = Field(min_length=1, max_length=2000)


class HotlineOrderIn(ReportIn):
    """A 12345 work order: the hotline's own order number is required and makes a repeat push idempotent."""

    external_id: str = Field(min_length=1, max_length=64, description="the hotline's work-order number")


class HotlineOrderOut(BaseModel):
    external_id: str
    case_id: int | None
    number: str | None
    status: str | None
    status_label: str | None
    unit_name: str | None
    updated_at: BizDateTime | None
    closed_at: BizDateTime | None
    outcome: Outcome
    steps: list[PublicStep] = Field(default_factory=list)
