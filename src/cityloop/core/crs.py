"""Coordinate reference systems met in Chinese municipal data, and conversion to and from WGS-84.

cityloop stores WGS-84 longitude/latitude only. Data arrives as WGS-84, CGCS2000 (geographic EPSG:4490 or a projected
Gauss-Krüger CRS such as EPSG:4549), or GCJ-02, the obfuscated datum Chinese web maps (AMap, Tencent) publish. Each is
converted here, at the edge, and nowhere else.

- **CGCS2000 geographic (EPSG:4490) is treated as identical to WGS-84.** Both are ITRF-based earth-centred frames whose
  realisations differ by centimetres, far below what a street boundary or a patrol grid can resolve; PROJ itself only
  offers a "ballpark" (null) transformation between them.
- **GCJ-02** has no EPSG code and cannot be declared in a file; it is converted with the published forward formula and
  an iterative inverse that stops once a step is under 1e-9 degrees (round trips agree to about 1e-11 degrees, far
  under a millimetre).
- **Everything else with an EPSG code** (projected CGCS2000 Gauss-Krüger, Web Mercator, Beijing 1954, …) goes through
  pyproj. PROJ and its database ship inside the pyproj wheel and no datum grid is needed for these, so this works
  offline.

Arrays are always longitude first (x, y): pyproj transformers are built with ``always_xy=True``, so EPSG:4326's
official latitude-first axis order never applies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, overload

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from cityloop.core.errors import ValidationFailed

FloatArray = NDArray[np.float64]


class Crs(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    CGCS2000 = "cgcs2000"


class CrsKind(StrEnum):
    """How coordinates in a CRS reach WGS-84."""

    WGS84 = "wgs84"                              # already there
    GCJ02 = "gcj02"                              # the GCJ-02 formula and its iterative inverse
    IDENTITY = "geographic-identity"             # another datum within centimetres of WGS-84: copied unchanged
    PROJECTED = "projected"                      # pyproj: a projected CRS (metres, usually)
    GEOGRAPHIC = "geographic"                    # pyproj: longitude/latitude on a datum that is not WGS-84-like


@dataclass(frozen=True)
class CrsSpec:
    """A resolved CRS. `name` is canonical ("wgs84", "gcj02", "cgcs2000", "EPSG:4549"); `epsg` is set for every kind
    except GCJ-02, and `wkt` only for a CRS read from a shapefile .prj that no EPSG code matches (a city's local
    Gauss-Krüger, say), which pyproj then transforms from its definition."""

    name: str
    kind: CrsKind
    epsg: int | None = None
    title: str = ""
    wkt: str | None = None

    @property
    def label(self) -> str:
        """For messages: "EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"."""
        return f"{self.name} ({self.title})" if self.title else self.name

    @property
    def is_geographic(self) -> bool:
        """Whether coordinates are longitude/latitude in degrees (so ±180/±90 bounds them before conversion)."""
        return self.kind is not CrsKind.PROJECTED

    @property
    def pyproj_source(self) -> str:
        """What pyproj is given for this CRS: "EPSG:nnnn" or the WKT it was read from."""
        if self.wkt is not None:
            return self.wkt
        if self.epsg is None:
            raise ValueError(f"{self.name} has no pyproj definition")
        return f"EPSG:{self.epsg}"


WGS84 = CrsSpec(Crs.WGS84.value, CrsKind.WGS84, 4326, "WGS-84")
GCJ02 = CrsSpec(Crs.GCJ02.value, CrsKind.GCJ02, None, "GCJ-02, Chinese web-map coordinates")
CGCS2000 = CrsSpec(Crs.CGCS2000.value, CrsKind.IDENTITY, 4490, "CGCS2000 geographic, EPSG:4490")

_NAMED = {Crs.WGS84.value: WGS84, Crs.GCJ02.value: GCJ02, Crs.CGCS2000.value: CGCS2000, "crs84": WGS84}

# "EPSG:4490", "urn:ogc:def:crs:EPSG::4490", the versioned "urn:ogc:def:crs:EPSG:6.6:4326" older GDAL wrote, and the
# OGC URL form "http://www.opengis.net/def/crs/EPSG/0/4490".
_EPSG_PATTERNS = (
    re.compile(r"epsg:(\d+)"),
    re.compile(r"urn:ogc:def:crs:epsg:[\d.]*:(\d+)"),
    re.compile(r"https?://www\.opengis\.net/def/crs/epsg/[\d.]+/(\d+)"),
)
_CRS84_NAMES = frozenset({"ogc:crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84",
                          "http://www.opengis.net/def/crs/ogc/1.3/crs84"})

ACCEPTED_CRS_HELP = "wgs84, gcj02, cgcs2000, EPSG:4326, EPSG:4490, OGC:CRS84 or a projected EPSG code such as EPSG:4549"


def parse_crs(text: str) -> CrsSpec:
    """Resolve a user's or a file's CRS name, case-insensitively. Raises `ValidationFailed` (field ``crs``) for text
    that is not one of the names above, or an EPSG code pyproj does not know or cannot reach WGS-84 from."""
    compact = re.sub(r"[\s_-]", "", text.lower())  # "WGS 84", "GCJ-02", "cgcs_2000", "EPSG: 4549"
    if compact in _NAMED:
        return _NAMED[compact]
    if compact in _CRS84_NAMES:
        return WGS84
    for pattern in _EPSG_PATTERNS:
        match = pattern.fullmatch(compact)
        if match:
            return spec_for_epsg(int(match.group(1)), original=text)
    raise ValidationFailed(f"unknown coordinate system {text!r}; use {ACCEPTED_CRS_HELP}", field="crs")


def spec_for_epsg(code: int, *, original: str | None = None) -> CrsSpec:
    """The spec for an EPSG code: 4326 and 4490 map to the named systems, anything else goes through pyproj."""
    if code == 4326:
        return WGS84
    if code == 4490:
        return CGCS2000
    shown = original if original is not None else f"EPSG:{code}"
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        raise ValidationFailed(f"unknown coordinate system {shown!r}: pyproj has no EPSG:{code}",
                               field="crs") from None
    return _spec_from_pyproj(crs, f"EPSG:{code}", code, None, shown)


def spec_for_wkt(wkt: str) -> CrsSpec:
    """The spec for a WKT definition (a shapefile .prj, ESRI or OGC flavour): its EPSG code when PROJ can identify
    one, otherwise the definition itself. Raises `ValidationFailed` (field ``crs``) when PROJ cannot parse it."""
    try:
        crs = CRS.from_wkt(wkt)
    except CRSError as exc:
        raise ValidationFailed(f"unreadable coordinate system definition: {exc}", field="crs") from None
    code = crs.to_epsg()
    if code is not None:
        return spec_for_epsg(code)
    return _spec_from_pyproj(crs, crs.name, None, wkt, crs.name)


def _spec_from_pyproj(crs: CRS, name: str, code: int | None, wkt: str | None, shown: str) -> CrsSpec:
    # Vertical, engineering and compound systems have no longitude/latitude to convert to.
    if crs.is_projected:
        kind = CrsKind.PROJECTED
    elif crs.is_geographic:
        kind = CrsKind.GEOGRAPHIC
    else:
        raise ValidationFailed(f"coordinate system {shown!r} ({crs.name}) is neither geographic nor projected",
                               field="crs")
    # A CRS known only by its WKT is already called by its own name; repeating it as the title adds nothing.
    return CrsSpec(name, kind, code, crs.name if code is not None else "", wkt)


def as_spec(spec_or_text: CrsSpec | str) -> CrsSpec:
    return spec_or_text if isinstance(spec_or_text, CrsSpec) else parse_crs(spec_or_text)


# --- GCJ-02 ---------------------------------------------------------------------------------------------------
# The published forward formula: a polynomial-plus-sines offset evaluated around (105°E, 35°N), in metres on the
# Krasovsky ellipsoid, turned into degrees at the point's latitude.

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ITERATIONS = 10


def _in_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    # NaN compares false everywhere, so NaN points count as outside and pass through unchanged.
    return (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1]) & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84, in degrees, at WGS-84 (lon, lat); no China check."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    shared = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    root = np.sqrt(np.abs(x))
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root + shared
             + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root + shared
             + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad_lat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lon, d_lat


def _as_float_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    # broadcast_arrays returns read-only views; copies keep callers' arrays untouched when we write into results.
    return np.array(lon_a, dtype=np.float64), np.array(lat_a, dtype=np.float64)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS-84 → GCJ-02, element-wise; points outside China's rough bounding box come back unchanged. Scalars give
    0-d arrays (``float()`` them)."""
    out_lon, out_lat = _as_float_arrays(lon, lat)
    inside = _in_china(out_lon, out_lat)
    if inside.any():
        d_lon, d_lat = _gcj_offset(out_lon[inside], out_lat[inside])
        out_lon[inside] += d_lon
        out_lat[inside] += d_lat
    return out_lon, out_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 → WGS-84 by fixed-point iteration: w ← g − offset(w), starting at w = g. The offset's slope is about
    1e-3, so each round gains three digits and three or four rounds bring the step under 1e-9 degrees; ten are
    allowed. Each point stops on its own step, so its result does not depend on the other points in the array.
    Points outside China's box come back unchanged. Scalars give 0-d arrays."""
    g_lon, g_lat = _as_float_arrays(lon, lat)
    out_lon, out_lat = g_lon.copy(), g_lat.copy()
    inside = _in_china(g_lon, g_lat)
    if not inside.any():
        return out_lon, out_lat
    target_lon, target_lat = g_lon[inside], g_lat[inside]
    w_lon, w_lat = target_lon.copy(), target_lat.copy()
    active = np.arange(target_lon.size)
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lon, d_lat = _gcj_offset(w_lon[active], w_lat[active])
        next_lon = target_lon[active] - d_lon
        next_lat = target_lat[active] - d_lat
        step = np.maximum(np.abs(next_lon - w_lon[active]), np.abs(next_lat - w_lat[active]))
        w_lon[active] = next_lon
        w_lat[active] = next_lat
        active = active[step >= _INVERSE_TOLERANCE_DEG]
        if active.size == 0:
            break
    out_lon[inside] = w_lon
    out_lat[inside] = w_lat
    return out_lon, out_lat


# --- dispatch --------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Transformer:
    # Building a transformer queries PROJ's database (milliseconds); pyproj ≥ 3.1 transformers are thread-safe,
    # so one cached instance serves every request.
    return Transformer.from_crs(source, target, always_xy=True)


def _pyproj_arrays(transformer: Transformer, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x_a, y_a = _as_float_arrays(x, y)
    # errcheck=False: PROJ marks points it cannot convert with inf, which callers check in bulk.
    out_x, out_y = transformer.transform(x_a, y_a)
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def to_wgs84_arrays(lon: ArrayLike, lat: ArrayLike, spec: CrsSpec) -> tuple[FloatArray, FloatArray]:
    """Convert x/y (longitude/latitude, or easting/northing for a projected CRS) in `spec` to WGS-84 lon/lat.
    Points PROJ cannot convert come back as inf."""
    if spec.kind in (CrsKind.WGS84, CrsKind.IDENTITY):
        return _as_float_arrays(lon, lat)
    if spec.kind is CrsKind.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    return _pyproj_arrays(_transformer(spec.pyproj_source, "EPSG:4326"), lon, lat)


def from_wgs84_arrays(lon: ArrayLike, lat: ArrayLike, spec: CrsSpec) -> tuple[FloatArray, FloatArray]:
    """The inverse of `to_wgs84_arrays`: WGS-84 lon/lat to `spec` (e.g. GCJ-02 for an AMap base layer)."""
    if spec.kind in (CrsKind.WGS84, CrsKind.IDENTITY):
        return _as_float_arrays(lon, lat)
    if spec.kind is CrsKind.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    return _pyproj_arrays(_transformer("EPSG:4326", spec.pyproj_source), lon, lat)


def to_wgs84(lon: float, lat: float, spec_or_text: CrsSpec | str) -> tuple[float, float]:
    """One point to WGS-84; a CRS given as text is parsed with `parse_crs` (and may raise its `ValidationFailed`)."""
    out_lon, out_lat = to_wgs84_arrays(lon, lat, as_spec(spec_or_text))
    return float(out_lon), float(out_lat)


def from_wgs84(lon: float, lat: float, spec_or_text: CrsSpec | str) -> tuple[float, float]:
    out_lon, out_lat = from_wgs84_arrays(lon, lat, as_spec(spec_or_text))
    return float(out_lon), float(out_lat)


GeomT = TypeVar("GeomT", bound=BaseGeometry)
_Convert = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


def _geometry_transform(geom: Any, convert: _Convert) -> Any:
    # The shapely stubs only describe the interleaved (N×2 array) callback; this is the separate x, y form.
    callback: Callable[..., Any] = convert
    # One call over every coordinate of every geometry; include_z=False returns 2-D geometries, which is what
    # cityloop stores (heights in PolygonZ shapefiles are survey noise for boundaries).
    return shapely.transform(geom, callback, include_z=False, interleaved=False)


@overload
def geometry_to_wgs84(geom: GeomT, spec: CrsSpec) -> GeomT: ...
@overload
def geometry_to_wgs84(geom: NDArray[np.object_], spec: CrsSpec) -> NDArray[np.object_]: ...
def geometry_to_wgs84(geom: Any, spec: CrsSpec) -> Any:
    """A shapely geometry, or a numpy array of them, converted to WGS-84 and made 2-D. Identity systems still go
    through the copy so the result never aliases the input and is always 2-D."""
    return _geometry_transform(geom, lambda x, y: to_wgs84_arrays(x, y, spec))


@overload
def geometry_from_wgs84(geom: GeomT, spec: CrsSpec) -> GeomT: ...
@overload
def geometry_from_wgs84(geom: NDArray[np.object_], spec: CrsSpec) -> NDArray[np.object_]: ...
def geometry_from_wgs84(geom: Any, spec: CrsSpec) -> Any:
    return _geometry_transform(geom, lambda x, y: from_wgs84_arrays(x, y, spec))
