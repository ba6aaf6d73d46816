from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cityloop.auth.deps import require
from cityloop.auth.permissions import Permission
from cityloop.core.pagination import MAX_LIMIT, PageParams
from cityloop.deps import ReadSessionDep
from cityloop.units import queries
from cityloop.units.models import UnitLevel
from cityloop.units.schemas import UnitOut, UnitPage

router = APIRouter(prefix="/api/v1", tags=["units"])


@router.get("/units", response_model=UnitPage, dependencies=[require(Permission.UNIT_READ)])
def list_units(session: ReadSessionDep, level: UnitLevel | None = None, parent_id: int | None = None,
               q: Annotated[str | None, Query(max_length=100)] = None,
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
               offset: Annotated[int, Query(ge=0)] = 0) -> UnitPage:
    rows, total = queries.list_units(session, PageParams(limit, offset), level=level, parent_id=parent_id, q=q)
    return UnitPage(items=[UnitOut.model_validate(u) for u in rows], total=total, limit=limit, offset=offset)
