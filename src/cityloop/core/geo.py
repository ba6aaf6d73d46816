"""Coordinate policy: cityloop stores WGS-84 longitude/latitude; other datums are converted at the edges."""

from __future__ import annotations

import math

from cityloop.core.errors import ValidationFailed


def check_wgs84(lon: float, lat: float, *, lon_field: str = "lon", lat_field: str = "lat") -> None:
    """Reject coordinates no WGS-84 point can have (NaN, infinities, out of range)."""
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        raise ValidationFailed(f"{lat_field} must be a WGS-84 latitude between -90 and 90", field=lat_field)
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        raise ValidationFailed(f"{lon_field} must be a WGS-84 longitude between -180 and 180",
                               field=lon_field)
