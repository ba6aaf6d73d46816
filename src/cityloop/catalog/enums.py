"""Pure vocabulary of the catalog, importable without the ORM."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    PART = "part"    # 部件: a physical public object with an owner or maintainer
    EVENT = "event"  # 事件 (管理事项 in GB/T 47678.5-2026): a behaviour or situation


KIND_LABELS = {Kind.PART: "部件", Kind.EVENT: "事件"}
KIND_BY_LABEL = {label: kind for kind, label in KIND_LABELS.items()}

# The class directory a city adopts. Legacy GB/T 30428.2-era codes and local extensions arrive with the
# filing standards (see the catalog issue); the national 2026 directory is the default.
GBT_47678_2026 = "GB/T 47678.5-2026"
