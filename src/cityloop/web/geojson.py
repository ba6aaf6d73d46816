"""GeoJSON for the console's maps, in the datum of the configured tiles (stored data is WGS-84)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from cityloop.core.crs import wgs84_to_gcj02

Datum = Literal["wgs84", "gcj02"]


def _convert(coords: Any) -> Any:
    """Points, rings and lines are converted as arrays; polygons (rings of different lengths) and multi-
    geometries go part by part."""
    if not coords:
        return coords
    if isinstance(coords[0], int | float):
        lon, lat = wgs84_to_gcj02(np.array([coords[0]], dtype=float), np.array([coords[1]], dtype=float))
        return [float(lon[0]), float(lat[0])]
    if isinstance(coords[0][0], int | float):
        arr = np.asarray(coords, dtype=float)
        lon, lat = wgs84_to_gcj02(arr[:, 0], arr[:, 1])
        return np.column_stack([lon, lat]).tolist()
    return [_convert(part) for part in coords]


def to_datum(geometry: dict[str, Any], datum: Datum) -> dict[str, Any]:
    if datum == "wgs84":
        return geometry
    return {**geometry, "coordinates": _convert(geometry["coordinates"])}


def point(lon: float, lat: float, datum: Datum) -> list[float]:
    if datum == "wgs84":
        return [lon, lat]
    glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    return [float(glon[0]), float(glat[0])]


def feature(geometry: dict[str, Any], properties: dict[str, Any], datum: Datum) -> dict[str, Any]:
    return {"type": "Feature", "geometry": to_datum(geometry, datum), "properties": properties}


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}
