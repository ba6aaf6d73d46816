from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.catalog.enums import Kind
from cityloop.db.base import Base
from cityloop.db.types import UTCDateTime, str_enum


class Category(Base):
    """One minor class (小类) of a class directory. Codes are strings: they keep their leading zeros."""

    __tablename__ = "categories"
    # The same 5-digit code exists as 部件 and as 事项 (01001 供水井盖 / 01001 供水井盖异常): kind is in the key.
    __table_args__ = (sa.UniqueConstraint("scheme", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "category_kind", length=8))
    code: Mapped[str] = mapped_column(sa.String(8))
    major_code: Mapped[str] = mapped_column(sa.String(4))
    major_name: Mapped[str] = mapped_column(sa.String(100))
    sub_code: Mapped[str] = mapped_column(sa.String(4))
    name: Mapped[str] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Whether citizens and Open311 clients may report this class (one Open311 service per such class).
    public_intake: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class CatalogVersion(Base):
    """A class directory as a city adopts it: the national one, a legacy-coded one, or a local standard.

    The city's current directory is the version adopted last; cases keep the category (and filing standard)
    they were filed under, so adopting another version changes only what is filed afterwards.
    """

    __tablename__ = "catalog_versions"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)  # = Category.scheme
    name: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class FilingStandard(Base):
    """One row of a 立结案标准: what must be seen to file (立案条件), what the check must find to close
    (结案条件), and the handling deadline. A subclass has one or more rows; filing picks exactly one."""

    __tablename__ = "filing_standards"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    seq: Mapped[int] = mapped_column(default=1)
    filing_criteria: Mapped[str] = mapped_column(sa.Text, default="")
    closing_criteria: Mapped[str] = mapped_column(sa.Text, default="")
    # The source's words (e.g. "种植季节15工作日") beside the amount and unit the clock runs on.
    deadline_text: Mapped[str] = mapped_column(sa.String(100), default="")
    deadline_amount: Mapped[float]
    deadline_unit: Mapped[str] = mapped_column(sa.String(16))
    urgent: Mapped[bool] = mapped_column(default=False)
    handling_subject: Mapped[str] = mapped_column(sa.String(300), default="")     # 处置单位 / 责任主体
    supervising_subject: Mapped[str] = mapped_column(sa.String(300), default="")  # 主管部门 / 监管主体
    # Optional deadlines by region class (计时区域 A/B/C): {"A": {"amount": 2, "unit": "工作时"}, …}.
    region_deadlines: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
