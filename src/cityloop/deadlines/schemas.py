from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from cityloop.core.serialization import BizDateTime
from cityloop.deadlines.holidays import NOTE_MAX


class CalendarDayIn(BaseModel):
    workday: bool = Field(description="true: a 调休 make-up working day; false: a holiday")
    note: str = Field(default="", max_length=NOTE_MAX)


class CalendarDayOut(BaseModel):
    day: date
    workday: bool
    note: str
    # "database": a city override (wins); "statutory": the chinese-calendar package's arrangement.
    source: Literal["database", "statutory"]
    created_at: BizDateTime | None = None


class CalendarYearOut(BaseModel):
    year: int
    covered: bool = Field(description="false: no arrangement known, holidays would count as working days")
    days: list[CalendarDayOut]


class CoverageOut(BaseModel):
    today: date
    horizon_days: int
    covered_until: date | None
    uncovered_days: int
    first_uncovered: date | None
    loaded_years: list[int]
    warning: str | None
