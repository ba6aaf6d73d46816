"""Rates over counted cases: pure arithmetic, following domain.md §6.1 — a zero denominator is "not
applicable" (None), never 0 % or 100 %, and rounding (half-up, 2 decimals) happens only at the end."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        if self.denominator == 0:
            return None
        return float((Decimal(self.numerator) * 100 / Decimal(self.denominator))
                     .quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    def as_dict(self) -> dict[str, int | float | None]:
        return {"numerator": self.numerator, "denominator": self.denominator, "percent": self.value}
