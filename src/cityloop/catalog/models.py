from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cityloop.catalog.enums import Kind
from cityloop.db.base import Base
from cityloop.db.types import str_enum


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
