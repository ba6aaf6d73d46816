"""Duplicate detection: is there something of the same class close by, reported recently? Pure.

Distances use the local equirectangular approximation: within the few hundred metres a dedup radius spans,
its error is far below a GPS fix's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

M_PER_DEG_LAT = 111_320.0


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    kx = math.cos(math.radians((lat1 + lat2) / 2)) * M_PER_DEG_LAT
    return math.hypot((lon2 - lon1) * kx, (lat2 - lat1) * M_PER_DEG_LAT)


def bbox(lats: list[float], lons: list[float], radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) holding every point's circle of radius_m."""
    dlat = radius_m / M_PER_DEG_LAT
    widest = max(abs(min(lats)), abs(max(lats))) + dlat
    dlon = radius_m / (M_PER_DEG_LAT * max(math.cos(math.radians(min(widest, 89.9))), 1e-6))
    return min(lats) - dlat, max(lats) + dlat, min(lons) - dlon, max(lons) + dlon


@dataclass(frozen=True)
class Rule:
    radius_m: float
    window: timedelta


@dataclass
class Candidates:
    """Open things of one class a new report may join, growing as a batch opens new ones.

    Held in a hash of square cells as wide as the radius, so a lookup reads the 3 × 3 cells around the point
    instead of every candidate: a batch of a thousand events against thousands of open cases stays linear.
    """

    ids: list[int] = field(default_factory=list)
    lats: list[float] = field(default_factory=list)
    lons: list[float] = field(default_factory=list)
    last: list[datetime] = field(default_factory=list)
    _pos: dict[int, int] = field(default_factory=dict)
    _cells: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    _cell_m: float = 0.0
    _kx: float = 0.0

    def add(self, ident: int, lat: float, lon: float, last: datetime) -> None:
        i = len(self.ids)
        self._pos[ident] = i
        self.ids.append(ident)
        self.lats.append(lat)
        self.lons.append(lon)
        self.last.append(last)
        if self._cell_m:
            self._cells.setdefault(self._cell(lat, lon), []).append(i)

    def touch(self, ident: int, at: datetime) -> None:
        """A report joined `ident` at `at`: the window runs from the latest report."""
        i = self._pos[ident]
        if at > self.last[i]:
            self.last[i] = at

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat * M_PER_DEG_LAT / self._cell_m), math.floor(lon * self._kx / self._cell_m)

    def _index(self, radius_m: float, lat: float) -> None:
        # The east-west scale is fixed once per set: within one city its change is far below a radius.
        self._cell_m, self._kx = radius_m, math.cos(math.radians(self.lats[0] if self.lats else lat)) * M_PER_DEG_LAT
        self._cells = {}
        for i, (la, lo) in enumerate(zip(self.lats, self.lons, strict=True)):
            self._cells.setdefault(self._cell(la, lo), []).append(i)

    def nearest(self, lat: float, lon: float, at: datetime, rule: Rule) -> int | None:
        """The closest candidate within the radius whose latest report is within the window of `at`."""
        if not self.ids:
            return None
        if self._cell_m != rule.radius_m:
            self._index(rule.radius_m, lat)
        cy, cx = self._cell(lat, lon)
        best, best_d = None, math.inf
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for i in self._cells.get((cy + dy, cx + dx), ()):
                    d = metres(lat, lon, self.lats[i], self.lons[i])
                    if d <= rule.radius_m and d < best_d and abs(at - self.last[i]) <= rule.window:
                        best, best_d = i, d
        return None if best is None else self.ids[best]
