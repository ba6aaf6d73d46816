"""The class directory and its filing standards. Public reads: citizens need the classes to report, and the
standards say what counts as a case and how long handling may take."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cityloop.catalog import queries
from cityloop.catalog.enums import Kind
from cityloop.catalog.schemas import (
    CategoryOut,
    DeadlineOut,
    FilingStandardOut,
    MajorOut,
    VersionOut,
    majors_of,
)
from cityloop.core.errors import NotFound
from cityloop.deps import ReadSessionDep

router = APIRouter(prefix="/api/v1", tags=["catalog"])

VersionQuery = Annotated[str | None, Query(max_length=40, description="a version code; default: the adopted one")]


@router.get("/categories", response_model=list[MajorOut])
def list_categories(session: ReadSessionDep, kind: Kind | None = None,
                    version: VersionQuery = None) -> list[MajorOut]:
    """The class directory as a tree of majors, from the adopted version unless `version` names another."""
    scheme = queries.resolve_version(session, version)
    cats = [CategoryOut.model_validate(c) for c in queries.list_categories(session, kind=kind, scheme=scheme)]
    return majors_of(cats)


@router.get("/catalog/versions", response_model=list[VersionOut])
def list_versions(session: ReadSessionDep) -> list[VersionOut]:
    """Every directory version the city holds, oldest first; `adopted` marks the one reports are filed under."""
    return [VersionOut.model_validate(v) for v in queries.list_versions(session)]


@router.get("/filing-standards", response_model=list[FilingStandardOut])
def list_filing_standards(
    session: ReadSessionDep,
    kind: Kind,
    code: Annotated[str, Query(pattern=r"^\d{4,5}$", description="class code, e.g. 0101 or 01001")],
    version: VersionQuery = None,
) -> list[FilingStandardOut]:
    """The 立结案标准 rows of one class in the standard's order. A class may have none (the national directory
    gives codes and names only)."""
    scheme = queries.resolve_version(session, version)
    if queries.find(session, kind, code, scheme=scheme) is None:
        raise NotFound(f"code: no {kind.value} class {code} in version '{scheme}'", field="code")
    return [FilingStandardOut(
        id=s.id, category_id=c.id, kind=c.kind, code=c.code, category_name=c.name, seq=s.seq,
        filing_criteria=s.filing_criteria, closing_criteria=s.closing_criteria,
        deadline=DeadlineOut(amount=s.deadline_amount, unit=s.deadline_unit, text=s.deadline_text),
        urgent=s.urgent, handling_subject=s.handling_subject, supervising_subject=s.supervising_subject,
        region_deadlines=s.region_deadlines, source=s.source)
        for c, s in queries.standards_of_version(session, scheme, kind=kind, code=code)]
