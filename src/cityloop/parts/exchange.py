"""The 部件 inventory in and out as cities survey it: a CSV whose header uses the field names of GB/T 47678.5-2026
(GLBJBSM, GLBJMC, …) plus the point as X/Y or LON/LAT, or Point features with the same properties in any file
`areas.sources.read_features` reads (GeoJSON first of all).

An import checks every row before it writes one and reports every problem it finds (row, field, what is wrong),
up to `MAX_ERRORS`, so a city fixes its survey in one pass; if any row fails nothing is stored. Points are located
all at once with the area index: the map decides the grid, street and community, and the district a code's first
six digits must name.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from shapely.geometry import Point
from sqlalchemy.orm import Session

from cityloop.areas import index as area_index
from cityloop.areas.sources import read_features
from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.core import crs as crs_mod
from cityloop.core.errors import ValidationFailed
from cityloop.parts import service
from cityloop.parts.models import PART_STATUS_LABELS, Part, PartStatus
from cityloop.parts.service import PartRecord, Progress

# The attribute fields of 管理部件 in the standard's order (domain.md §4.4); an export writes them in this order.
CODE, NAME = "GLBJBSM", "GLBJMC"
COMPETENT_CODE, COMPETENT_NAME = "ZGBMDM", "ZGBMMC"
OWNER_CODE, OWNER_NAME = "QSDWDM", "QSDWMC"
MAINTAINER_CODE, MAINTAINER_NAME = "YHDWDM", "YHDWMC"
GRID, STATUS, SURVEYED, CHANGED, SOURCE, NOTE = "SZDYWGBSM", "GLBJZT", "CSRQ", "BGRQ", "SJLY", "BZ"
STREET_CODE, STREET_NAME, COMMUNITY_CODE, COMMUNITY_NAME = "SZJDDM", "SZJDMC", "SZSQDM", "SZSQMC"
FIELDS = (CODE, NAME, COMPETENT_CODE, COMPETENT_NAME, OWNER_CODE, OWNER_NAME, MAINTAINER_CODE, MAINTAINER_NAME,
          GRID, STATUS, SURVEYED, CHANGED, SOURCE, NOTE, STREET_CODE, STREET_NAME, COMMUNITY_CODE, COMMUNITY_NAME)
# SZDYWGBSM is mandatory in the standard, but the map knows the grid: an empty cell is filled, not refused.
MANDATORY = (CODE, NAME, COMPETENT_CODE, COMPETENT_NAME, STATUS, SURVEYED)
COORDINATE_PAIRS = (("X", "Y"), ("LON", "LAT"))
EXPORT_COLUMNS = (*FIELDS, "X", "Y")

_LIMITS = {NAME: 30, COMPETENT_CODE: 18, COMPETENT_NAME: 100, OWNER_CODE: 18, OWNER_NAME: 100,
           MAINTAINER_CODE: 18, MAINTAINER_NAME: 100, SOURCE: 30, NOTE: 1000, STREET_NAME: 50, COMMUNITY_NAME: 50}
_DIGITS = {GRID: 15, STREET_CODE: 9, COMMUNITY_CODE: 12}
_STATUS = {**{label: status for status, label in PART_STATUS_LABELS.items()}, **{s.value: s for s in PartStatus}}
_DATE_RE = re.compile(r"[0-9]{8}")

# Enough to show a city what kind of trouble its file has; a file with 90,000 bad dates needs one fix, not a list.
MAX_ERRORS = 50
_EXPORT_CHUNK = 5_000


@dataclass(frozen=True)
class RowError:
    # CSV: as Excel and text editors number it (the header is row 1; 0 = the whole file). Other files: the
    # feature's 0-based position, as areas.sources names features.
    row: int
    field: str
    message: str
    label: str = "row"

    def __str__(self) -> str:
        if self.label == "row" and not self.row:
            return f"{self.field}: {self.message}"
        return f"{self.label} {self.row}, {self.field}: {self.message}"


class ImportRejected(ValidationFailed):
    """The file has problems; `errors` lists them (the first MAX_ERRORS) and nothing was stored."""

    def __init__(self, errors: list[RowError], *, truncated: bool = False) -> None:
        shown = f" (the first {len(errors)} shown)" if truncated else ""
        super().__init__(f"{len(errors)}{'+' if truncated else ''} problem(s) in the file{shown}; nothing was "
                         "imported", field="file", code="import_rejected",
                         details={"errors": [asdict(e) for e in errors], "truncated": truncated})
        self.errors = errors
        self.truncated = truncated


@dataclass(frozen=True)
class ImportCounts:
    rows: int
    inserted: int
    updated: int
    unchanged: int  # codes already stored with the same attributes: left alone, BGRQ untouched


class _Errors:
    def __init__(self, label: str) -> None:
        self.label = label
        self.items: list[RowError] = []
        self.count = 0  # found, including those past MAX_ERRORS

    @property
    def truncated(self) -> bool:
        return self.count > len(self.items)

    def add(self, row: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(RowError(row, column, message, self.label))

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportRejected(self.items, truncated=self.truncated)


@dataclass
class _Table:
    """What a file holds, before any checks: the attribute cells (in FIELDS order) and the point of each row."""

    label: str  # "row" or "feature"
    coord_field: str  # the column (or "geometry") blamed for a bad point
    numbers: list[int] = field(default_factory=list)
    cells: list[list[str]] = field(default_factory=list)
    x: list[float] = field(default_factory=list)  # NaN where the file gave no usable point
    y: list[float] = field(default_factory=list)
    bad_point: dict[int, str] = field(default_factory=dict)  # position → why its point is unusable
    converted: bool = False  # x/y already WGS-84 (read_features converts)


def _text(value: Any) -> str:
    # GeoJSON properties may be numbers: 20260101 or 20260101.0 must read as the date text a CSV would hold.
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_digits(text: str, length: int) -> bool:
    # isascii: str.isdigit alone accepts full-width ０-９, which no code is written in.
    return len(text) == length and text.isascii() and text.isdigit()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- reading ------------------------------------------------------------------------------------------------

def _decode(path: Path, errors: _Errors) -> str | None:
    raw = path.read_bytes()
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark; plain UTF-8 reads the same.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on a Chinese Windows saves plain "CSV" as GBK; GB 18030 decodes every GBK file and more.
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        errors.add(0, "file", "the file is neither UTF-8 nor GBK text")
        return None


def _read_csv(path: Path, errors: _Errors) -> _Table | None:
    text = _decode(path, errors)
    if text is None:
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().upper() for h in next(reader, [])]
    if not any(header):
        errors.add(0, "file", "the file is empty: it needs a header row naming the fields")
        return None
    for col in sorted({h for h in header if h and header.count(h) > 1}):
        errors.add(1, col, "column appears more than once")
    for col in MANDATORY:
        if col not in header:
            errors.add(1, col, "missing column")
    pairs = [p for p in COORDINATE_PAIRS if p[0] in header and p[1] in header]
    if not pairs:
        errors.add(1, "X/Y", "missing coordinate columns: give X and Y, or LON and LAT")
    elif len(pairs) > 1:
        errors.add(1, "X/Y", "both X/Y and LON/LAT columns: keep one pair")
    if errors.items:
        return None
    x_col, y_col = header.index(pairs[0][0]), header.index(pairs[0][1])
    positions = [header.index(f) if f in header else -1 for f in FIELDS]
    table = _Table(label="row", coord_field=pairs[0][0])
    for number, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue  # blank lines (often at the end of a file) are not rows
        width = len(raw)
        table.numbers.append(number)
        table.cells.append([raw[i].strip() if 0 <= i < width else "" for i in positions])
        x_text = raw[x_col].strip() if x_col < width else ""
        y_text = raw[y_col].strip() if y_col < width else ""
        x, y = _number(x_text), _number(y_text)
        if x is None or y is None:
            table.bad_point[len(table.x)] = ("missing coordinates" if not x_text or not y_text
                                             else f"({x_text}, {y_text}) is not a pair of numbers")
            x = y = math.nan
        table.x.append(x)
        table.y.append(y)
    return table


def _read_features(path: Path, crs: str | None) -> _Table:
    features = read_features(path, crs)
    table = _Table(label="feature", coord_field="geometry", converted=True)
    for number, feature in enumerate(features.features):
        props = {str(k).strip().upper(): v for k, v in feature.properties.items()}
        table.numbers.append(number)
        table.cells.append([_text(props.get(f)) for f in FIELDS])
        geom = feature.geometry
        if isinstance(geom, Point) and not geom.is_empty:
            table.x.append(float(geom.x))
            table.y.append(float(geom.y))
        else:
            kind = "no geometry" if geom is None or geom.is_empty else f"a {geom.geom_type}"
            table.bad_point[len(table.x)] = f"a 部件 is a Point, not {kind}"
            table.x.append(math.nan)
            table.y.append(math.nan)
    return table


# --- checking -----------------------------------------------------------------------------------------------

def _date(text: str) -> date | None:
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Located:
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    where: area_index.BulkLocation


def _locate(session: Session, table: _Table, crs: str | None) -> _Located:
    x = np.asarray(table.x, dtype=np.float64)
    y = np.asarray(table.y, dtype=np.float64)
    if table.converted:
        lon, lat = x, y
    else:
        spec = crs_mod.parse_crs(crs or "wgs84")
        if spec.is_geographic:
            _flag_non_degrees(table, x, y)
        lon, lat = crs_mod.to_wgs84_arrays(x, y, spec)
    index = area_index.get_index(session)
    if index.empty:
        raise area_index.NoMap("no map is loaded: import territories and grids before 部件", field="file")
    usable = np.isfinite(lon) & np.isfinite(lat)
    # A point PROJ could not convert (inf) would make shapely's tree query fail; park it where no district is.
    where = index.locate_many(np.where(usable, lon, 0.0), np.where(usable, lat, 0.0))
    return _Located(lon, lat, where)


def _flag_non_degrees(table: _Table, x: NDArray[np.float64], y: NDArray[np.float64]) -> None:
    """Longitude/latitude out of range almost always means metres, or the two columns swapped."""
    outside = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & ((np.abs(x) > 180.0) | (np.abs(y) > 90.0)))
    for i in outside.tolist():
        if abs(x[i]) <= 90.0 < abs(y[i]) <= 180.0:
            table.bad_point[i] = f"({x[i]:.6g}, {y[i]:.6g}) is latitude first: give longitude as X / LON"
        else:
            table.bad_point[i] = (f"({x[i]:.6g}, {y[i]:.6g}) is not a longitude/latitude: for projected "
                                  "coordinates pass --crs EPSG:… (e.g. EPSG:4549)")


def _part_classes(session: Session) -> set[str]:
    classes = {c.code for c in catalog_queries.list_categories(session, kind=Kind.PART, scheme=GBT_47678_2026)}
    if not classes:
        raise ValidationFailed(f"the national class directory ({GBT_47678_2026}) is not loaded: run "
                               "`cityloop catalog seed` first", field="file")
    return classes


def _check(session: Session, table: _Table, located: _Located, errors: _Errors, *,
           synthetic: bool) -> list[PartRecord]:
    """The checked rows; every problem found is in `errors` (and then the list is incomplete)."""
    index = area_index.get_index(session)
    classes = _part_classes(session)
    where = located.where
    districts, streets, communities, grids = (index.districts, index.streets, index.communities, index.grids)
    seen: dict[str, int] = {}
    records: list[PartRecord] = []
    for i, (number, cells) in enumerate(zip(table.numbers, table.cells, strict=True)):
        def err(column: str, message: str, number: int = number) -> None:
            errors.add(number, column, message)

        row = dict(zip(FIELDS, cells, strict=True))
        for col in MANDATORY:
            if not row[col]:
                err(col, "missing (mandatory)")
        for col, limit in _LIMITS.items():
            if len(row[col]) > limit:
                err(col, f"longer than {limit} characters ({len(row[col])})")
        for col, digits in _DIGITS.items():
            if row[col] and not _is_digits(row[col], digits):
                err(col, f"'{row[col]}' must be {digits} digits")

        code = row[CODE]
        if code and not _is_digits(code, 17):
            hint = (" (a legacy 16-digit ID has a 4-digit class: pad its minor class to 3 digits)"
                    if len(code) == 16 and code.isdigit() else "")
            err(CODE, f"'{code}' must be 17 digits: 6 区划 + 2 major + 3 minor + 6 sequence{hint}")
        elif code:
            if code[6:11] not in classes:
                err(CODE, f"class {code[6:11]} (digits 7–11 of '{code}') is not a 部件 class of {GBT_47678_2026}")
            if code in seen:
                err(CODE, f"'{code}' appears again (first on {table.label} {seen[code]})")
            seen.setdefault(code, number)

        status = _STATUS.get(row[STATUS]) or _STATUS.get(row[STATUS].lower())
        if row[STATUS] and status is None:
            err(STATUS, f"'{row[STATUS]}' is not one of {'、'.join(PART_STATUS_LABELS.values())}")
        surveyed = _date(row[SURVEYED]) if row[SURVEYED] else None
        if row[SURVEYED] and surveyed is None:
            err(SURVEYED, f"'{row[SURVEYED]}' is not a date written YYYYMMDD")
        changed = _date(row[CHANGED]) if row[CHANGED] else None
        if row[CHANGED] and changed is None:
            err(CHANGED, f"'{row[CHANGED]}' is not a date written YYYYMMDD")
        if surveyed and changed and changed < surveyed:
            err(CHANGED, f"{row[CHANGED]} is before the initial date CSRQ {row[SURVEYED]}")

        lon, lat = float(located.lon[i]), float(located.lat[i])
        d, s, c, g = (int(where.district[i]), int(where.street[i]), int(where.community[i]), int(where.grid[i]))
        grid_code = row[GRID]
        if i in table.bad_point:
            err(table.coord_field, table.bad_point[i])
        elif not (math.isfinite(lon) and math.isfinite(lat)):
            err(table.coord_field, f"({table.x[i]}, {table.y[i]}) cannot be converted to WGS-84")
        elif d < 0:
            err(table.coord_field, f"the point ({lon:.6f}, {lat:.6f}) lies outside the city: no district holds it")
        else:
            district = districts.codes[d]
            if _is_digits(code, 17) and code[:6] != district:
                err(CODE, f"'{code}' begins with district {code[:6]}, but the point lies in district {district} "
                          f"({districts.names[d]})")
            located_grid = grids.codes[g] if g >= 0 else None
            if located_grid is None:
                given = f" (SZDYWGBSM says {grid_code})" if grid_code else ""
                err(GRID, f"the point ({lon:.6f}, {lat:.6f}) is not in any unit grid{given}")
            elif grid_code and grid_code != located_grid:
                err(GRID, f"'{grid_code}' but the point lies in grid {located_grid}")
            else:
                grid_code = located_grid
                # A grid's code begins with its community's, which begins with its street's (domain.md §5.1).
                for col, length in ((STREET_CODE, 9), (COMMUNITY_CODE, 12)):
                    if row[col] and row[col] != located_grid[:length]:
                        err(col, f"'{row[col]}' but the point lies in grid {located_grid} of "
                                 f"{'street' if length == 9 else 'community'} {located_grid[:length]}")
        if errors.count:
            continue  # once any row fails nothing is written: keep checking, stop building
        # No error recorded, so both were read.
        assert status is not None
        assert surveyed is not None
        records.append({
            "code": code, "category_code": code[6:11], "name": row[NAME],
            "competent_code": row[COMPETENT_CODE], "competent_name": row[COMPETENT_NAME],
            "owner_code": row[OWNER_CODE], "owner_name": row[OWNER_NAME],
            "maintainer_code": row[MAINTAINER_CODE], "maintainer_name": row[MAINTAINER_NAME],
            "grid_code": grid_code,
            "street_code": row[STREET_CODE] or (streets.codes[s] if s >= 0 else ""),
            "street_name": row[STREET_NAME] or (streets.names[s] if s >= 0 else ""),
            "community_code": row[COMMUNITY_CODE] or (communities.codes[c] if c >= 0 else ""),
            "community_name": row[COMMUNITY_NAME] or (communities.names[c] if c >= 0 else ""),
            "status": status, "surveyed_on": surveyed, "changed_on": changed,
            "data_source": row[SOURCE], "note": row[NOTE], "lon": lon, "lat": lat, "synthetic": synthetic,
        })
    return records


# --- import -----------------------------------------------------------------------------------------------

def import_parts(session: Session, path: Path, *, crs: str | None, now: datetime, synthetic: bool = False,
                 progress: Progress | None = None) -> ImportCounts:
    """Import a CSV (by the .csv suffix) or a GIS file of Point features. `crs` names the coordinates' system
    (default WGS-84; for GIS files, the file's own declaration unless given). Existing codes are updated,
    new ones inserted, identical ones left alone.

    Raises ImportRejected listing the bad rows (nothing stored), NoMap without territories, ValidationFailed for
    an unknown `crs` or an unseeded class directory.
    """
    if not path.is_file():
        raise ValidationFailed(f"file: {path} does not exist or is not a file", field="file")
    errors = _Errors("row" if path.suffix.lower() == ".csv" else "feature")
    table = _read_csv(path, errors) if path.suffix.lower() == ".csv" else _read_features(path, crs)
    errors.raise_if_any()
    assert table is not None  # _read_csv returns None only with errors recorded
    if not table.cells:
        raise ImportRejected([RowError(0, "file", "the file holds no 部件")])
    if progress:
        progress("read", len(table.cells), len(table.cells))
    located = _locate(session, table, crs)
    if progress:
        progress("locate", len(table.cells), len(table.cells))
    records = _check(session, table, located, errors, synthetic=synthetic)
    errors.raise_if_any()
    counts = service.upsert_parts(session, records, now=now, progress=progress)
    return ImportCounts(rows=len(records), inserted=counts.inserted, updated=counts.updated,
                        unchanged=counts.unchanged)


# --- export -------------------------------------------------------------------------------------------------

def _export_rows(session: Session, district: str | None) -> Iterable[Any]:
    query = sa.select(Part.code, Part.name, Part.competent_code, Part.competent_name, Part.owner_code,
                      Part.owner_name, Part.maintainer_code, Part.maintainer_name, Part.grid_code, Part.status,
                      Part.surveyed_on, Part.changed_on, Part.data_source, Part.note, Part.street_code,
                      Part.street_name, Part.community_code, Part.community_name, Part.lon, Part.lat)
    if district is not None:
        query = query.where(Part.code.startswith(district, autoescape=True))
    # yield_per streams: a city-wide export never holds every row in memory.
    return session.execute(query.order_by(Part.code).execution_options(yield_per=_EXPORT_CHUNK))


def export_parts(session: Session, path: Path, *, district: str | None = None) -> int:
    """Write the inventory (one district's when given) as the import's CSV, points as WGS-84 X/Y; returns the
    rows written. Re-importing the file changes nothing."""
    if path.suffix.lower() != ".csv":
        raise ValidationFailed(f"file: unknown format '{path.suffix}': parts export as .csv", field="file")
    if district is not None and not _is_digits(district, 6):
        raise ValidationFailed(f"district: '{district}' must be a 6-digit 区划代码", field="district")
    count = 0
    # utf-8-sig so that Excel, which most cities open CSV files with, reads the Chinese text correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(EXPORT_COLUMNS)
        for r in _export_rows(session, district):
            out.writerow([r.code, r.name, r.competent_code, r.competent_name, r.owner_code, r.owner_name,
                          r.maintainer_code, r.maintainer_name, r.grid_code, PART_STATUS_LABELS[r.status],
                          r.surveyed_on.strftime("%Y%m%d"), r.changed_on.strftime("%Y%m%d") if r.changed_on else "",
                          r.data_source, r.note, r.street_code, r.street_name, r.community_code,
                          r.community_name, f"{r.lon:.8f}", f"{r.lat:.8f}"])
            count += 1
    return count
