from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.catalog.enums import Kind
from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum
from cityloop.units.models import UnitLevel


class CommandLevel(StrEnum):
    """一级监督、两级指挥: which command centre dispatches a class."""

    CITY = "city"          # 市指挥中心
    DISTRICT = "district"  # 区指挥中心


class RoutingRule(CreatedAtMixin, Base):
    """category × territory × optional part owner → unit.

    Empty matchers match anything: a rule without territory is city-wide, one without category covers every
    class. The target is a fixed unit, or relative: "the 环卫 unit of the street the case is in"
    (target_level + target_industry), so one rule serves every street.
    """

    __tablename__ = "routing_rules"
    __table_args__ = (
        sa.CheckConstraint("unit_id IS NOT NULL OR (target_level IS NOT NULL AND target_industry IS NOT NULL)",
                           name="has_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[Kind | None] = mapped_column(str_enum(Kind, "rule_kind", length=8), default=None)
    category_code: Mapped[str | None] = mapped_column(sa.String(5), default=None,
                                                      comment="a class code, or a 2-digit major")
    territory_code: Mapped[str | None] = mapped_column(sa.String(15), default=None,
                                                       comment="district, street, community or grid code")
    owner_code: Mapped[str | None] = mapped_column(sa.String(18), default=None,
                                                   comment="a part's 权属/养护/主管 unit code")
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True, default=None)
    target_level: Mapped[UnitLevel | None] = mapped_column(str_enum(UnitLevel, "rule_target_level"),
                                                           default=None)
    target_industry: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    priority: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    synthetic: Mapped[bool] = mapped_column(default=False)


class DispatchPolicy(CreatedAtMixin, Base):
    """Per class (or 2-digit major): the command level that dispatches it and whether filing dispatches it."""

    __tablename__ = "dispatch_policies"
    __table_args__ = (sa.UniqueConstraint("kind", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "policy_kind", length=8))
    category_code: Mapped[str] = mapped_column(sa.String(5))
    command_level: Mapped[CommandLevel] = mapped_column(str_enum(CommandLevel, "command_level"))
    auto_dispatch: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
