"""Request and response models. Each action has its own input model; the service takes it as the command."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityloop.cases.models import RequestState, Source, TaskKind
from cityloop.cases.workflow import Action, RequestKind, Status
from cityloop.catalog.enums import Kind
from cityloop.core.serialization import BizDateTime
from cityloop.core.timeunits import TimeUnit

_Text = Field(min_length=1, max_length=2000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseIn(_Strict):
    kind: Kind
    category_code: str = Field(pattern=r"^\d{4,5}$", description="5-digit GB/T 47678.5-2026 class code")
    description: str = Field(min_length=1, max_length=2000)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude in `crs`")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude in `crs`")
    crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="wgs84 (GPS) or gcj02 (a Chinese web map); stored as WGS-84")
    address: str = Field(default="", max_length=256)
    part_code: str | None = Field(default=None, pattern=r"^\d{17}$",
                                  description="the 部件 (17-digit 标识码) the report is about, when known")
    urgent: bool = False
    self_handled: bool = False
    source: Source | None = Field(default=None, description="defaults from the caller's role")


class ActionIn(_Strict):
    expected_version: int | None = Field(default=None, ge=1,
                                         description="the version the caller saw; stale → 409 stale_version")


class NoteIn(ActionIn):
    note: str = Field(default="", max_length=2000)


class ReasonIn(ActionIn):
    reason: str = _Text


class RequiredNoteIn(ActionIn):
    note: str = _Text


class CommentIn(RequiredNoteIn):
    public: bool = Field(default=False, description="a reply the reporter sees on the public progress page")


class CollectorIn(NoteIn):
    collector_id: int | None = Field(
        default=None, ge=1, description="default: the collector whose patrol area (责任网格) holds the case's grid")


class FileIn(NoteIn):
    filing_standard_id: int | None = Field(
        default=None, ge=1, description="the 立结案标准 row filed under; required when the class has rows")
    region_class: Literal["A", "B", "C"] | None = Field(
        default=None, description="计时区域, for a row with region-class deadlines")


class VerifyIn(NoteIn):
    confirmed: bool


class CheckIn(NoteIn):
    passed: bool


class DispatchIn(NoteIn):
    unit_id: int | None = Field(
        default=None, ge=1, description="default: the routing suggestion; another unit needs a note saying why")


class ExtensionIn(ReasonIn):
    amount: int = Field(ge=1, le=1000)
    unit: TimeUnit = TimeUnit.WORK_DAY


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: RequestKind
    state: RequestState
    reason: str
    amount: int | None
    amount_unit: str | None
    requested_by: int
    requested_at: BizDateTime
    decided_by: int | None
    decided_at: BizDateTime | None
    decision_note: str


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: TaskKind
    collector_id: int
    assigned_at: BizDateTime
    done_at: BizDateTime | None
    outcome: str | None


class LimitOut(BaseModel):
    amount: float
    unit: str


class DeadlineOut(BaseModel):
    id: int
    kind: str
    label: str
    state: str
    due_at: BizDateTime | None
    remaining_minutes: int = Field(description="working minutes for working-time limits, else minutes")
    working: bool
    limit: LimitOut
    extensions: int
    light: Literal["green", "yellow", "red"]
    breached_at: BizDateTime | None


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    kind: Kind
    category_code: str
    description: str
    lat: float
    lon: float
    address: str
    district_code: str | None
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    location_desc: str = Field(description="方位描述: district, street, community, grid, nearest named feature")
    part_code: str | None
    source: Source
    reporter_id: int | None
    urgent: bool
    self_handled: bool
    status: Status
    status_label: str
    unit_id: int | None
    rework_count: int
    supervised: bool
    report_count: int = Field(description="reports gathered: duplicates from any channel join the case")
    last_report_at: BizDateTime | None
    public: bool = Field(description="false: never shown on public channels")
    version: int
    created_at: BizDateTime
    updated_at: BizDateTime
    closed_at: BizDateTime | None
    filing_standard_id: int | None
    region_class: str | None
    pending_requests: list[RequestOut]
    open_task: TaskOut | None
    deadlines: list[DeadlineOut] = Field(description="the open step clocks, with their lights")
    timeliness: dict[str, bool | None] = Field(
        description="per step: met on time (true), late (false) or not yet done (null)")
    allowed_actions: list[Action] = Field(description="actions the caller may take now")
    routing: dict[str, Any] | None = Field(
        default=None, description="the suggested unit with its explanation, while the case awaits or may "
                                  "again await dispatch")


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    kind: Kind
    category_code: str
    status: Status
    urgent: bool
    supervised: bool
    report_count: int
    unit_id: int | None
    address: str
    district_code: str | None
    grid_code: str | None
    location_desc: str
    version: int
    created_at: BizDateTime
    updated_at: BizDateTime


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class EventOut(BaseModel):
    id: int
    action: Action
    action_label: str
    from_status: Status | None
    to_status: Status
    actor_id: int | None
    actor: str | None
    role: str
    unit_id: int | None
    unit: str | None
    note: str
    details: dict[str, Any]
    at: BizDateTime


class CaseFilterIn(BaseModel):
    status: list[Status] = Field(default_factory=list)
    unit_id: int | None = None
    kind: Kind | None = None
    category_code: str | None = None
    urgent: bool | None = None
    supervised: bool | None = None
    source: Source | None = None
    reporter_id: int | None = None
    number: str | None = None
    area: str | None = Field(default=None, pattern=r"^\d{6}(\d{3}){0,3}$",
                             description="a district, street, community or grid code: the cases located in it")

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        # ?status=filed,dispatched and ?status=filed&status=dispatched both work.
        if isinstance(v, list):
            return [s for item in v for s in str(item).split(",") if s]
        if isinstance(v, str):
            return [s for s in v.split(",") if s]
        return v
