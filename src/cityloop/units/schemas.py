from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cityloop.units.models import UnitLevel


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    level: UnitLevel
    industry: str
    parent_id: int | None
    active: bool
    synthetic: bool


class UnitPage(BaseModel):
    items: list[UnitOut]
    total: int
    limit: int
    offset: int
