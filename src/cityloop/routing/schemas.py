from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cityloop.catalog.enums import Kind
from cityloop.core.serialization import BizDateTime
from cityloop.routing.models import CommandLevel
from cityloop.units.models import UnitLevel


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    kind: Kind | None = None
    category_code: str | None = Field(default=None, pattern=r"^(\d{2}|\d{4}|\d{5})$",
                                      description="a class code, or a 2-digit major; empty: every class")
    territory_code: str | None = Field(default=None, pattern=r"^(\d{6}|\d{9}|\d{12}|\d{15})$",
                                       description="district, street, community or grid; empty: city-wide")
    owner_code: str | None = Field(default=None, min_length=1, max_length=18,
                                   description="a 部件 owner's code (权属/养护/主管); empty: any")
    unit_code: str | None = Field(default=None, description="a fixed target unit")
    target_level: UnitLevel | None = Field(default=None, description="relative target: the level …")
    target_industry: str | None = Field(default=None, max_length=64, description="… and industry of the unit "
                                        "responsible for the case's territory at that level")
    priority: int = Field(default=0, ge=-1000, le=1000)
    active: bool = True


class RuleOut(BaseModel):
    id: int
    name: str
    kind: Kind | None
    category_code: str | None
    territory_code: str | None
    owner_code: str | None
    unit_id: int | None
    unit_code: str | None
    target_level: UnitLevel | None
    target_industry: str | None
    priority: int
    active: bool
    synthetic: bool
    updated_at: BizDateTime


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command_level: CommandLevel
    auto_dispatch: bool = False


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Kind
    category_code: str
    command_level: CommandLevel
    auto_dispatch: bool
    updated_at: BizDateTime


class SuggestIn(BaseModel):
    """A what-if: which unit would a case of this class at this place go to?"""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    category_code: str = Field(pattern=r"^\d{4,5}$")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    part_code: str | None = Field(default=None, pattern=r"^\d{17}$")

