"""Response models of the map API. Coordinates are WGS-84 unless a request asked for GCJ-02."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class NamedOut(BaseModel):
    code: str
    name: str
    synthetic: bool


class GridRef(BaseModel):
    code: str


class LocationOut(BaseModel):
    lon: float
    lat: float
    district: NamedOut
    street: NamedOut | None
    community: NamedOut | None
    grid: GridRef | None
    description: str


class TerritoryOut(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    synthetic: bool
    area_km2: float
    children: int
    grids: int


class PatrolAreaOut(BaseModel):
    code: str
    name: str
    collector_id: int | None
    synthetic: bool


class GridOut(BaseModel):
    code: str
    community: NamedOut
    center_lon: float
    center_lat: float
    area_m2: float
    synthetic: bool
    patrol_area: PatrolAreaOut | None
    geometry: dict[str, Any]
