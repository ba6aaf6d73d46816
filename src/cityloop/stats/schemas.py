from __future__ import annotations

from pydantic import BaseModel, Field

from cityloop.core.serialization import BizDateTime


class RateOut(BaseModel):
    numerator: int
    denominator: int
    percent: float | None = Field(description="null when the denominator is 0 (not applicable)")


class TimelinessOut(BaseModel):
    start: BizDateTime
    end: BizDateTime
    resolution_rate: RateOut = Field(description="及时解决率 = 及时解决数 / 应解决数")
    closing_rate: RateOut = Field(description="按期结案率 = 按期结案数 / 应结案数")
    steps: dict[str, RateOut] = Field(description="按时受理/核实/立案/派遣率, 按期处置率, 按时核查/结案率")
