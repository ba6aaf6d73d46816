from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import str_enum


class UnitLevel(StrEnum):
    CITY = "city"            # 市级
    DISTRICT = "district"    # 区级
    STREET = "street"        # 街道（乡镇）
    COMMUNITY = "community"  # 社区（村）


class Unit(CreatedAtMixin, Base):
    """A handling unit (专业部门 / 处置单位)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[UnitLevel] = mapped_column(str_enum(UnitLevel, "unit_level"), index=True)
    industry: Mapped[str] = mapped_column(sa.String(64), default="")
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True, default=None)
    active: Mapped[bool] = mapped_column(default=True)
    # The territory the unit answers for (a street office → its street): relative routing rules resolve
    # "the 环卫 unit of this street" through it.
    territory_code: Mapped[str | None] = mapped_column(sa.String(12), index=True, default=None)
    # 统一社会信用代码: how the 部件 inventory names owners and maintainers (QSDWDM, YHDWDM, ZGBMDM).
    credit_code: Mapped[str | None] = mapped_column(sa.String(18), index=True, default=None)
    # Demo and generated data say so wherever they appear.
    synthetic: Mapped[bool] = mapped_column(default=False)
