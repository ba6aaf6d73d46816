from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from cityloop.catalog.enums import Kind
from cityloop.core.serialization import BizDateTime


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scheme: str
    kind: Kind
    code: str
    name: str
    major_code: str
    major_name: str
    sub_code: str


class MajorOut(BaseModel):
    """A major class (大类) and its minor classes, the way report forms offer them."""

    kind: Kind
    major_code: str
    major_name: str
    children: list[CategoryOut]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    source: str
    created_at: BizDateTime
    adopted_at: BizDateTime | None
    adopted: bool  # the current directory: adopted last
    categories: int
    standards: int


class DeadlineOut(BaseModel):
    amount: float
    unit: str   # what the clock runs on (core.timeunits.TimeUnit)
    text: str   # the standard's own words


class FilingStandardOut(BaseModel):
    id: int
    category_id: int
    kind: Kind
    code: str
    category_name: str
    seq: int
    filing_criteria: str
    closing_criteria: str
    deadline: DeadlineOut
    urgent: bool
    handling_subject: str
    supervising_subject: str
    region_deadlines: dict[str, Any] | None
    source: str


def majors_of(categories: list[CategoryOut]) -> list[MajorOut]:
    """Group classes (ordered by kind, code) under their majors. A major is named as most of its classes name it:
    运城's 02 is 交通设施 in the formal file and 道路交通设施 in the workbook, verbatim; each class keeps its own."""
    groups: dict[tuple[Kind, str], list[CategoryOut]] = {}
    for cat in categories:
        groups.setdefault((cat.kind, cat.major_code), []).append(cat)
    return [MajorOut(kind=kind, major_code=major,
                     major_name=Counter(c.major_name for c in children).most_common(1)[0][0], children=children)
            for (kind, major), children in groups.items()]
