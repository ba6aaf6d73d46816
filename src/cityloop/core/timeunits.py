"""The vocabulary of time limits (处置时限 units), shared by requests for 延期 and the working calendar."""

from __future__ import annotations

from enum import StrEnum


class TimeUnit(StrEnum):
    WORK_HOUR = "工作时"          # hours inside working time only
    WORK_DAY = "工作日"           # 8 工作时
    URGENT_HOUR = "紧急工作时"    # continuous hours: nights, weekends and holidays count
    URGENT_DAY = "紧急工作日"     # continuous 24-hour days
    HOUR = "小时"                 # natural hours
    DAY = "自然日"                # natural days
    DAY_PLAIN = "天"              # natural days, as local standards write it
