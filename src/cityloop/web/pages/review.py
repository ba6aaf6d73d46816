"""The operator's review of machine reports that fell between the thresholds (intake/review.py decides)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.catalog import queries as catalog_queries
from cityloop.core.errors import DomainError
from cityloop.core.pagination import PageParams
from cityloop.deps import ClockDep, ReadSessionDep, SessionDep
from cityloop.intake import queries as intake_queries
from cityloop.intake import review
from cityloop.web import session as web_session
from cityloop.web.templating import flash_url, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(web_session.check_csrf)])
Reviewer = Annotated[Principal, web_session.require(Permission.INTAKE_REVIEW)]
PAGE_SIZE = 30


def _page(request: Request, session: ReadSessionDep, page: int, error: str | None = None,
          status: int = 200) -> Response:
    rows, total = intake_queries.review_queue(session, PageParams(PAGE_SIZE, (page - 1) * PAGE_SIZE))
    names = catalog_queries.names(session, {(r.kind, r.category_code) for r, _ in rows})
    return render(request, "queues/review.html", {
        "rows": [(r, n, names.get((r.kind, r.category_code), r.category_code)) for r, n in rows],
        "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "error": error},
        status_code=status)


@router.get("/work/review")
def review_page(request: Request, session: ReadSessionDep, _p: Reviewer,
                page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    return _page(request, session, page)


@router.post("/work/review/{report_id}/{decision}")
def decide(request: Request, report_id: int, decision: str, session: SessionDep, principal: Reviewer,
           clock: ClockDep, note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        if decision == "accept":
            case = review.accept(session, principal, report_id, note.strip(), now=clock.now())
            code, number = "review_accepted", case.number
        elif decision == "reject":
            if not note.strip():
                session.rollback()
                return _page(request, session, 1, "理由（reason）：驳回需填写理由", 422)
            review.reject(session, principal, report_id, note.strip(), now=clock.now())
            code, number = "review_rejected", None
        else:
            return _page(request, session, 1, f"没有名为 {decision} 的审核操作", 404)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, 1, exc.message, exc.status)
    session.commit()
    return redirect(request, flash_url("/work/review", code, number))
