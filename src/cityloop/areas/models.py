from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import UTCDateTime, str_enum


class TerritoryLevel(StrEnum):
    CITY = "city"            # 市
    DISTRICT = "district"    # 区、县、县级市
    STREET = "street"        # 街道、乡镇
    COMMUNITY = "community"  # 社区、村


# Code lengths per level (domain.md §5.1): GB/T 2260 for city and district, +3 per level below.
CODE_LENGTH = {TerritoryLevel.CITY: 6, TerritoryLevel.DISTRICT: 6, TerritoryLevel.STREET: 9,
               TerritoryLevel.COMMUNITY: 12}
GRID_CODE_LENGTH = 15
LEVEL_LABELS = {TerritoryLevel.CITY: "市", TerritoryLevel.DISTRICT: "区县", TerritoryLevel.STREET: "街道",
                TerritoryLevel.COMMUNITY: "社区"}


class Territory(CreatedAtMixin, Base):
    """An administrative area. Boundaries are WGS-84 WKB; the bounding box lets SQL pre-filter without GIS."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[TerritoryLevel] = mapped_column(str_enum(TerritoryLevel, "territory_level"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("territories.id"), index=True, default=None)
    geometry: Mapped[bytes] = mapped_column(sa.LargeBinary)
    min_lon: Mapped[float]
    min_lat: Mapped[float]
    max_lon: Mapped[float]
    max_lat: Mapped[float]
    area_km2: Mapped[float]
    # Generated boundaries (the demo's streets and communities) say so wherever they appear.
    synthetic: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(sa.String(300), default="")


class PatrolArea(CreatedAtMixin, Base):
    """责任网格 (management grid): the set of unit grids one collector patrols."""

    __tablename__ = "patrol_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    collector_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True, default=None)
    synthetic: Mapped[bool] = mapped_column(default=False)


class Grid(CreatedAtMixin, Base):
    """单元网格: about 100 m × 100 m, nested in one community; its 15-digit code is the community's + 3 digits."""

    __tablename__ = "grids"
    # The console's map fetches the grids of the visible box; a city has hundreds of thousands.
    __table_args__ = (sa.Index("ix_grids_center_lat_lon", "center_lat", "center_lon"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(15), unique=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    geometry: Mapped[bytes] = mapped_column(sa.LargeBinary)
    center_lon: Mapped[float]
    center_lat: Mapped[float]
    area_m2: Mapped[float]
    patrol_area_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patrol_areas.id"), index=True,
                                                       default=None)
    synthetic: Mapped[bool] = mapped_column(default=False)


class Landmark(CreatedAtMixin, Base):
    """A named feature (地片、区片、POI) for 方位描述: "… 东北约120米"."""

    __tablename__ = "landmarks"
    __table_args__ = (sa.Index("ix_landmarks_lat_lon", "lat", "lon"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32), default="")
    lon: Mapped[float]
    lat: Mapped[float]
    synthetic: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(sa.String(300), default="")


class AreaRevision(Base):
    """One row per change of territories or grids; processes reload their locate index when the latest id moves."""

    __tablename__ = "area_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random per revision: ids alone can repeat (a rolled-back transaction hands its id out again).
    token: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(sa.String(300), default="")
