from __future__ import annotations

from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.db.base import Base, CreatedAtMixin
from cityloop.db.types import str_enum


class PartStatus(StrEnum):
    """GLBJZT 状态 (GB/T 47678.5-2026)."""

    INTACT = "intact"        # 完好
    DAMAGED = "damaged"      # 破损
    LOST = "lost"            # 丢失
    ABANDONED = "abandoned"  # 废弃
    REMOVED = "removed"      # 移除


PART_STATUS_LABELS = {PartStatus.INTACT: "完好", PartStatus.DAMAGED: "破损", PartStatus.LOST: "丢失",
                      PartStatus.ABANDONED: "废弃", PartStatus.REMOVED: "移除"}


class Part(CreatedAtMixin, Base):
    """管理部件: one city asset. Column comments give the standard's field names (GB/T 47678.5-2026 §4.4)."""

    __tablename__ = "parts"
    __table_args__ = (sa.Index("ix_parts_lat_lon", "lat", "lon"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(17), unique=True, comment="GLBJBSM 标识码")
    category_code: Mapped[str] = mapped_column(sa.String(5), index=True, comment="major 2 + minor 3")
    name: Mapped[str] = mapped_column(sa.String(30), comment="GLBJMC 名称")
    competent_code: Mapped[str] = mapped_column(sa.String(18), comment="ZGBMDM 主管部门代码")
    competent_name: Mapped[str] = mapped_column(sa.String(100), comment="ZGBMMC 主管部门名称")
    owner_code: Mapped[str] = mapped_column(sa.String(18), default="", comment="QSDWDM 权属单位代码")
    owner_name: Mapped[str] = mapped_column(sa.String(100), default="", comment="QSDWMC 权属单位名称")
    maintainer_code: Mapped[str] = mapped_column(sa.String(18), default="", comment="YHDWDM 养护单位代码")
    maintainer_name: Mapped[str] = mapped_column(sa.String(100), default="", comment="YHDWMC 养护单位名称")
    grid_code: Mapped[str] = mapped_column(sa.String(15), index=True, comment="SZDYWGBSM 所在单元网格标识码")
    street_code: Mapped[str] = mapped_column(sa.String(9), default="", comment="SZJDDM")
    street_name: Mapped[str] = mapped_column(sa.String(50), default="", comment="SZJDMC")
    community_code: Mapped[str] = mapped_column(sa.String(12), default="", comment="SZSQDM")
    community_name: Mapped[str] = mapped_column(sa.String(50), default="", comment="SZSQMC")
    status: Mapped[PartStatus] = mapped_column(str_enum(PartStatus, "part_status", length=10), comment="GLBJZT")
    surveyed_on: Mapped[date] = mapped_column(sa.Date, comment="CSRQ 初始日期")
    changed_on: Mapped[date | None] = mapped_column(sa.Date, default=None, comment="BGRQ 变更日期")
    data_source: Mapped[str] = mapped_column(sa.String(30), default="", comment="SJLY 数据来源")
    note: Mapped[str] = mapped_column(sa.String(1000), default="", comment="BZ 备注")
    lon: Mapped[float]
    lat: Mapped[float]
    synthetic: Mapped[bool] = mapped_column(default=False)
