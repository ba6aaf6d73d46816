"""Service definitions (doc §4) built from the filing standard, and the server-side check of submitted
attribute values (§4.1). Pure: callers pass the standard's rows as plain values.

What a definition holds:
* FILING_NOTE (variable=false): the 立案条件 and 处置时限 of the class, so every client shows them;
* FILING_ROW (singlevaluelist, optional) when the class has two or more rows (情形): which one fits;
* ASSET_CODE (string, optional) for 部件 classes: the 17-digit 部件标识码 (the same as address_id).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from cityloop.catalog.enums import Kind
from cityloop.open311.timefmt import parse_dt

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
MAX_STRING = 255
MAX_TEXT = 4000
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

FILING_NOTE, FILING_ROW, ASSET_CODE = "FILING_NOTE", "FILING_ROW", "ASSET_CODE"


@dataclass(frozen=True)
class StandardRow:
    """What a definition needs of one 立结案标准 row."""

    seq: int
    filing_criteria: str
    deadline_text: str = ""
    urgent: bool = False


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    description: str
    order: int
    required: bool = False
    variable: bool = True
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (key, name) for the list types
    pattern: str | None = None                # an extra check of string values
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def as_open311(self) -> dict[str, Any]:
        """The spec's field order; `values` only for the list types."""
        out: dict[str, Any] = {
            "variable": self.variable, "code": self.code, "datatype": self.datatype, "required": self.required,
            "datatype_description": self.datatype_description, "order": self.order, "description": self.description,
        }
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            out["values"] = [{"key": k, "name": n} for k, n in self.values]
        return out


def _row_text(row: StandardRow) -> str:
    text = row.filing_criteria.strip() or "（未写明立案条件）"
    if row.deadline_text.strip():
        text += f"（处置时限：{row.deadline_text.strip()}）"
    return text + ("【紧急】" if row.urgent else "")


def definition(kind: Kind, rows: Sequence[StandardRow]) -> list[Attribute]:
    rows = sorted(rows, key=lambda r: r.seq)
    attrs: list[Attribute] = []
    if rows:
        if len(rows) == 1:
            note = "立案条件：" + _row_text(rows[0])
        else:
            note = "立案条件（按情形）：" + "；".join(f"{i}. {_row_text(r)}" for i, r in enumerate(rows, start=1))
        attrs.append(Attribute(FILING_NOTE, "string", note, order=1, variable=False))
    if len(rows) >= 2:
        attrs.append(Attribute(
            FILING_ROW, "singlevaluelist", "符合哪一种情形（立案标准）", order=len(attrs) + 1,
            datatype_description="选择最符合现场的一项；不确定可不选",
            values=tuple((str(r.seq), _row_text(r)[:200]) for r in rows)))
    if kind is Kind.PART:
        attrs.append(Attribute(
            ASSET_CODE, "string", "部件编码（部件上的二维码或铭牌所示）", order=len(attrs) + 1,
            datatype_description="17位数字部件标识码，可不填", pattern=r"^\d{17}$"))
    return attrs


def summary(rows: Sequence[StandardRow]) -> str | None:
    """The service list's one-line description: the first row's filing criterion."""
    first = next((r.filing_criteria.strip() for r in sorted(rows, key=lambda r: r.seq) if r.filing_criteria.strip()),
                 None)
    if first is None:
        return None
    line = first.splitlines()[0]
    return line if len(line) <= 120 else line[:119] + "…"


@dataclass
class Checked:
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _one(attr: Attribute, given: list[str], out: Checked) -> str | None:
    if len(given) > 1:
        out.problems.append(f"attribute[{attr.code}] takes one value, got {len(given)}")
        return None
    return given[0]


def check(attrs: Sequence[Attribute], submitted: dict[str, list[str]]) -> Checked:
    """Every problem at once (doc §5: the 400s are collected). Unknown codes and notes (variable=false) are
    ignored; values come back typed (numbers as strings of the decimal, datetimes as UTC ISO strings)."""
    out = Checked()
    for attr in sorted(attrs, key=lambda a: a.order):
        if not attr.variable:
            continue
        given = [v.strip() for v in submitted.get(attr.code, []) if v.strip()]
        name = f"attribute[{attr.code}]"
        if not given:
            if attr.required:
                out.problems.append(f"{name} is required")
            continue
        if attr.datatype == "multivaluelist":
            keys = {k for k, _ in attr.values}
            chosen = list(dict.fromkeys(given))  # duplicates dropped, order kept; never split on commas
            bad = [v for v in chosen if v not in keys]
            if bad:
                out.problems.append(f"{name}: '{bad[0]}' is not one of {', '.join(k for k, _ in attr.values)}")
            else:
                out.values[attr.code] = chosen
            continue
        value = _one(attr, given, out)
        if value is None:
            continue
        problem = _problem(attr, value)
        if problem:
            out.problems.append(f"{name}: {problem}")
        else:
            out.values[attr.code] = _typed(attr, value)
    return out


def _problem(attr: Attribute, value: str) -> str | None:
    match attr.datatype:
        case "string":
            if "\n" in value or "\r" in value:
                return "must be a single line"
            if len(value) > MAX_STRING:
                return f"exceeds {MAX_STRING} characters"
            if attr.pattern and not re.match(attr.pattern, value):
                return f"is not valid: {attr.datatype_description or attr.pattern}"
        case "text":
            if len(value) > MAX_TEXT:
                return f"exceeds {MAX_TEXT} characters"
        case "number":
            if not _NUMBER.match(value):
                return f"must be a decimal number, got '{value[:40]}'"
            try:
                number = Decimal(value)
            except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
                return "must be a decimal number"
            if attr.minimum is not None and number < attr.minimum:
                return f"must be at least {attr.minimum}"
            if attr.maximum is not None and number > attr.maximum:
                return f"must be at most {attr.maximum}"
        case "datetime":
            try:
                parse_dt(value)
            except ValueError:
                return f"must be an ISO 8601 datetime, got '{value[:40]}'"
        case "singlevaluelist":
            keys = [k for k, _ in attr.values]
            if value not in keys:
                return f"'{value[:40]}' is not one of {', '.join(keys)}"
    return None


def _typed(attr: Attribute, value: str) -> Any:
    if attr.datatype == "datetime":
        return parse_dt(value).isoformat()
    return value
