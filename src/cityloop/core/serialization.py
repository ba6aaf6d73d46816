"""Output conventions shared by every API schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

from cityloop.core.clock import to_business

# API datetimes are ISO 8601 with the business offset (+08:00), the way people in the city read them.
BizDateTime = Annotated[datetime, PlainSerializer(lambda d: to_business(d).isoformat(), return_type=str)]
