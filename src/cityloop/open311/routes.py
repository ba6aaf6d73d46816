"""/open311: GeoReport v2 (doc §1) in JSON and XML, chosen only by the path suffix.

Every answer under /open311, errors included, is in the spec's shape and the requested format: endpoints
catch their own errors (Open311Error, domain errors, anything unexpected) instead of reaching the app's global
handlers, which answer cityloop's {"code","message","field"}. A catch-all route last answers unknown paths.
The routes stay out of cityloop's OpenAPI document: suffix formats and dynamic attribute[…] keys do not
survive generation from signatures (doc §14).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from cityloop.attachments import service as attachment_service
from cityloop.attachments.storage import storage_for
from cityloop.core.errors import DomainError, NotFound
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from cityloop.intake import service as intake
from cityloop.open311 import errors, mapping, params, queries, render, service
from cityloop.open311.params import Params
from cityloop.open311.timefmt import format_dt
from cityloop.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this discovery document last changed in form (its values come from the settings). Bump on change.
DISCOVERY_CHANGESET = datetime.fromisoformat("2026-11-20T00:00:00+08:00")


def _reply(fmt: str, root: str, data: list[Any] | dict[str, Any], *, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    return Response(render.render(fmt, root, data), status_code=status, media_type=render.MEDIA_TYPES[fmt],
                    headers=headers)


def _error(fmt: str, exc: errors.Open311Error) -> Response:
    fmt = fmt if fmt in render.FORMATS else "xml"  # the format cannot be told: XML (doc §10)
    return _reply(fmt, "errors", render.error_items(exc.status, exc.descriptions), status=exc.status)


def _answer(fmt: str, make: Callable[[], Response]) -> Response:
    if fmt not in render.FORMATS:
        return _error("xml", errors.not_found())
    try:
        return make()
    except errors.Open311Error as exc:
        return _error(fmt, exc)
    except DomainError as exc:
        status = exc.status if exc.status in (403, 404) else 400
        return _error(fmt, errors.Open311Error(status, exc.message))
    except Exception:  # an Open311 client must get the spec's error body, never a stack trace (doc §10)
        log.exception("open311: unexpected error")
        return _error(fmt, errors.Open311Error(500, errors.INTERNAL))


def _query(request: Request) -> Params:
    return Params(request.query_params.multi_items())


def _media_base(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/open311/media"


# --- discovery ------------------------------------------------------------------------------------------------

@router.get("/open311/discovery.{fmt}")
def discovery(fmt: str, settings: SettingsDep) -> Response:
    def make() -> Response:
        base = settings.public_base_url.rstrip("/") + "/open311/v2"
        # A separate test instance is announced when the deployment names one; otherwise this server is also
        # the test endpoint (one-endpoint documents crash the SeeClickFix validator, doc §16.7).
        test = getattr(settings, "open311_test_url", None) or base
        changeset = format_dt(DISCOVERY_CHANGESET)
        endpoints = [{"specification": SPECIFICATION, "url": url, "changeset": changeset, "type": kind,
                      "formats": [render.MEDIA_TYPES["xml"].split(";")[0], render.MEDIA_TYPES["json"].split(";")[0]]}
                     for url, kind in ((base, "production"), (test.rstrip("/"), "test"))]
        return _reply(fmt, "discovery", {"changeset": changeset, "contact": settings.open311_contact,
                                         "key_service": settings.open311_key_service, "endpoints": endpoints})
    return _answer(fmt, make)


# --- services -------------------------------------------------------------------------------------------------

@router.get("/open311/v2/services.{fmt}")
def service_list(fmt: str, request: Request, session: ReadSessionDep, settings: SettingsDep) -> Response:
    def make() -> Response:
        params.check_jurisdiction(_query(request), settings.open311_jurisdiction_id)
        return _reply(fmt, "services", [s.as_open311() for s in queries.services(session)])
    return _answer(fmt, make)


@router.get("/open311/v2/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: str, request: Request, session: ReadSessionDep,
                       settings: SettingsDep) -> Response:
    def make() -> Response:
        params.check_jurisdiction(_query(request), settings.open311_jurisdiction_id)
        found = queries.find_service(session, service_code)
        if found is None:
            raise errors.not_found(errors.SERVICE_NOT_FOUND)
        return _reply(fmt, "service_definition", found.definition())
    return _answer(fmt, make)


# --- requests -------------------------------------------------------------------------------------------------

async def _form(request: Request) -> Params | None:
    """The POST body's fields (attribute[…] keys are dynamic, so no Form() parameters); None when the body
    cannot be read as a form. Files (the media extension) are not read here."""
    try:
        form = await request.form()
    except Exception:  # a malformed body is the client's 400, answered in Open311's shape by the endpoint
        return None
    return Params((k, v) for k, v in form.multi_items() if isinstance(v, str))


@router.post("/open311/v2/requests.{fmt}")
def post_request(fmt: str, request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep,
                 form: Params | None = Depends(_form)) -> Response:
    def make() -> Response:
        if form is None:
            raise errors.bad_request("the body must be application/x-www-form-urlencoded")
        posted = service.post_request(
            session, form, jurisdiction=settings.open311_jurisdiction_id,
            header_key=request.headers.get("x-api-key"), idempotency_key=request.headers.get("idempotency-key"),
            now=clock.now())
        session.commit()  # before answering: a commit failing after a 200 would lose an accepted report
        return _reply(fmt, "service_requests", [{"service_request_id": posted.number,
                                                 "service_notice": posted.notice, "account_id": None}])
    return _answer(fmt, make)


def _link(request: Request, paging: params.Paging, offset: int) -> str:
    url = request.url.remove_query_params(["page", "page_size", "limit", "offset"])
    if paging.style == "offset":
        url = url.include_query_params(limit=paging.limit, offset=offset)
    else:
        url = url.include_query_params(page=offset // paging.limit + 1, page_size=paging.limit)
    return f"<{url}>"


def _list_headers(request: Request, paging: params.Paging, total: int) -> dict[str, str]:
    links = []
    if paging.offset + paging.limit < total:
        links.append(f'{_link(request, paging, paging.offset + paging.limit)}; rel="next"')
    if paging.offset > 0:
        links.append(f'{_link(request, paging, max(0, paging.offset - paging.limit))}; rel="prev"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _extended(query: Params) -> bool:
    return (query.get("extensions") or "").lower() == "true"


@router.get("/open311/v2/requests.{fmt}")
def request_list(fmt: str, request: Request, session: ReadSessionDep, clock: ClockDep,
                 settings: SettingsDep) -> Response:
    def make() -> Response:
        query = _query(request)
        params.check_jurisdiction(query, settings.open311_jurisdiction_id)
        now = clock.now()
        ids = query.csv("service_request_id")
        if ids:  # overrides every other argument, the date window and paging included (spec)
            f = queries.RequestFilter(ids=ids, limit=params.MAX_ROWS)
            paging = params.Paging(0, params.MAX_ROWS, "none")
        else:
            codes = query.csv("service_code")
            parsed = [p for p in (mapping.parse_service_code(c) for c in codes) if p is not None]
            start, end = params.date_window(params.datetime_param(query, "start_date"),
                                            params.datetime_param(query, "end_date"), now)
            paging = params.paging(query)
            f = queries.RequestFilter(codes=parsed if codes else None, statuses=params.statuses(query),
                                      start=start, end=end, offset=paging.offset, limit=paging.limit)
        rows, total = queries.find_requests(session, f)
        views = queries.request_views(session, rows, media_base=_media_base(settings), now=now,
                                      extended=_extended(query))
        return _reply(fmt, "service_requests", views, headers=_list_headers(request, paging, total))
    return _answer(fmt, make)


@router.get("/open311/v2/requests/{service_request_id}.{fmt}")
def request_one(service_request_id: str, fmt: str, request: Request, session: ReadSessionDep, clock: ClockDep,
                settings: SettingsDep) -> Response:
    def make() -> Response:
        query = _query(request)
        params.check_jurisdiction(query, settings.open311_jurisdiction_id)
        rows, _ = queries.find_requests(session, queries.RequestFilter(ids=[service_request_id], limit=1))
        if not rows:  # unknown and non-public alike: no existence leak (doc §2.7)
            raise errors.not_found(errors.REQUEST_NOT_FOUND)
        views = queries.request_views(session, rows, media_base=_media_base(settings), now=clock.now(),
                                      extended=_extended(query))
        return _reply(fmt, "service_requests", views)
    return _answer(fmt, make)


@router.get("/open311/v2/tokens/{token}.{fmt}")
def token(token: str, fmt: str, request: Request, session: ReadSessionDep, settings: SettingsDep) -> Response:
    def make() -> Response:
        params.check_jurisdiction(_query(request), settings.open311_jurisdiction_id)
        number = queries.resolve_token(session, intake.token_digest(token))
        return _reply(fmt, "service_requests", [{"service_request_id": number, "token": token}])
    return _answer(fmt, make)


# --- FixMyStreet status updates (§13.4, read side) -------------------------------------------------------------

@router.get("/open311/v2/servicerequestupdates.{fmt}")
def request_updates(fmt: str, request: Request, session: ReadSessionDep, clock: ClockDep,
                    settings: SettingsDep) -> Response:
    """FixMyStreet polls with api_key, start_date and end_date (both or neither); every public step of a public
    case in the window, oldest first, up to 1 000 per page (page/page_size as for requests)."""
    def make() -> Response:
        query = _query(request)
        service.authenticate(session, query, request.headers.get("x-api-key"))
        params.check_jurisdiction(query, settings.open311_jurisdiction_id)
        start, end = params.date_window(params.datetime_param(query, "start_date"),
                                        params.datetime_param(query, "end_date"), clock.now())
        paging = params.paging(query)
        rows, total = queries.find_updates(session, start, end, offset=paging.offset, limit=paging.limit)
        views = queries.update_views(session, rows, media_base=_media_base(settings))
        return _reply(fmt, "service_requests_updates", views, headers=_list_headers(request, paging, total))
    return _answer(fmt, make)


# --- photos and everything else -------------------------------------------------------------------------------

@router.get("/open311/media/{public_id}")
def photo(public_id: str, session: ReadSessionDep, settings: SettingsDep) -> Response:
    """media_url: the display-size photo of a public case; anything else is 404 (no existence leak)."""
    try:
        found = queries.public_photo(session, public_id)
        if found is None:
            raise errors.not_found()
        data, mime = attachment_service.read(storage_for(settings), found, "display")
    except (errors.Open311Error, NotFound):
        return _error("xml", errors.not_found())
    # The photo is public and immutable under its random id: caches may keep it.
    return Response(data, media_type=mime, headers={"Cache-Control": "public, max-age=86400",
                                                    "X-Content-Type-Options": "nosniff"})


@router.api_route("/open311/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def unknown(rest: str) -> Response:
    """Anything else under /open311 (no suffix, another suffix, a method the path lacks): 404 in the spec's
    shape, JSON when the path asked for it, else XML."""
    return _error("json" if rest.endswith(".json") else "xml", errors.not_found())

