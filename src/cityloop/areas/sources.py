"""Reading boundary files as cities hand them over: GeoJSON, ESRI Shapefile, or a shapefile zipped with its siblings.

Every geometry leaves here in WGS-84, 2-D and valid (see docs/geo.md, "Coordinate systems"). The CRS used is, in
order: the caller's explicit `crs` (the only way to say GCJ-02, which no file format can declare; AMap exports declare
nothing or claim WGS-84), the file's own declaration (a GeoJSON ``crs`` member, a shapefile ``.prj``), or WGS-84.

Problems are `SourceFileInvalid` (a `ValidationFailed`) whose message starts with the file name; a bad feature is named
by its 0-based index (position in ``features``, or the shapefile record number), e.g. "feature 12: geometry is empty".
Up to `MAX_REPORTED_PROBLEMS` are listed in ``details["problems"]`` so one upload shows every broken feature.

Pure: no SQLAlchemy, no FastAPI (services and the CLI both import it).
"""

from __future__ import annotations

import codecs
import functools
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapefile
import shapely
import shapely.errors
import shapely.geometry
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from cityloop.core import crs as crs_mod
from cityloop.core.crs import CrsKind, CrsSpec
from cityloop.core.errors import ValidationFailed

CrsOrigin = Literal["argument", "file", "default"]

SUPPORTED_SUFFIXES = (".geojson", ".json", ".shp", ".zip")
MAX_REPORTED_PROBLEMS = 50
# Declared (uncompressed) size a zipped shapefile may expand to; boundary layers are megabytes, so this only stops a
# zip bomb from filling the temp directory.
MAX_ZIP_EXPANDED_BYTES = 1 << 30
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_GEOJSON_GEOMETRY_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                                     "MultiPolygon", "GeometryCollection"})
# What shapely.geometry.shape raises on malformed GeoJSON geometry, depending on how it is malformed.
_SHAPE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError)


class SourceFileInvalid(ValidationFailed):
    code = "invalid_source_file"


@dataclass(frozen=True)
class SourceFeature:
    """One feature: its attributes as read (DBF dates become ISO strings) and its geometry in WGS-84, 2-D, valid, of
    the type given in the file (a repaired Polygon may come back as a MultiPolygon when repair splits it)."""

    properties: dict[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class FeatureSet:
    """`crs` is the system the coordinates were read in and `crs_origin` where that came from; `declared_crs` is what
    the file itself declared (None when nothing, or nothing readable while an argument overrode it), so a caller can
    warn when an explicit argument contradicts the file."""

    features: list[SourceFeature]
    crs: CrsSpec
    crs_origin: CrsOrigin
    source: str
    declared_crs: CrsSpec | None = None


@dataclass
class _RawFeature:
    index: int
    properties: dict[str, Any]
    geometry: BaseGeometry


@dataclass
class _RawLayer:
    label: str
    features: list[_RawFeature]
    problems: list[str]
    # Parses the file's own CRS declaration; None when the file declares nothing. Deferred so that an explicit
    # argument can override a declaration that would not even parse.
    declared: Callable[[], CrsSpec] | None = None


@dataclass
class _Problems:
    label: str
    items: list[str] = field(default_factory=list)

    def add(self, index: int, text: str) -> None:
        self.items.append(f"feature {index}: {text}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        others = len(self.items) - 1
        more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
        raise SourceFileInvalid(f"{self.label}: {self.items[0]}{more}", field="file",
                                details={"problems": self.items[:MAX_REPORTED_PROBLEMS]})


def _fail(label: str, text: str, *, field_name: str = "file") -> SourceFileInvalid:
    return SourceFileInvalid(f"{label}: {text}", field=field_name)


def read_features(path: Path, crs: str | None = None) -> FeatureSet:
    """Read every feature of a GeoJSON (.geojson/.json), shapefile (.shp) or zipped shapefile (.zip) in WGS-84.
    `crs` (any `parse_crs` spelling) overrides whatever the file declares. Raises `ValidationFailed` with field
    ``crs`` for a bad `crs` and `SourceFileInvalid` for anything wrong with the file."""
    chosen = crs_mod.parse_crs(crs) if crs is not None else None
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _fail(name, f"unsupported file type {path.suffix or '(none)'!r}; expected one of "
                          f"{', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise _fail(name, "no such file")
    if suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="cityloop-shp-") as tmp:
            layer = _read_zip(path, Path(tmp))
    elif suffix == ".shp":
        layer = _read_shapefile(path, name)
    else:
        layer = _read_geojson(path, name)

    declared: CrsSpec | None = None
    if layer.declared is not None:
        try:
            declared = layer.declared()
        except ValidationFailed as exc:
            if chosen is None:
                raise _fail(layer.label, f"{exc.message}; pass --crs to say which system the coordinates are in",
                            field_name="crs") from None
    spec: CrsSpec
    origin: CrsOrigin
    if chosen is not None:
        spec, origin = chosen, "argument"
    elif declared is not None:
        spec, origin = declared, "file"
    else:
        spec, origin = crs_mod.WGS84, "default"
    features = _finish(layer, spec, origin)
    return FeatureSet(features=features, crs=spec, crs_origin=origin, source=name, declared_crs=declared)


# --- GeoJSON ----------------------------------------------------------------------------------------------------

def _decode_text(data: bytes) -> str:
    # RFC 7946 says UTF-8, but Chinese desktop tools still write GBK; GB18030 decodes every GBK byte sequence the
    # same way and more besides.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _read_geojson(path: Path, label: str) -> _RawLayer:
    try:
        document = json.loads(_decode_text(path.read_bytes()))
    except UnicodeDecodeError:
        raise _fail(label, "is neither UTF-8 nor GBK text") from None
    except json.JSONDecodeError as exc:
        raise _fail(label, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(document, dict):
        raise _fail(label, "is not a GeoJSON object")
    kind = document.get("type")
    if kind == "FeatureCollection":
        items = document.get("features")
        if not isinstance(items, list):
            raise _fail(label, "FeatureCollection has no 'features' list")
    elif kind == "Feature":
        items = [document]
    elif kind in _GEOJSON_GEOMETRY_TYPES:
        items = [{"type": "Feature", "properties": {}, "geometry": document}]
    else:
        raise _fail(label, f"expected a GeoJSON FeatureCollection or Feature, found type {kind!r}")

    problems = _Problems(label)
    features: list[_RawFeature] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != "Feature":
            problems.add(index, "is not a GeoJSON Feature")
            continue
        properties = item.get("properties")
        if properties is None:
            properties = {}
        elif not isinstance(properties, dict):
            problems.add(index, "properties is not an object")
            continue
        geometry = item.get("geometry")
        if geometry is None:
            problems.add(index, "geometry is missing (null)")
            continue
        if not isinstance(geometry, dict) or geometry.get("type") not in _GEOJSON_GEOMETRY_TYPES:
            problems.add(index, "geometry is not a GeoJSON geometry object")
            continue
        try:
            geom = shapely.geometry.shape(geometry)
        except _SHAPE_ERRORS as exc:
            problems.add(index, f"unreadable {geometry['type']} geometry ({exc})")
            continue
        features.append(_RawFeature(index, properties, geom))

    declaration = document.get("crs")
    declared = None if declaration is None else functools.partial(_geojson_crs, declaration)
    return _RawLayer(label, features, problems.items, declared)


def _geojson_crs(member: Any) -> CrsSpec:
    """The pre-RFC 7946 ``crs`` member: ``{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}``,
    or the older ``{"type": "EPSG", "properties": {"code": 4490}}``."""
    properties = member.get("properties") if isinstance(member, dict) else None
    if isinstance(properties, dict):
        kind = str(member.get("type", "")).lower()
        if kind == "name" and isinstance(properties.get("name"), str):
            return crs_mod.parse_crs(properties["name"])
        if kind == "epsg" and isinstance(properties.get("code"), int | str):
            return crs_mod.parse_crs(f"EPSG:{properties['code']}")
    raise ValidationFailed(f"the file's 'crs' member {json.dumps(member, ensure_ascii=False)[:200]} is not a "
                           "named CRS", field="crs")


# --- Shapefile --------------------------------------------------------------------------------------------------

def _siblings(shp: Path) -> dict[str, Path]:
    """The shapefile's parts by lower-case suffix; Windows tools mix cases (ROADS.SHP next to ROADS.dbf)."""
    parts: dict[str, Path] = {}
    for candidate in sorted(shp.parent.iterdir()):
        suffix = candidate.suffix.lower()
        if candidate.stem == shp.stem and suffix in _SHAPEFILE_PARTS and suffix not in parts:
            parts[suffix] = candidate
    parts[".shp"] = shp
    return parts


def _cpg_encoding(text: str, label: str) -> str:
    """A Python codec for a .cpg: "UTF-8", "GBK", "GB2312", a bare code page ("936") or "ANSI 936"."""
    value = text.strip().lower().removeprefix("ansi").strip()
    if value.isdigit():
        value = "utf-8" if value == "65001" else f"cp{value}"
    try:
        codec = codecs.lookup(value).name
    except LookupError:
        raise _fail(label, f"the .cpg names an unknown text encoding {text.strip()!r}") from None
    # GB2312 and GBK are both subsets of GB18030 (byte for byte in Python's codecs), and files labelled GB2312 routinely
    # hold GBK-only characters.
    return "gb18030" if codec in ("gbk", "gb2312") else codec


def _read_prj(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        # ESRI writes a custom CRS's name in the local code page.
        return raw.decode("gb18030", errors="replace").strip()


def _read_shapefile(shp: Path, label: str) -> _RawLayer:
    parts = _siblings(shp)
    if ".dbf" not in parts:
        raise _fail(label, "its .dbf attribute table is missing (a shapefile is the .shp, .shx and .dbf together)")
    cpg = parts[".cpg"].read_bytes().decode("ascii", errors="replace") if ".cpg" in parts else ""
    encoding = _cpg_encoding(cpg, label) if cpg.strip() else None
    names, rows, shapes = _read_shapefile_tables(parts, label)
    names, rows = _decode_table(names, rows, encoding, label)

    problems = _Problems(label)
    features: list[_RawFeature] = []
    for index, (shape, row) in enumerate(zip(shapes, rows, strict=True)):
        if row is None:  # deleted in the DBF: not a feature any more
            continue
        properties = {key: (value.isoformat() if isinstance(value, date) else value)
                      for key, value in zip(names, row, strict=True)}
        if shape is None or shape.shapeType == shapefile.NULL:
            problems.add(index, "geometry is empty (null shape)")
            continue
        try:
            geom = shapely.geometry.shape(shape.__geo_interface__)
        except (*_SHAPE_ERRORS, shapefile.ShapefileException) as exc:
            problems.add(index, f"unreadable {shape.shapeTypeName} shape ({exc})")
            continue
        features.append(_RawFeature(index, properties, geom))

    declared: Callable[[], CrsSpec] | None = None
    if ".prj" in parts:
        wkt = _read_prj(parts[".prj"])
        if wkt:
            declared = functools.partial(crs_mod.spec_for_wkt, wkt)
    return _RawLayer(label, features, problems.items, declared)


def _read_shapefile_tables(parts: dict[str, Path], label: str) -> tuple[list[str], list[list[Any] | None], list[Any]]:
    """Field names, rows (None for a deleted record) and shapes, text still undecoded (see `_decode_table`)."""
    with ExitStack() as stack:
        handles = {suffix: stack.enter_context(parts[suffix].open("rb"))
                   for suffix in (".shp", ".shx", ".dbf") if suffix in parts}
        # pyshp signals damaged files with a spread of exception types (struct.error, IndexError, its own, …).
        try:
            # latin-1 maps every byte to one character, so decoding can never fail here and the original bytes come
            # back with .encode("latin-1"): the real encoding is chosen afterwards, looking at all the text at once.
            reader = shapefile.Reader(shp=handles[".shp"], shx=handles.get(".shx"), dbf=handles[".dbf"],
                                      encoding="latin-1")
            names = [str(f[0]) for f in reader.fields if f[0] != "DeletionFlag"]
            shapes = list(reader.iterShapes())
            count = reader.numRecords
            # record(i) keeps deleted records as None: pyshp's own shapeRecords() drops them and so pairs every later
            # shape with the wrong row.
            rows = [_row(reader.record(i)) for i in range(count)]
        except Exception as exc:
            raise _fail(label, f"unreadable shapefile ({type(exc).__name__}: {exc})") from None
    if len(shapes) != count:
        raise _fail(label, f"has {len(shapes)} shapes but its .dbf has {count} records")
    return names, rows, shapes


def _row(record: Any) -> list[Any] | None:
    return None if record is None else list(record)


def _recode(value: Any, encoding: str) -> Any:
    return value.encode("latin-1").decode(encoding) if isinstance(value, str) else value


def _decode_table(names: list[str], rows: list[list[Any] | None], encoding: str | None,
                  label: str) -> tuple[list[str], list[list[Any] | None]]:
    """Decode the DBF text with the .cpg's encoding, or without one UTF-8 and failing that GBK (as GB18030): Chinese
    shapefiles without a .cpg are usually GBK, and GBK text is practically never valid UTF-8."""
    candidates = [encoding] if encoding is not None else ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            decoded_names = [_recode(n, candidate) for n in names]
            decoded_rows = [None if row is None else [_recode(v, candidate) for v in row] for row in rows]
        except UnicodeDecodeError:
            continue
        return decoded_names, decoded_rows
    if encoding is not None:
        raise _fail(label, f"the .dbf text is not valid {encoding} although its .cpg says so; fix or delete the .cpg")
    raise _fail(label, "the .dbf text is neither UTF-8 nor GBK; add a .cpg naming its encoding")


# --- Zip --------------------------------------------------------------------------------------------------------

def _is_junk(member: str) -> bool:
    # macOS Finder adds __MACOSX/._name.shp resource forks next to the real files.
    return member.startswith("__MACOSX/") or Path(member).name.startswith("._")


def _read_zip(path: Path, workdir: Path) -> _RawLayer:
    label = path.name
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise _fail(label, "is not a readable zip archive") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir() and not _is_junk(info.filename)]
        shps = [info for info in members if info.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            listed = ", ".join(info.filename for info in shps[:5])
            raise _fail(label, f"must contain exactly one .shp file, found {len(shps)}" + (f" ({listed})" if listed
                                                                                          else ""))
        stem = shps[0].filename[: -len(".shp")]
        wanted = [info for info in members
                  if info.filename[: -4] == stem and info.filename[-4:].lower() in _SHAPEFILE_PARTS]
        if sum(info.file_size for info in wanted) > MAX_ZIP_EXPANDED_BYTES:
            raise _fail(label, "expands to more than 1 GiB")
        # Fixed names in our own directory: member names may hold "../", or GBK bytes zipfile cannot decode.
        for info in wanted:
            target = workdir / f"layer{info.filename[-4:].lower()}"
            try:
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise _fail(label, f"cannot extract {info.filename}: {exc}") from None
    return _read_shapefile(workdir / "layer.shp", f"{label} ({Path(shps[0].filename).name})")


# --- Conversion, checks and repair -------------------------------------------------------------------------------

_GAUSS_KRUGER_HINT = "EPSG:4549 for CGCS2000 / 3-degree Gauss-Kruger CM 120E; the data's supplier knows the zone"


def _projected_hint(easting: float) -> str:
    """Guess the EPSG code of a CGCS2000 Gauss-Krüger easting that carries its zone number in front (zone 40,
    3-degree: 40 500 000 m); a bare 500 000 m easting does not say its central meridian."""
    zone = int(easting // 1_000_000)
    if 13 <= zone <= 23:
        code = 4491 + zone - 13  # CGCS2000 / Gauss-Kruger zone 13 … 23 (6-degree)
    elif 25 <= zone <= 45:
        code = 4513 + zone - 25  # CGCS2000 / 3-degree Gauss-Kruger zone 25 … 45
    else:
        return f"for example {_GAUSS_KRUGER_HINT}"
    return f"the easting's zone prefix suggests EPSG:{code} ({crs_mod.spec_for_epsg(code).title})"


def _check_lonlat(label: str, geoms: NDArray[Any], indexes: Sequence[int], problems: _Problems) -> None:
    """Longitude/latitude must be finite and in range; an out-of-range point almost always means metres."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    x, y = coords[:, 0], coords[:, 1]
    finite = np.isfinite(x) & np.isfinite(y)
    for position in np.unique(owner[~finite]):
        problems.add(indexes[position], "a coordinate is not a finite number")
    outside = finite & ((np.abs(x) > 180.0) | (np.abs(y) > 90.0))
    if not outside.any():
        return
    first = int(np.argmax(outside))
    px, py = float(x[first]), float(y[first])
    where = f"coordinate ({px:.6g}, {py:.6g}) of feature {indexes[owner[first]]}"
    if abs(px) <= 90.0 < abs(py) <= 180.0:
        raise _fail(label, f"{where} is not a longitude/latitude pair; are longitude and latitude swapped? "
                           "GeoJSON and shapefiles put longitude first")
    raise _fail(label, f"{where} is not a longitude/latitude; are these projected coordinates? pass --crs EPSG:… "
                       f"({_projected_hint(px)})")


def _check_projected_input(label: str, geoms: NDArray[Any], spec: CrsSpec, origin: CrsOrigin) -> None:
    """Metres that all fit inside ±180/±90 are degrees read as a projected CRS (a wrong .prj, or a wrong --crs)."""
    bounds = shapely.total_bounds(geoms)
    if not np.all(np.isfinite(bounds)):
        return
    min_x, min_y, max_x, max_y = (float(b) for b in bounds)
    if max(abs(min_x), abs(max_x)) <= 180.0 and max(abs(min_y), abs(max_y)) <= 90.0:
        advice = "check --crs" if origin == "argument" else "its .prj may be wrong: pass --crs wgs84 (or gcj02)"
        raise _fail(label, f"coordinates span ({min_x:.6g}, {min_y:.6g}) to ({max_x:.6g}, {max_y:.6g}), which look "
                           f"like longitude/latitude, but are being read as {spec.label}, a projected system; "
                           f"{advice}")


def _family(geom_type: str) -> str | None:
    for family in ("Polygon", "LineString", "Point"):
        if geom_type in (family, f"Multi{family}"):
            return family
    return None


def _single_parts(geom: BaseGeometry) -> Iterator[BaseGeometry]:
    if geom.geom_type.startswith("Multi") or geom.geom_type == "GeometryCollection":
        for part in shapely.get_parts(geom):
            yield from _single_parts(part)
    else:
        yield geom


def _repair(geom: BaseGeometry) -> tuple[BaseGeometry | None, str]:
    """A valid geometry of the same family as `geom` (None if repair leaves nothing of it), and the reason `geom`
    was invalid ("" if it was not)."""
    if shapely.is_valid(geom):
        return geom, ""
    reason = str(shapely.is_valid_reason(geom))
    fixed = shapely.make_valid(geom)
    family = _family(geom.geom_type)
    if family is None:  # a GeometryCollection keeps whatever make_valid makes of it
        return fixed, reason
    parts = [p for p in _single_parts(fixed) if p.geom_type == family and not p.is_empty]
    if not parts:
        return None, reason
    if len(parts) == 1 and not geom.geom_type.startswith("Multi"):
        return parts[0], reason
    maker: dict[str, Callable[[list[Any]], BaseGeometry]] = {
        "Polygon": shapely.MultiPolygon, "LineString": shapely.MultiLineString, "Point": shapely.MultiPoint}
    return maker[family](parts), reason


def _finish(layer: _RawLayer, spec: CrsSpec, origin: CrsOrigin) -> list[SourceFeature]:
    problems = _Problems(layer.label, list(layer.problems))
    raw = [f for f in layer.features if not shapely.is_empty(f.geometry)]
    for empty in (f for f in layer.features if shapely.is_empty(f.geometry)):
        problems.add(empty.index, "geometry is empty")
    problems.items.sort(key=_problem_order)
    problems.raise_if_any()
    if not raw:
        return []

    indexes = [f.index for f in raw]
    geoms = np.array([f.geometry for f in raw], dtype=object)
    if spec.kind is CrsKind.PROJECTED:
        _check_projected_input(layer.label, geoms, spec, origin)
    else:
        _check_lonlat(layer.label, geoms, indexes, problems)
        problems.raise_if_any()

    converted = crs_mod.geometry_to_wgs84(geoms, spec)
    coords, owner = shapely.get_coordinates(converted, return_index=True)
    lon, lat = coords[:, 0], coords[:, 1]
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
    for position in np.unique(owner[bad]):
        problems.add(indexes[position], f"coordinates cannot be converted from {spec.label} to WGS-84")
    problems.raise_if_any()

    features: list[SourceFeature] = []
    for item, geom in zip(raw, converted, strict=True):
        fixed, reason = _repair(geom)
        if fixed is None:
            problems.add(item.index, f"invalid {geom.geom_type} ({reason}) and nothing of that type survives repair")
            continue
        features.append(SourceFeature(item.properties, fixed))
    problems.raise_if_any()
    return features


def _problem_order(problem: str) -> int:
    # "feature 12: …" sorts by number, so the first problem reported is the first in the file.
    return int(problem.split(":", 1)[0].removeprefix("feature "))
