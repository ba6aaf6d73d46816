"""/api/v1: staff reports, devices and their event batches, thresholds, dedup rules, review, machine figures."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from cityloop.auth import apikeys
from cityloop.auth.deps import PrincipalDep, require
from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.cases import access
from cityloop.cases.routes import case_out
from cityloop.cases.schemas import CaseIn, CaseOut
from cityloop.core.clock import to_business
from cityloop.core.errors import ValidationFailed
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import devices, machine, queries, review, rules, service
from cityloop.intake.schemas import (
    DedupRuleIn,
    DedupRuleOut,
    DeviceCreated,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    EventBatchOut,
    EventIn,
    ReportOut,
    ReviewIn,
    ReviewRejectIn,
    ThresholdIn,
    ThresholdOut,
)

router = APIRouter(prefix="/api/v1", tags=["intake"])
Manage = Annotated[Principal, require(Permission.INTAKE_MANAGE)]
Reviewer = Annotated[Principal, require(Permission.INTAKE_REVIEW)]
Stats = Annotated[Principal, require(Permission.STATS_READ)]
_MAX_NEW_CASES = 100


@router.post("/cases", response_model=CaseOut, status_code=201, tags=["cases"])
def create_case(body: CaseIn, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> CaseOut:
    """A signed-in user's report (collectors in the field, operators taking a call). Photos follow with
    POST /cases/{id}/attachments."""
    now = clock.now()
    case = service.report_case(session, principal, body, now=now)
    session.commit()
    return case_out(session, case, principal, now)


@router.get("/cases/{case_id}/reports", response_model=list[ReportOut], tags=["cases"])
def case_reports(case_id: int, session: ReadSessionDep, principal: PrincipalDep) -> list[ReportOut]:
    """Every report the case gathered (duplicates joined it), with the reporters' contacts for call-backs."""
    access.get_case_for(session, principal, case_id, need=Permission.CASE_READ_ALL)
    return [ReportOut.model_validate(r) for r in queries.case_reports(session, case_id)]


# --- machine collection -------------------------------------------------------------------------------------

async def _events_body(request: Request) -> list[Any]:
    """The batch's events, read before the endpoint runs: the endpoint itself is synchronous (in the thread
    pool), so no request ever waits for a slow client while holding the database's write lock."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"body: not valid JSON ({exc})", field="body") from exc
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise ValidationFailed('events: the body must be {"events": [...]}', field="events")
    return events


@router.post("/intake/events", response_model=EventBatchOut,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["events"],
                 "properties": {"events": {"type": "array", "items": EventIn.model_json_schema()}}}}}}})
def post_events(session: SessionDep, clock: ClockDep, settings: SettingsDep,
                events: Annotated[list[Any], Depends(_events_body)],
                x_api_key: Annotated[str | None, Header(alias=apikeys.HEADER)] = None) -> JSONResponse:
    """A device's detections, up to `intake_max_batch` per call; one result per event, in order. Retrying
    with the same device_event_id never opens a second case."""
    device = devices.authenticate(session, x_api_key)
    if len(events) > settings.intake_max_batch:
        raise ValidationFailed(f"events: {len(events)} events; at most {settings.intake_max_batch} per call",
                               field="events")
    results: list[machine.EventResult] = []
    # A transaction per slice of at most _MAX_NEW_CASES new cases: a batch of new problems would otherwise hold
    # SQLite's one write lock for many seconds while dispatchers wait; a batch that joins open cases (the usual)
    # is one transaction. A failure part-way loses nothing committed, and the device's retry replays it.
    rest = events
    while rest:
        part, consumed = machine.submit_events_until(session, device, rest, now=clock.now(),
                                                     max_new_cases=_MAX_NEW_CASES)
        session.commit()
        results += part
        rest = rest[consumed:]
    # Built by hand: validating a thousand results against the response model would cost more than storing them.
    return JSONResponse({"results": [r.to_json() for r in results]})


@router.get("/intake/devices", response_model=list[DeviceOut])
def list_devices(session: ReadSessionDep, _p: Manage, active: bool | None = None) -> list[DeviceOut]:
    return [DeviceOut.model_validate(d) for d in devices.list_devices(session, active=active)]


@router.post("/intake/devices", response_model=DeviceCreated, status_code=201)
def add_device(body: DeviceIn, session: SessionDep, principal: Manage, clock: ClockDep) -> DeviceCreated:
    """Register a device; the answer carries its API key, which is shown this once."""
    device, key = devices.add(session, body, now=clock.now(), created_by=principal.user_id)
    session.commit()
    return DeviceCreated(id=device.id, api_key=key)


@router.get("/intake/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: int, session: ReadSessionDep, _p: Manage) -> DeviceOut:
    return DeviceOut.model_validate(devices.get(session, device_id))


@router.patch("/intake/devices/{device_id}", response_model=DeviceOut)
def update_device(device_id: int, body: DevicePatch, session: SessionDep, _p: Manage, clock: ClockDep) -> DeviceOut:
    """Edit a device; `active: false` retires it and revokes its key."""
    device = devices.update(session, device_id, body, now=clock.now())
    session.commit()
    return DeviceOut.model_validate(device)


@router.post("/intake/devices/{device_id}/rotate-key", response_model=DeviceCreated)
def rotate_device_key(device_id: int, session: SessionDep, principal: Manage, clock: ClockDep) -> DeviceCreated:
    device, key = devices.rotate_key(session, device_id, now=clock.now(), created_by=principal.user_id)
    session.commit()
    return DeviceCreated(id=device.id, api_key=key)


@router.get("/intake/thresholds", response_model=list[ThresholdOut])
def list_thresholds(session: ReadSessionDep, _p: Manage) -> list[ThresholdOut]:
    return [ThresholdOut.model_validate(t) for t in rules.list_thresholds(session)]


@router.put("/intake/thresholds", response_model=ThresholdOut)
def set_threshold(body: ThresholdIn, session: SessionDep, _p: Manage, clock: ClockDep) -> ThresholdOut:
    row = rules.set_threshold(session, body, now=clock.now())
    session.commit()
    return ThresholdOut.model_validate(row)


@router.delete("/intake/thresholds/{category_code}/{algorithm}", status_code=204)
def delete_threshold(category_code: str, algorithm: str, session: SessionDep, _p: Manage) -> None:
    rules.delete_threshold(session, category_code, algorithm)
    session.commit()


@router.get("/intake/dedup-rules", response_model=list[DedupRuleOut])
def list_dedup_rules(session: ReadSessionDep, _p: Manage) -> list[DedupRuleOut]:
    return [DedupRuleOut.model_validate(r) for r in rules.list_dedup_rules(session)]


@router.put("/intake/dedup-rules", response_model=DedupRuleOut)
def set_dedup_rule(body: DedupRuleIn, session: SessionDep, _p: Manage, clock: ClockDep) -> DedupRuleOut:
    row = rules.set_dedup_rule(session, body, now=clock.now())
    session.commit()
    return DedupRuleOut.model_validate(row)


@router.delete("/intake/dedup-rules/{category_code}", status_code=204)
def delete_dedup_rule(category_code: str, session: SessionDep, _p: Manage) -> None:
    rules.delete_dedup_rule(session, category_code)
    session.commit()


# --- the operator's review queue ----------------------------------------------------------------------------

@router.get("/intake/review")
def review_queue(session: ReadSessionDep, _p: Reviewer, category_code: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Machine reports between the thresholds, oldest first, each with its count of duplicates."""
    rows, total = queries.review_queue(session, PageParams(limit, offset), category_code=category_code)
    items = [ReportOut.model_validate(r).model_copy(update={"duplicates": n}).model_dump(mode="json")
             for r, n in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/intake/review/{report_id}/accept", response_model=CaseOut)
def accept_report(report_id: int, session: SessionDep, principal: Reviewer, clock: ClockDep,
                  body: ReviewIn | None = None) -> CaseOut:
    """属实: a case opens from the report (with its duplicates) and is 受理'd."""
    now = clock.now()
    case = review.accept(session, principal, report_id, (body or ReviewIn()).note, now=now)
    session.commit()
    return case_out(session, case, principal, now)


@router.post("/intake/review/{report_id}/reject", response_model=ReportOut)
def reject_report(report_id: int, body: ReviewRejectIn, session: SessionDep, principal: Reviewer,
                  clock: ClockDep) -> ReportOut:
    """误报: counts against the algorithm that raised it."""
    report = review.reject(session, principal, report_id, body.reason, now=clock.now())
    session.commit()
    return ReportOut.model_validate(report)


# --- machine figures ----------------------------------------------------------------------------------------

def _window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - timedelta(days=30)
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValidationFailed(f"{name}: give an offset, e.g. 2026-11-01T00:00:00+08:00", field=name)
    if end <= start:
        raise ValidationFailed("end: must be after start", field="end")
    return start, end


@router.get("/intake/stats/machine-share")
def machine_share(session: ReadSessionDep, _p: Stats, clock: ClockDep, start: datetime | None = None,
                  end: datetime | None = None) -> JSONResponse:
    """机器上报占比 for [start, end) (default: the last 30 days) — the ≥ 50 % target's figure."""
    s, e = _window(start, end, clock.now())
    out = queries.machine_share(session, s, e)
    out["start"], out["end"] = to_business(s).isoformat(), to_business(e).isoformat()
    return JSONResponse(out)


@router.get("/intake/stats/precision")
def machine_precision(session: ReadSessionDep, _p: Stats, clock: ClockDep, start: datetime | None = None,
                      end: datetime | None = None, by: Annotated[str, Query(pattern="^(algorithm|device)$")] =
                      "algorithm") -> list[dict[str, Any]]:
    """Precision per algorithm (name@version) or per device: confirmed ÷ (confirmed + rejected)."""
    s, e = _window(start, end, clock.now())
    return queries.precision(session, s, e, by=by)
