"""POST requests (doc §5): the Open311 form → one intake report. Never commits: the route does.

Validation order gives deterministic answers: api_key (403), then jurisdiction_id and service_code (404) stop
at the first failure; every 400-class problem after that (location, attributes, description …) is collected
into one errors list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityloop.areas.index import OutsideCity
from cityloop.auth import apikeys
from cityloop.auth.models import ApiKey
from cityloop.auth.permissions import ApiScope
from cityloop.core.errors import Forbidden, ValidationFailed
from cityloop.intake import service as intake
from cityloop.intake.models import Channel, Outcome
from cityloop.intake.schemas import ContactIn, ReportIn
from cityloop.open311 import attributes, errors, queries
from cityloop.open311.params import Params, check_jurisdiction

MAX_DESCRIPTION = 4000
MAX_EXTERNAL_ID = 64
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
_PART_CODE = re.compile(r"^\d{17}$")
_TAG = re.compile(r"<[^>]{0,2000}>")
# FixMyStreet sends its own report id as an attribute; a retry carries the same one (doc §5.2).
FMS_ID = "fixmystreet_id"
LOCATION_REQUIRED = "location required: lat+long, address_string or address_id"
ADDRESS_ONLY = "address_string alone cannot be located yet: send lat+long or address_id"
OUTSIDE = "location outside jurisdiction"


@dataclass(frozen=True)
class Posted:
    number: str | None
    notice: str


def authenticate(session: Session, params: Params, header_key: str | None) -> ApiKey:
    """The form's api_key (spec), else the X-Api-Key header; any failure is the same 403 (never says which)."""
    try:
        return apikeys.authenticate(session, params.get("api_key") or header_key, ApiScope.OPEN311,
                                    field="api_key")
    except Forbidden:
        raise errors.Open311Error(403, errors.BAD_KEY) from None


def submitted_attributes(params: Params) -> dict[str, list[str]]:
    """attribute[X]=a, attribute[X][]=a&attribute[X][]=b and repeated attribute[X] all collect into X's list;
    values are never split on commas (a key may contain one)."""
    out: dict[str, list[str]] = {}
    for name, values in params.items():
        m = _ATTRIBUTE.match(name)
        if m:
            out.setdefault(m[1], []).extend(values)
    return out


def _float(params: Params, name: str, low: float, high: float, problems: list[str]) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got '{raw[:40]}'")
        return None
    if not low <= value <= high:  # also refuses nan
        problems.append(f"{name} must be between {low:g} and {high:g}")
        return None
    return value


@dataclass
class _Location:
    lat: float | None = None
    lon: float | None = None
    part_code: str | None = None
    crs: str = "wgs84"


def _location(params: Params, asset_code: str | None, problems: list[str]) -> _Location:
    where = _Location()
    lat = _float(params, "lat", -90, 90, problems)
    lon = _float(params, "long", -180, 180, problems)
    has_lat, has_lon = "lat" in params, "long" in params
    if has_lat != has_lon:
        problems.append("lat and long must be given together")
    elif lat is not None and lon is not None:
        where.lat, where.lon = lat, lon
    address_id = params.get("address_id")
    if address_id is not None and not _PART_CODE.match(address_id):
        problems.append("address_id must be a 17-digit 部件 code (部件标识码)")
        address_id = None
    if address_id and asset_code and address_id != asset_code:
        problems.append("address_id and attribute[ASSET_CODE] name different 部件")
    where.part_code = address_id or asset_code
    crs = (params.get("coord_system") or "wgs84").lower()
    if crs not in ("wgs84", "gcj02"):
        problems.append("coord_system must be wgs84 or gcj02")
    where.crs = crs
    if not (has_lat or has_lon or "address_id" in params) and where.part_code is None:
        # cityloop has no gazetteer geocoder yet, so a free-text address cannot place a case on its own.
        problems.append(ADDRESS_ONLY if "address_string" in params else LOCATION_REQUIRED)
    return where


def _contact(params: Params, problems: list[str]) -> ContactIn | None:
    name = " ".join(p for p in (params.get("last_name"), params.get("first_name")) if p)
    phone, email = params.get("phone") or "", params.get("email") or ""
    for label, value, limit in (("first_name/last_name", name, 100), ("phone", phone, 40), ("email", email, 200)):
        if len(value) > limit:
            problems.append(f"{label} exceeds {limit} characters")
    if not (name or phone or email) or problems:
        return None
    return ContactIn(name=name, phone=phone, email=email)


def _external_id(params: Params, idempotency_key: str | None, submitted: dict[str, list[str]],
                 problems: list[str]) -> str | None:
    fms = [v.strip() for v in submitted.get(FMS_ID, []) if v.strip()]
    value = (idempotency_key or "").strip() or (fms[-1] if fms else None)
    if value is not None and len(value) > MAX_EXTERNAL_ID:
        problems.append(f"Idempotency-Key exceeds {MAX_EXTERNAL_ID} characters")
        return None
    return value


def _report(params: Params, service: queries.Service, idempotency_key: str | None) -> ReportIn:
    problems: list[str] = []
    submitted = submitted_attributes(params)
    checked = attributes.check(service.attributes(), submitted)
    asset = checked.values.get(attributes.ASSET_CODE)
    where = _location(params, asset if isinstance(asset, str) else None, problems)
    problems += checked.problems
    description = _TAG.sub("", params.raw("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:  # code points, not bytes: 4 000 汉字 are fine
        problems.append(f"description exceeds {MAX_DESCRIPTION} characters")
    contact = _contact(params, problems)
    external_id = _external_id(params, idempotency_key, submitted, problems)
    if problems:
        raise errors.bad_request(*problems)
    values: dict[str, Any] = {k: v for k, v in checked.values.items() if k != attributes.ASSET_CODE}
    try:
        return ReportIn(
            kind=service.category.kind, category_code=service.category.code, description=description,
            lat=where.lat, lon=where.lon, crs=where.crs, address=(params.get("address_string") or "")[:256],
            part_code=where.part_code, external_id=external_id, contact=contact, attributes=values)
    except ValidationError as exc:  # the checks above mirror ReportIn's; this is the safety net
        raise errors.bad_request(*(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}"
                                   for e in exc.errors())) from None


def post_request(session: Session, params: Params, *, jurisdiction: str, header_key: str | None,
                 idempotency_key: str | None, now: datetime) -> Posted:
    key = authenticate(session, params, header_key)
    check_jurisdiction(params, jurisdiction)
    code = params.get("service_code")
    if code is None:
        raise errors.bad_request("service_code is required")
    service = queries.find_service(session, code)
    if service is None:
        raise errors.not_found(errors.SERVICE_NOT_FOUND)
    data = _report(params, service, idempotency_key)
    sender = intake.Sender(Channel.OPEN311, f"key:{key.id}", api_key_id=key.id)
    try:
        done = intake.submit_report(session, sender, data, now=now)
    except OutsideCity:
        raise errors.bad_request(OUTSIDE) from None
    except ValidationFailed as exc:
        raise errors.bad_request(_translate(exc)) from None
    if done.case is None:
        return Posted(None, "已收到，待人工审核")
    if done.outcome is Outcome.MERGED:
        return Posted(done.case.number, f"同一问题已有上报，已并入案件 {done.case.number}")
    return Posted(done.case.number, "已收到，等待受理")


def _translate(exc: ValidationFailed) -> str:
    """The intake's message in Open311's words: its fields are cityloop's (part_code, lon), not the form's."""
    message = exc.message
    for ours, theirs in (("part_code", "address_id"), ("lon", "long"), ("category_code", "service_code")):
        if message.startswith(ours + ":"):
            return theirs + message[len(ours):]
    return message
