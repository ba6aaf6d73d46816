# No `from __future__ import annotations` here: the action routes are built in a loop, and FastAPI reads
# each endpoint's body model from its live annotations.
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from cityloop.auth.deps import PrincipalDep
from cityloop.auth.principal import Principal
from cityloop.cases import dispatching, queries, service
from cityloop.cases import workflow as wf
from cityloop.cases.models import Case, RequestState
from cityloop.cases.schemas import (
    CaseFilterIn,
    CaseOut,
    CasePage,
    CaseSummary,
    CheckIn,
    CollectorIn,
    CommentIn,
    DeadlineOut,
    DispatchIn,
    EventOut,
    ExtensionIn,
    FileIn,
    NoteIn,
    ReasonIn,
    RequestOut,
    RequiredNoteIn,
    TaskOut,
    VerifyIn,
)
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["cases"])

A = wf.Action
Handler = Callable[..., Case]

# action → (its input model, its command). One route per action, so each is documented with its own body.
ACTIONS: dict[wf.Action, tuple[type[BaseModel], Handler]] = {
    A.ACCEPT: (NoteIn, service.accept),
    A.REJECT: (ReasonIn, service.reject),
    A.REQUEST_VERIFICATION: (CollectorIn, service.request_verification),
    A.VERIFY: (VerifyIn, service.verify),
    A.FILE: (FileIn, service.file),
    A.VOID: (ReasonIn, service.void),
    A.DISPATCH: (DispatchIn, service.dispatch),
    A.REQUEST_RETURN: (ReasonIn, service.request_return),
    A.APPROVE_RETURN: (NoteIn, service.approve_return),
    A.DENY_RETURN: (ReasonIn, service.deny_return),
    A.REQUEST_EXTENSION: (ExtensionIn, service.request_extension),
    A.APPROVE_EXTENSION: (NoteIn, service.approve_extension),
    A.DENY_EXTENSION: (ReasonIn, service.deny_extension),
    A.REQUEST_SUSPENSION: (ReasonIn, service.request_suspension),
    A.APPROVE_SUSPENSION: (NoteIn, service.approve_suspension),
    A.DENY_SUSPENSION: (ReasonIn, service.deny_suspension),
    A.RESUME: (NoteIn, service.resume),
    A.COMPLETE: (RequiredNoteIn, service.complete),
    A.REQUEST_CHECK: (CollectorIn, service.request_check),
    A.CHECK: (CheckIn, service.check),
    A.CLOSE: (NoteIn, service.close),
    A.FORCE_CLOSE: (ReasonIn, service.force_close),
    A.SUPERVISE: (NoteIn, service.supervise),
    A.COMMENT: (CommentIn, service.comment),
}


def case_out(session: Session, case: Case, principal: Principal, now: datetime) -> CaseOut:
    return CaseOut(
        id=case.id, number=case.number, kind=case.kind, category_code=case.category_code,
        description=case.description, lat=case.lat, lon=case.lon, address=case.address, source=case.source,
        district_code=case.district_code, street_code=case.street_code, community_code=case.community_code,
        grid_code=case.grid_code, location_desc=case.location_desc, part_code=case.part_code,
        reporter_id=case.reporter_id, urgent=case.urgent, self_handled=case.self_handled, status=case.status,
        status_label=wf.STATUS_LABELS[case.status], unit_id=case.unit_id, rework_count=case.rework_count,
        supervised=case.supervised, report_count=case.report_count, last_report_at=case.last_report_at,
        public=case.public, version=case.version, created_at=case.created_at,
        updated_at=case.updated_at, closed_at=case.closed_at, filing_standard_id=case.filing_standard_id,
        region_class=case.region_class,
        pending_requests=[RequestOut.model_validate(r) for r in case.requests
                          if r.state is RequestState.PENDING],
        open_task=TaskOut.model_validate(t) if (t := case.open_task()) else None,
        allowed_actions=queries.available_actions(case, principal),
        deadlines=[DeadlineOut.model_validate(v) for v in queries.deadline_views(session, case, now)],
        timeliness=queries.timeliness(session, case, now),
        routing=None if case.status in wf.TERMINAL else dispatching.routing_view(session, case),
    )


@router.get("/cases", response_model=CasePage)
def list_cases(session: ReadSessionDep, principal: PrincipalDep,
               f: Annotated[CaseFilterIn, Query()],
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> CasePage:
    rows, total = queries.list_cases(session, principal, f, PageParams(limit, offset))
    return CasePage(items=[CaseSummary.model_validate(c) for c in rows], total=total, limit=limit,
                    offset=offset)


@router.get("/queue", response_model=CasePage)
def work_queue(session: ReadSessionDep, principal: PrincipalDep,
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> CasePage:
    """What awaits the caller's roles, emergencies first."""
    rows, total = queries.queue(session, principal, PageParams(limit, offset))
    return CasePage(items=[CaseSummary.model_validate(c) for c in rows], total=total, limit=limit,
                    offset=offset)


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: int, session: ReadSessionDep, principal: PrincipalDep, clock: ClockDep) -> CaseOut:
    return case_out(session, queries.get_case(session, principal, case_id), principal, clock.now())


@router.get("/cases/{case_id}/events", response_model=list[EventOut])
def case_events(case_id: int, session: ReadSessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return queries.timeline(session, principal, case_id)


def _action_endpoint(action: wf.Action, model: type[BaseModel], handler: Handler) -> Callable[..., CaseOut]:
    required = any(f.is_required() for f in model.model_fields.values())
    body_default = ... if required else None

    def endpoint(case_id: int, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                 body: Annotated[model | None, Body()] = body_default) -> CaseOut:  # type: ignore[valid-type]
        cmd = body if body is not None else model()
        now = clock.now()
        case = handler(session, principal, case_id, cmd, now=now)
        session.commit()
        return case_out(session, case, principal, now)

    endpoint.__name__ = f"case_{action.value}"
    endpoint.__doc__ = f"{wf.ACTION_LABELS[action]} ({action.value})"
    return endpoint


for _action, (_model, _handler) in ACTIONS.items():
    router.add_api_route(f"/cases/{{case_id}}/actions/{_action.value}", _action_endpoint(_action, _model, _handler),
                         methods=["POST"], response_model=CaseOut, name=f"case_{_action.value}",
                         summary=f"{wf.ACTION_LABELS[_action]} ({_action.value})")

