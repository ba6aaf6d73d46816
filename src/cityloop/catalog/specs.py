"""A class directory as plain data, before it becomes rows: what the shipped seed and an imported file both
produce, so that one writer (service.create_version) and one set of checks serve both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityloop.catalog.deadline_text import ParsedDeadline
from cityloop.catalog.enums import Kind


@dataclass(frozen=True)
class StandardSpec:
    """One 立结案标准 row. `deadline.unit` is what the clock runs on; `deadline.text` is the source's words."""

    filing_criteria: str
    closing_criteria: str
    deadline: ParsedDeadline
    handling_subject: str = ""
    supervising_subject: str = ""
    region_deadlines: dict[str, Any] | None = None
    source: str = ""


@dataclass
class ClassSpec:
    """One minor class (小类) and its standards in file order; a class may have none (national directory)."""

    kind: Kind
    major_code: str
    major_name: str
    sub_code: str
    name: str
    source: str = ""
    standards: list[StandardSpec] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.major_code + self.sub_code
