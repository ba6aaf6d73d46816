"""Offset paging shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass

MAX_LIMIT = 500


@dataclass(frozen=True)
class PageParams:
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")
