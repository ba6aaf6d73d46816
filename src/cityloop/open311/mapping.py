"""GeoReport v2 words ⇄ cityloop's (doc §0, §9). Pure: the tables here are unit-tested exhaustively.

Open311 knows only open/closed. cityloop publishes the binary status, a Chinese status_notes line, the
FixMyStreet update status (§13.4) and the CitySDK detailed_status (§13.2), all from one row per internal status,
refined by the last public step where the same status means different things (a 结案 that was forced is
closed but not fixed; a 处置中 case after a failed check is 返工).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cityloop.cases.models import Source
from cityloop.cases.workflow import STATUS_LABELS, TERMINAL, Action, Outcome, Status
from cityloop.catalog.enums import Kind
from cityloop.core.clock import to_business

# The 5-digit national codes collide between 部件 and 事件, so the kind prefix is part of the code.
PREFIX = {Kind.PART: "BJ", Kind.EVENT: "SJ"}
_KIND_OF_PREFIX = {p: k for k, p in PREFIX.items()}
_SERVICE_CODE = re.compile(r"^(BJ|SJ)(\d{4,5})$")


def service_code(kind: Kind, category_code: str) -> str:
    return PREFIX[kind] + category_code


def parse_service_code(code: str) -> tuple[Kind, str] | None:
    """("BJ01001") → (Kind.PART, "01001"); None for anything that cannot be a cityloop service code."""
    m = _SERVICE_CODE.match(code)
    return (_KIND_OF_PREFIX[m[1]], m[2]) if m else None


@dataclass(frozen=True)
class StatusRow:
    status: str          # open | closed
    notes: str           # status_notes; "{unit}" / "{date}" are filled in when known
    fms: str             # FixMyStreet update status (§13.4)
    detailed: str        # CitySDK detailed_status (§13.2)
    fixed: bool = False  # closed because the problem was fixed


_O, _C = "open", "closed"

STATUS_TABLE: dict[Status, StatusRow] = {
    Status.REPORTED: StatusRow(_O, "已上报，待受理", "OPEN", "RECEIVED"),
    Status.VERIFYING: StatusRow(_O, "已受理，待核实", "OPEN", "RECEIVED"),
    Status.REGISTERED: StatusRow(_O, "已受理，待立案", "OPEN", "RECEIVED"),
    Status.FILED: StatusRow(_O, "已立案，待派遣", "OPEN", "IN_PROCESS"),
    Status.DISPATCHED: StatusRow(_O, "已派遣：{unit}", "IN_PROGRESS", "IN_PROCESS"),
    Status.SUSPENDED: StatusRow(_O, "已挂账，暂缓处置", "ACTION_SCHEDULED", "IN_PROCESS"),
    Status.HANDLED: StatusRow(_O, "处置完成，待核查", "INVESTIGATING", "IN_PROCESS"),
    Status.CHECKING: StatusRow(_O, "处置完成，核查中", "INVESTIGATING", "IN_PROCESS"),
    Status.CHECKED: StatusRow(_O, "核查通过，待结案", "INVESTIGATING", "IN_PROCESS"),
    Status.CLOSED: StatusRow(_C, "已结案", "FIXED", "PROCESSED", fixed=True),
    # Closed but not fixed: never FIXED, never a bare "closed" that FixMyStreet would show as fixed.
    Status.REJECTED: StatusRow(_C, "不予受理", "NO_FURTHER_ACTION", "REJECTED"),
    Status.VOIDED: StatusRow(_C, "已作废，不予立案", "NO_FURTHER_ACTION", "REJECTED"),
}

# (status, last public step, its outcome) → the row that replaces the plain one.
VARIANTS: dict[tuple[Status, Action, Outcome | None], StatusRow] = {
    (Status.CLOSED, Action.FORCE_CLOSE, None): StatusRow(_C, "已强制结案（未修复）", "CLOSED", "PROCESSED"),
    (Status.REJECTED, Action.VERIFY, Outcome.REFUTED): StatusRow(
        _C, "经核实不属实，不予受理", "NO_FURTHER_ACTION", "REJECTED"),
    (Status.FILED, Action.APPROVE_RETURN, None): StatusRow(_O, "改派中", "IN_PROGRESS", "IN_PROCESS"),
    (Status.DISPATCHED, Action.APPROVE_EXTENSION, None): StatusRow(
        _O, "已延期至{date}：{unit}", "ACTION_SCHEDULED", "IN_PROCESS"),
    (Status.DISPATCHED, Action.CHECK, Outcome.FAILED): StatusRow(_O, "核查未通过，返工：{unit}", "OPEN", "IN_PROCESS"),
    (Status.CHECKED, Action.FILE, Outcome.SELF_HANDLED): StatusRow(
        _O, "监督员已现场处置，待结案", "INVESTIGATING", "IN_PROCESS"),
}

# The steps the public sees (timeline notes, the last step that explains the status). Requests a unit makes,
# denials, comments, 督办 and deadline breaches are internal.
PUBLIC_ACTIONS: frozenset[Action] = frozenset({
    Action.REPORT, Action.ACCEPT, Action.REJECT, Action.REQUEST_VERIFICATION, Action.VERIFY, Action.FILE,
    Action.VOID, Action.DISPATCH, Action.APPROVE_RETURN, Action.APPROVE_EXTENSION, Action.APPROVE_SUSPENSION,
    Action.RESUME, Action.COMPLETE, Action.REQUEST_CHECK, Action.CHECK, Action.CLOSE, Action.FORCE_CLOSE,
})


@dataclass(frozen=True)
class PublicStatus:
    status: str
    notes: str
    fms: str
    detailed: str
    state: str
    state_label: str
    fixed: bool


def _fill(template: str, unit: str | None, due: datetime | None) -> str:
    text = template.replace("{date}", to_business(due).strftime("%Y-%m-%d %H:%M") if due else "新时限")
    if "{unit}" in text:
        # "已派遣：{unit}" reads "已派遣" while no unit is known (never "已派遣：None").
        text = text.replace("：{unit}", f"：{unit}" if unit else "").replace("{unit}", unit or "")
    return text


def row_for(status: Status, last_action: Action | None = None, last_outcome: Outcome | None = None) -> StatusRow:
    return VARIANTS.get((status, last_action, last_outcome), STATUS_TABLE[status]) \
        if last_action is not None else STATUS_TABLE[status]


def public_status(status: Status, last_action: Action | None = None, last_outcome: Outcome | None = None, *,
                  unit: str | None = None, due: datetime | None = None) -> PublicStatus:
    row = row_for(status, last_action, last_outcome)
    return PublicStatus(row.status, _fill(row.notes, unit, due), row.fms, row.detailed, status.value.upper(),
                        STATUS_LABELS[status], row.fixed)


def is_closed(status: Status) -> bool:
    return status in TERMINAL


# extended_attributes.channel (§13.2) from the case's source.
CHANNELS: dict[Source, str] = {
    Source.COLLECTOR: "patrol", Source.CITIZEN: "public", Source.HOTLINE: "hotline", Source.LEADER: "leader",
    Source.MEDIA: "media", Source.VIDEO: "video", Source.DEVICE: "iot", Source.OTHER: "other",
}
