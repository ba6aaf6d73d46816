"""A class directory with its 立结案标准 in the shape cities keep it: an Excel workbook with sheets 部件 and 事件,
or one CSV with a leading 类型 column. One row per standard; a class without standards is one row with the
criteria, deadline and subjects empty.

Reading validates everything before anything is built and reports every bad cell (sheet, row as Excel numbers
it, column, what is wrong), so a city fixes its file in one pass instead of one error per attempt.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cityloop.catalog.deadline_text import DeadlineTextError, ParsedDeadline, format_deadline, parse_deadline
from cityloop.catalog.enums import KIND_BY_LABEL, KIND_LABELS, Kind
from cityloop.catalog.specs import ClassSpec, StandardSpec
from cityloop.core.errors import ValidationFailed

KIND_COLUMN = "类型"
MAJOR_CODE, MAJOR_NAME, CODE, NAME = "大类代码", "大类名称", "小类代码", "小类名称"
FILING, CLOSING, DEADLINE, HANDLING, SUPERVISING = "立案条件", "结案条件", "处置时限", "处置单位", "主管部门"
COLUMNS = (MAJOR_CODE, MAJOR_NAME, CODE, NAME, FILING, CLOSING, DEADLINE, HANDLING, SUPERVISING)
# Optional. 处置时限原文 keeps a source's own words where they differ from what the clock runs on (运城's workbook
# says "3天" for 3 工作日); without it an export would re-import with a different unit.
DEADLINE_TEXT = "处置时限原文"
REGION_COLUMNS = {"处置时限A": "A", "处置时限B": "B", "处置时限C": "C"}
SHEETS = tuple(KIND_LABELS.values())  # 部件, 事件
_LIMITS = {MAJOR_NAME: 100, NAME: 100, DEADLINE: 100, DEADLINE_TEXT: 100, HANDLING: 300, SUPERVISING: 300}
_STANDARD_COLUMNS = (FILING, CLOSING, DEADLINE, DEADLINE_TEXT, HANDLING, SUPERVISING, *REGION_COLUMNS)


@dataclass(frozen=True)
class CellError:
    sheet: str
    row: int  # as Excel and text editors number it: the header is row 1; 0 = the whole sheet or file
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.sheet} row {self.row}" if self.row else self.sheet
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportRejected(ValidationFailed):
    """The file has problems; `errors` lists each one and nothing was created."""

    def __init__(self, errors: list[CellError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the file; nothing was imported", field="file",
                         code="import_rejected", details={"errors": [asdict(e) for e in errors]})
        self.errors = errors


@dataclass(frozen=True)
class _Row:
    sheet: str
    number: int
    kind_label: str
    cells: dict[str, str]


def _text(value: Any) -> str:
    # Excel turns a typed 01 into the number 1; render numbers plainly so the code check can say what it saw.
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- reading -------------------------------------------------------------------------------------------------

def read_catalog(path: Path) -> list[ClassSpec]:
    """The classes and standards of an .xlsx or .csv file, or ImportRejected listing every problem."""
    errors: list[CellError] = []
    rows = list(_read(path, errors))
    specs = _build(rows, errors)
    if not specs and not errors:
        # An empty directory, once adopted, would leave citizens nothing to report under.
        errors.append(CellError(path.name, 0, "", "no classes: the file has a header but no rows"))
    if errors:
        raise ImportRejected(errors)
    return specs


def _read(path: Path, errors: list[CellError]) -> Iterator[_Row]:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        yield from _read_xlsx(path, errors)
    elif suffix == ".csv":
        yield from _read_csv(path, errors)
    else:
        errors.append(CellError(path.name, 0, "", f"unknown format '{suffix}': use .xlsx or .csv"))


def _header(sheet: str, header: list[str], required: Iterable[str], errors: list[CellError]) -> bool:
    ok = True
    for col in required:
        if col not in header:
            errors.append(CellError(sheet, 1, col, "missing column"))
            ok = False
    for col in {c for c in header if c and header.count(c) > 1}:
        errors.append(CellError(sheet, 1, col, "column appears more than once"))
        ok = False
    return ok


def _read_xlsx(path: Path, errors: list[CellError]) -> Iterator[_Row]:
    from openpyxl import load_workbook  # imported here: only Excel imports pay for loading it

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        present = [s for s in SHEETS if s in book.sheetnames]
        if not present:
            errors.append(CellError(path.name, 0, "", f"no sheet named {' or '.join(SHEETS)}"))
        for sheet in present:
            values = book[sheet].iter_rows(values_only=True)
            header = [_text(v) for v in next(values, ())]
            if not _header(sheet, header, COLUMNS, errors):
                continue
            for number, raw in enumerate(values, start=2):
                cells = {col: _text(v) for col, v in zip(header, raw, strict=False) if col}
                yield _Row(sheet, number, sheet, cells)
    finally:
        book.close()


def _read_csv(path: Path, errors: list[CellError]) -> Iterator[_Row]:
    # utf-8-sig: Excel saves "CSV UTF-8" with a byte-order mark; plain UTF-8 reads the same.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not _header(path.name, header, (KIND_COLUMN, *COLUMNS), errors):
            return
        for number, raw in enumerate(reader, start=2):
            cells = {col: _text(v) for col, v in zip(header, raw, strict=False) if col}
            yield _Row(path.name, number, cells.get(KIND_COLUMN, ""), cells)


def _deadline(row: _Row, column: str, errors: list[CellError]) -> ParsedDeadline | None:
    try:
        return parse_deadline(row.cells[column])
    except DeadlineTextError as exc:
        errors.append(CellError(row.sheet, row.number, column, str(exc)))
        return None


def _codes(row: _Row, err: Callable[[str, str], None]) -> tuple[str, str] | None:
    major, code = row.cells.get(MAJOR_CODE, ""), row.cells.get(CODE, "")
    ok = True
    for col, value in ((MAJOR_CODE, major), (CODE, code)):
        if not value:
            err(col, "missing code")
            ok = False
        elif not value.isdigit():
            err(col, f"'{value}' is not all digits")
            ok = False
    if ok and len(major) != 2:
        err(MAJOR_CODE, f"'{major}' must be 2 digits (keep codes as text so leading zeros survive)")
        return None
    if not ok:
        return None
    # The minor code alone (2 digits legacy, 3 digits GB/T 47678.5) or the full class code (0101, 01001).
    if len(code) in (2, 3):
        return major, code
    if len(code) in (4, 5) and code.startswith(major):
        return major, code[2:]
    err(CODE, f"'{code}' must be the 2–3 digit minor code or the full code beginning with 大类代码 '{major}'")
    return None


def _build(rows: Iterable[_Row], errors: list[CellError]) -> list[ClassSpec]:
    classes: dict[tuple[Kind, str], tuple[ClassSpec, _Row]] = {}
    seen: dict[tuple[Kind, str, str], _Row] = {}
    for row in rows:
        if not any(row.cells.values()):
            continue  # blank lines at the end of a sheet are not rows

        def err(column: str, message: str, row: _Row = row) -> None:
            errors.append(CellError(row.sheet, row.number, column, message))

        before = len(errors)
        kind = KIND_BY_LABEL.get(row.kind_label)
        if kind is None:
            err(KIND_COLUMN, f"'{row.kind_label}' is not 部件 or 事件" if row.kind_label else "missing")
        codes = _codes(row, err)
        for col in (MAJOR_NAME, NAME):
            if not row.cells.get(col):
                err(col, "missing")
        for col, limit in _LIMITS.items():
            if len(row.cells.get(col, "")) > limit:
                err(col, f"longer than {limit} characters")
        standard = _standard(row, errors)
        if kind is None or codes is None or len(errors) > before:
            continue
        major, sub = codes
        key = (kind, major + sub)
        known = classes.get(key)
        if known is None:
            spec = ClassSpec(kind, major, row.cells[MAJOR_NAME], sub, row.cells[NAME])
            classes[key] = (spec, row)
        else:
            spec, first = known
            for col, value in ((MAJOR_NAME, spec.major_name), (NAME, spec.name)):
                if row.cells[col] != value:
                    err(col, f"'{row.cells[col]}' differs from '{value}' given for {row.kind_label} "
                             f"{spec.code} on {first.sheet} row {first.number}")
        dup_key = (kind, spec.code, row.cells.get(FILING, ""))
        if dup_key in seen:
            other = seen[dup_key]
            err(FILING, f"duplicate row: {row.kind_label} {spec.code} has this 立案条件 already on "
                        f"{other.sheet} row {other.number}")
        seen.setdefault(dup_key, row)
        if standard is not None:
            spec.standards.append(standard)
    return [spec for spec, _ in classes.values()]


def _standard(row: _Row, errors: list[CellError]) -> StandardSpec | None:
    """The row's standard; None for a class-only row (or a bad one, with its errors recorded)."""
    cells = row.cells
    if not any(cells.get(col) for col in _STANDARD_COLUMNS):
        return None
    deadline = None
    if not cells.get(DEADLINE):
        errors.append(CellError(row.sheet, row.number, DEADLINE, "missing: a row with criteria needs a deadline"))
    else:
        deadline = _deadline(row, DEADLINE, errors)
    regions: dict[str, Any] = {}
    for col, region in REGION_COLUMNS.items():
        if cells.get(col):
            parsed = _deadline(row, col, errors)
            if parsed is not None:
                regions[region] = {"amount": parsed.amount, "unit": parsed.unit.value}
    if deadline is None:
        return None
    if cells.get(DEADLINE_TEXT):
        deadline = ParsedDeadline(deadline.amount, deadline.unit, cells[DEADLINE_TEXT])
    return StandardSpec(filing_criteria=cells.get(FILING, ""), closing_criteria=cells.get(CLOSING, ""),
                        deadline=deadline, handling_subject=cells.get(HANDLING, ""),
                        supervising_subject=cells.get(SUPERVISING, ""), region_deadlines=regions or None)


# --- writing -------------------------------------------------------------------------------------------------

def _deadline_cells(deadline: ParsedDeadline) -> tuple[str, str]:
    """(处置时限, 处置时限原文): the source's words alone when they read back as the same amount and unit."""
    try:
        again = parse_deadline(deadline.text)
    except DeadlineTextError:
        again = None
    if again is not None and (again.amount, again.unit, again.text) == (deadline.amount, deadline.unit,
                                                                          deadline.text):
        return deadline.text, ""
    return format_deadline(deadline.amount, deadline.unit), deadline.text


def _table(specs: Iterable[ClassSpec]) -> list[tuple[Kind, dict[str, str]]]:
    rows: list[tuple[Kind, dict[str, str]]] = []
    for spec in specs:
        base = {MAJOR_CODE: spec.major_code, MAJOR_NAME: spec.major_name, CODE: spec.code, NAME: spec.name}
        if not spec.standards:
            rows.append((spec.kind, base))
        for std in spec.standards:
            deadline, text = _deadline_cells(std.deadline)
            row = {**base, FILING: std.filing_criteria, CLOSING: std.closing_criteria, DEADLINE: deadline,
                   DEADLINE_TEXT: text, HANDLING: std.handling_subject, SUPERVISING: std.supervising_subject}
            for col, region in REGION_COLUMNS.items():
                value = (std.region_deadlines or {}).get(region)
                row[col] = format_deadline(value["amount"], value["unit"]) if value else ""
            rows.append((spec.kind, row))
    return rows


def _columns(rows: list[tuple[Kind, dict[str, str]]]) -> list[str]:
    # Optional columns only when some row fills them: a plain directory exports the plain template.
    optional = [c for c in (DEADLINE_TEXT, *REGION_COLUMNS) if any(r.get(c) for _, r in rows)]
    return [*COLUMNS, *optional]


def write_catalog(path: Path, specs: Iterable[ClassSpec]) -> int:
    """Write `specs` as .xlsx (sheets 部件, 事件) or .csv (类型 first) by the suffix. Returns the data rows."""
    rows = _table(specs)
    columns = _columns(rows)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        _write_xlsx(path, columns, rows)
    elif suffix == ".csv":
        # utf-8-sig so that Excel, which most cities open CSV files with, reads the Chinese text correctly.
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            out.writerow([KIND_COLUMN, *columns])
            out.writerows([KIND_LABELS[kind], *(row.get(c, "") for c in columns)] for kind, row in rows)
    else:
        raise ValidationFailed(f"file: unknown format '{suffix}': use .xlsx or .csv", field="file")
    return len(rows)


def _write_xlsx(path: Path, columns: list[str], rows: list[tuple[Kind, dict[str, str]]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for kind, label in KIND_LABELS.items():
        sheet = book.create_sheet(label)
        sheet.append(columns)
        for row_kind, row in rows:
            if row_kind is kind:
                sheet.append([row.get(c, "") for c in columns])
                for cell in sheet[sheet.max_row]:
                    # A criterion that starts with "=" must stay text, not become a formula Excel evaluates.
                    if cell.data_type == "f":
                        cell.data_type = "s"
        sheet.freeze_panes = "A2"
    book.save(path)
