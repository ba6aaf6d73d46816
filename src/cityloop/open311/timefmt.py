"""Open311 datetimes: strict out (`YYYY-MM-DDTHH:MM:SS+08:00`), lenient in (doc §2.4). Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from cityloop.core.clock import BUSINESS_TZ, to_business

# W3C-DTF / ISO 8601 as clients really send it. The offset may be "Z", ±HH:MM, ±HHMM or ±HH; a single space
# in its sign's place is a "+" that an unencoded query string decoded to a space (…T00:00:00 08:00).
_INPUT = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+\- ]\d{2}(?::?\d{2})?)?)?$")


def format_dt(value: datetime | None) -> str | None:
    """Seconds precision, always the business offset: 2026-11-20T09:12:31+08:00."""
    if value is None:
        return None
    return to_business(value).replace(microsecond=0).isoformat()


def parse_dt(text: str) -> datetime:
    """An aware UTC datetime. A date alone is local midnight and a naive time is local (+08:00).

    Raises ValueError with a message safe to show to the client.
    """
    m = _INPUT.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not an ISO 8601 datetime (e.g. 2026-11-01T00:00:00+08:00)")
    try:
        year, month, day = (int(p) for p in m["date"].split("-"))
        frac = int((m["f"] or "0")[:6].ljust(6, "0"))
        tz = m["tz"]
        zone: tzinfo
        if tz is None:
            zone = BUSINESS_TZ  # naive and date-only input is the city's wall-clock time
        elif tz in ("Z", "z"):
            zone = UTC
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        local = datetime(year, month, day, int(m["h"] or 0), int(m["m"] or 0), int(m["s"] or 0), frac, tzinfo=zone)
        return local.astimezone(UTC)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid datetime") from None
