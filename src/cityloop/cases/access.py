"""Who sees which case, applied where the case is loaded: 404 if the caller may not see it, 403 if the caller
sees it but may not act on it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from cityloop.auth.permissions import Permission
from cityloop.auth.principal import Principal
from cityloop.cases.models import Case, CaseTask
from cityloop.core.errors import NotFound

_AREA_COLUMN = {6: Case.district_code, 9: Case.street_code, 12: Case.community_code, 15: Case.grid_code}


def area_clause(area_code: str) -> ColumnElement[bool]:
    return _AREA_COLUMN[len(area_code)] == area_code


def visibility(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause selecting the cases this principal may see.

    Staff scoped to an area (a district command centre) see every case located in it, as city-wide staff see
    every case; a case not yet located (no map loaded) is city business.
    """
    if principal.has(Permission.CASE_READ_ALL):
        return area_clause(principal.area_code) if principal.area_code else sa.true()
    clauses: list[ColumnElement[bool]] = []
    if principal.has(Permission.CASE_READ_UNIT) and principal.unit_ids:
        clauses.append(Case.unit_id.in_(principal.unit_ids))
    if principal.has(Permission.CASE_READ_TASKS):
        clauses.append(Case.reporter_id == principal.user_id)
        clauses.append(sa.exists().where(CaseTask.case_id == Case.id,
                                         CaseTask.collector_id == principal.user_id))
    if principal.has(Permission.CASE_READ_OWN):
        clauses.append(Case.reporter_id == principal.user_id)
    return sa.or_(*clauses) if clauses else sa.false()


def get_case_for(session: Session, principal: Principal, case_id: int,
                 need: Permission | None = None) -> Case:
    """Load a case once, checking scope then permission.

    Raises NotFound (also for cases outside the caller's scope, so their existence does not leak) and
    Forbidden when the caller sees the case but lacks `need`.
    """
    # Requests and tasks come with the case: commands read them, and a lazy load in the middle of a command
    # would flush the case's changes early (a second UPDATE, a second version, for one command).
    case = session.scalar(sa.select(Case).where(Case.id == case_id, visibility(principal))
                          .options(selectinload(Case.requests), selectinload(Case.tasks)))
    if case is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    if need is not None:
        principal.require(need)
    return case
