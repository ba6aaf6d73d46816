"""处置时限 text → amount and unit. Pure: the seed, the importer and the tests share it.

Standards write a deadline as a number and a unit ("4工作时", "15天"), sometimes wrapped in a few words
("种植季节15工作日", "1紧急工作时制止"). The words are kept verbatim beside the amount and unit the clock runs on;
anything else (no number, two numbers, an unknown unit, Latin letters) is refused rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cityloop.core.timeunits import TimeUnit

# Longest alternatives first: "紧急工作时" must not be read as "工作时" with a stray prefix.
_UNITS = sorted((u.value for u in TimeUnit), key=len, reverse=True)
# Qualifiers around the number are Chinese words only, so "5天abc", "约5天" with digits elsewhere or "5天3小时"
# cannot slip through as a clean "5天".
_WORDS = r"[\u4e00-\u9fff]{0,12}"
_PATTERN = re.compile(
    rf"^(?P<before>{_WORDS})(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>{'|'.join(_UNITS)})(?P<after>{_WORDS})$")


class DeadlineTextError(ValueError):
    """The text is not a deadline this parser can read."""


@dataclass(frozen=True)
class ParsedDeadline:
    amount: float
    unit: TimeUnit
    text: str  # verbatim, as the source wrote it

    @property
    def urgent(self) -> bool:
        # 紧急工作时/紧急工作日 run around the clock; the standards mark urgent rows by this word alone.
        return "紧急" in self.unit.value


def parse_deadline(text: str) -> ParsedDeadline:
    stripped = text.strip()
    if not stripped:
        raise DeadlineTextError("the deadline is empty")
    match = _PATTERN.match(stripped)
    if match is None:
        raise DeadlineTextError(
            f"'{stripped}' is not a number followed by a unit ({'、'.join(u.value for u in TimeUnit)})")
    if any(u in match["before"] + match["after"] for u in _UNITS):
        raise DeadlineTextError(f"'{stripped}' names more than one unit")
    amount = float(match["amount"])
    if amount <= 0:
        raise DeadlineTextError(f"'{stripped}': the amount must be greater than zero")
    return ParsedDeadline(amount=amount, unit=TimeUnit(match["unit"]), text=stripped)


def format_deadline(amount: float, unit: str) -> str:
    """The plain form of a deadline ("4工作时", "0.5天"): what the clock runs on, without the source's words."""
    number = str(int(amount)) if float(amount).is_integer() else f"{amount:.6f}".rstrip("0")
    return f"{number}{unit}"
