"""/api/v1/public (随手拍, no account needed) and /api/v1/intake/hotline (12345 work orders by API key)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from cityloop.attachments import service as attachment_service
from cityloop.attachments.models import Stage
from cityloop.attachments.service import Prepared
from cityloop.attachments.storage import storage_for
from cityloop.auth import apikeys
from cityloop.auth import service as auth_service
from cityloop.auth.deps import PrincipalDep
from cityloop.auth.permissions import ApiScope
from cityloop.auth.principal import Principal
from cityloop.cases import workflow as wf
from cityloop.core.errors import RateLimited, ValidationFailed
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.core.ratelimit import RateLimiter
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import queries, service
from cityloop.intake.models import Channel
from cityloop.intake.schemas import (
    HotlineOrderIn,
    HotlineOrderOut,
    PublicReportIn,
    PublicReportOut,
    ReportAccepted,
    ReportIn,
)
from cityloop.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["public"])
_optional_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
MAX_PHOTOS = 9
_FORM_FIELDS = ("kind", "category_code", "description", "lat", "lon", "crs", "address")


def _limiter(request: Request, settings: Settings) -> RateLimiter:
    limiter = getattr(request.app.state, "public_limiter", None)
    if limiter is None:
        limiter = RateLimiter(settings.public_reports_per_minute, timedelta(minutes=1))
        request.app.state.public_limiter = limiter
    return limiter


def _optional_principal(session: ReadSessionDep, clock: ClockDep,
                        token: Annotated[str | None, Depends(_optional_bearer)]) -> Principal | None:
    return auth_service.principal_for_token(session, token, now=clock.now()) if token else None


@dataclass(frozen=True)
class PostedReport:
    fields: dict[str, Any]
    files: list[tuple[str, bytes]]


async def _posted(request: Request) -> PostedReport:
    """The body as sent — JSON, or form fields plus `photos` files — read before the (synchronous) endpoint runs,
    so no request holds the database while a phone is still uploading."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            fields = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"body: not valid JSON ({exc})", field="body") from exc
        if not isinstance(fields, dict):
            raise ValidationFailed("body: a JSON object is expected", field="body")
        return PostedReport(fields, [])
    try:
        form: FormData = await request.form(max_files=MAX_PHOTOS + 1)
    except Exception as exc:  # starlette raises several types for a broken multipart body
        raise ValidationFailed(f"body: the form could not be read ({exc})", field="body") from exc
    fields = {k: v for k in _FORM_FIELDS if isinstance(v := form.get(k), str) and v != ""}
    contact = {k: v for k in ("name", "phone", "email") if isinstance(v := form.get(f"contact_{k}"), str) and v}
    if contact:
        fields["contact"] = contact
    files = [f for f in form.getlist("photos") + form.getlist("photo") if isinstance(f, UploadFile)]
    if len(files) > MAX_PHOTOS:
        raise ValidationFailed(f"photos: at most {MAX_PHOTOS} photos", field="photos")
    return PostedReport(fields, [(f.filename or "photo", await f.read()) for f in files])


def _public_report_in(posted: PostedReport, settings: Settings) -> tuple[PublicReportIn, list[Prepared]]:
    """Every photo is checked (and its clean copy made) before anything is stored, so a bad one leaves nothing;
    a missing location may come from a photo's EXIF GPS."""
    fields = dict(posted.fields)
    photos = [attachment_service.prepare(data, name, max_bytes=int(settings.max_upload_mb * 1024 * 1024),
                                         max_pixels=settings.max_image_pixels, field=f"photos[{i}]")
              for i, (name, data) in enumerate(posted.files)]
    if "lat" not in fields and "lon" not in fields:
        hint = next((p.info for p in photos if p.info.gps_lat is not None), None)
        if hint is not None:  # EXIF positions are GPS (WGS-84), whatever map the form's crs speaks of
            fields["lat"], fields["lon"], fields["crs"] = hint.gps_lat, hint.gps_lon, "wgs84"
    try:
        return PublicReportIn.model_validate(fields), photos
    except ValidationError as exc:
        raise _validation(exc) from exc


def _validation(exc: ValidationError) -> ValidationFailed:
    errors = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e.get("msg", "invalid")}
              for e in exc.errors()]
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ValidationFailed(message, field=errors[0]["field"] if errors else "body", details={"errors": errors})


@router.post("/public/reports", response_model=ReportAccepted, status_code=201,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": PublicReportIn.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     **{k: {"type": "string"} for k in _FORM_FIELDS},
                     "contact_name": {"type": "string"}, "contact_phone": {"type": "string"},
                     "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}})
def public_report(request: Request, posted: Annotated[PostedReport, Depends(_posted)],
                  # before the write session, so that looking the caller up is not the write transaction's start
                  principal: Annotated[Principal | None, Depends(_optional_principal)],
                  session: SessionDep, clock: ClockDep, settings: SettingsDep) -> ReportAccepted:
    """随手拍: report a problem without an account (JSON, or a form with up to 9 photos). Keep the number and
    token: together they show the progress. A signed-in citizen also finds it under GET /public/reports."""
    now = clock.now()
    client = request.client.host if request.client else "unknown"
    wait = _limiter(request, settings).allow(f"user:{principal.user_id}" if principal else client, now)
    if wait is not None:
        raise RateLimited(f"too many reports from this client; try again in {round(wait)} s", retry_after=wait)
    data, photos = _public_report_in(posted, settings)
    sender = service.Sender(Channel.PUBLIC, f"user:{principal.user_id}" if principal else "public", principal)
    report_in = ReportIn.model_construct(**data.model_dump(exclude={"contact"}), contact=data.contact, part_code=None,
                                         urgent=False, external_id=None, occurred_at=None, attributes={}, public=True)
    done = service.submit_report(session, sender, report_in, now=now, issue_token=True)
    assert done.case is not None
    assert done.token is not None
    stored = attachment_service.store(session, storage_for(settings), photos, stage=Stage.REPORT,
                                      case_id=done.case.id, report_id=done.report.id,
                                      uploaded_by=principal.user_id if principal else None, now=now)
    try:
        session.commit()
    except BaseException:
        attachment_service.discard(storage_for(settings), stored)
        raise
    return ReportAccepted(number=done.case.number, token=done.token)


def _public_out(view: queries.PublicView, settings: Settings) -> PublicReportOut:
    case = view.case
    return PublicReportOut(
        number=case.number, status=case.status.value, status_label=wf.STATUS_LABELS[case.status],
        category_code=case.category_code, category_name=view.category_name, reported_at=view.report.received_at,
        updated_at=case.updated_at, closed_at=case.closed_at, lat=case.lat, lon=case.lon, address=case.address,
        location_desc=case.location_desc, steps=view.steps,
        photos=[f"{settings.public_base_url}/open311/media/{p}" for p in view.photo_ids])


@router.get("/public/reports/{number}", response_model=PublicReportOut)
def public_progress(number: str, token: Annotated[str, Query(min_length=8, max_length=100)],
                    session: ReadSessionDep, settings: SettingsDep) -> PublicReportOut:
    """Progress of one report, by its number and token: public fields only."""
    return _public_out(queries.public_view(session, number, token), settings)


@router.get("/public/reports", response_model=list[PublicReportOut])
def my_public_reports(session: ReadSessionDep, principal: PrincipalDep, settings: SettingsDep,
                      limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
                      offset: Annotated[int, Query(ge=0)] = 0) -> list[PublicReportOut]:
    """A signed-in citizen's own 随手拍 reports, newest first."""
    views, _total = queries.my_reports(session, principal.user_id, PageParams(limit, offset))
    return [_public_out(v, settings) for v in views]


# --- 12345 hotline transfers ---------------------------------------------------------------------------------

def _hotline_sender(session: Session, raw: str | None) -> service.Sender:
    key = apikeys.authenticate(session, raw, ApiScope.HOTLINE)
    return service.Sender(Channel.HOTLINE, f"key:{key.id}", api_key_id=key.id)


def _order_out(session: Session, origin: str, external_id: str) -> HotlineOrderOut:
    report, case, unit_name = queries.hotline_order(session, origin, external_id)
    return HotlineOrderOut(
        external_id=external_id, case_id=case.id if case else None, number=case.number if case else None,
        status=case.status.value if case else None,
        status_label=wf.STATUS_LABELS[case.status] if case else None, unit_name=unit_name,
        updated_at=case.updated_at if case else None, closed_at=case.closed_at if case else None,
        outcome=report.outcome, steps=queries.public_steps(session, case) if case else [])


@router.post("/intake/hotline/orders", response_model=HotlineOrderOut, status_code=201, tags=["hotline"],
             responses={200: {"description": "the order was pushed before: the same case, nothing new"}})
def push_order(body: HotlineOrderIn, session: SessionDep, clock: ClockDep,
               x_api_key: Annotated[str | None, Header(alias=apikeys.HEADER)] = None) -> Any:
    """A 12345 work order. Pushing the same external_id again is answered with the same case (200)."""
    sender = _hotline_sender(session, x_api_key)
    done = service.submit_report(session, sender, body, now=clock.now())
    session.commit()
    out = _order_out(session, sender.origin, body.external_id)
    if done.replayed:
        return JSONResponse(out.model_dump(mode="json"), status_code=200)
    return out


@router.get("/intake/hotline/orders/{external_id}", response_model=HotlineOrderOut, tags=["hotline"])
def order_status(external_id: str, session: ReadSessionDep,
                 x_api_key: Annotated[str | None, Header(alias=apikeys.HEADER)] = None) -> HotlineOrderOut:
    """Where a pushed order stands, by the hotline's own order number."""
    sender = _hotline_sender(session, x_api_key)
    return _order_out(session, sender.origin, external_id)


@router.get("/intake/hotline/orders", response_model=list[HotlineOrderOut], tags=["hotline"])
def order_changes(session: ReadSessionDep, since: datetime,
                  limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
                  x_api_key: Annotated[str | None, Header(alias=apikeys.HEADER)] = None) -> list[HotlineOrderOut]:
    """Orders whose case changed after `since` (ISO 8601 with offset), oldest change first: poll with the last
    `updated_at` seen."""
    if since.tzinfo is None:
        raise ValidationFailed("since: give an offset, e.g. 2026-11-01T00:00:00+08:00", field="since")
    sender = _hotline_sender(session, x_api_key)
    return [_order_out(session, sender.origin, r.external_id or "")
            for r, _c in queries.hotline_changes(session, sender.origin, since, limit)]
