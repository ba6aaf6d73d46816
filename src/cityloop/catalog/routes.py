from __future__ import annotations

from fastapi import APIRouter

from cityloop.catalog import queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.schemas import CategoryOut
from cityloop.deps import ReadSessionDep

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(session: ReadSessionDep, kind: Kind | None = None) -> list[CategoryOut]:
    """The adopted class directory (GB/T 47678.5-2026). Public: citizens need it to report."""
    return [CategoryOut.model_validate(c) for c in queries.list_categories(session, kind=kind)]
