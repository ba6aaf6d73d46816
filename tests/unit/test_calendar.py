"""Deadline arithmetic on the working calendar: properties over random starts and limits, and exact dates around
the 2026 Spring Festival and National Day (from the chinese-calendar package, checked below first)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityloop.core.clock import BUSINESS_TZ
from cityloop.core.timeunits import TimeUnit
from cityloop.deadlines.calendar import WorkCalendar, add, add_minutes, is_working, minutes_between, to_minutes
from cityloop.deadlines.holidays import statutory_days

U = TimeUnit
DEFAULT = WorkCalendar()
Y2026 = WorkCalendar(special_days=statutory_days([2026]))
NINE_TO_FIVE = WorkCalendar(WorkCalendar.parse_periods("09:00-17:00"))
THREE = WorkCalendar(WorkCalendar.parse_periods("08:30-11:30,13:30-15:00,15:30-17:30"),
                     special_days={date(2026, 3, 7): True, date(2026, 3, 10): False})


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BUSINESS_TZ)


def local(dt: datetime) -> datetime:
    return dt.astimezone(BUSINESS_TZ)


# --- the 2026 arrangement, as the package has it (every expectation below rests on these facts) ---------------

def test_package_has_the_2026_spring_festival_and_national_day_arrangement() -> None:
    days = statutory_days([2026])
    spring = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
    national = [date(2026, 10, 1) + timedelta(days=i) for i in range(7)]
    assert all(days[d] is False for d in spring + national)
    makeup = [date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)]
    assert [days[d] for d in makeup] == [True] * 4
    assert [d.strftime("%a") for d in makeup] == ["Sat", "Sat", "Sun", "Sat"]
    assert date(2026, 2, 24) not in days  # back to work after each
    assert date(2026, 10, 8) not in days
    assert days.get(date(2026, 9, 25)) is False  # Mid-Autumn, the Friday before


def test_statutory_days_skip_years_the_package_does_not_know() -> None:
    assert statutory_days([2027]) == {}
    both = statutory_days([2003, 2026, 2027])
    assert both == statutory_days([2026])
    assert {d.year for d in both} == {2026}


# --- the worked examples of domain.md §4.6 (no holidays) --------------------------------------------------------

@pytest.mark.parametrize(("start", "amount", "unit", "due"), [
    (sh(2026, 11, 27, 16, 30), 4, U.WORK_HOUR, sh(2026, 11, 30, 10, 30)),   # Fri 16:30 → Mon 10:30
    (sh(2026, 11, 24, 15, 0), 1, U.WORK_DAY, sh(2026, 11, 25, 15, 0)),      # Tue 15:00 → Wed 15:00
    (sh(2026, 11, 24, 12, 30), 1, U.WORK_HOUR, sh(2026, 11, 24, 15, 0)),    # counting starts 14:00
    (sh(2026, 11, 28, 23, 10), 2, U.URGENT_HOUR, sh(2026, 11, 29, 1, 10)),  # Sat 23:10 → Sun 01:10
], ids=["fri-to-mon", "one-workday", "lunch-start", "urgent-overnight"])
def test_domain_worked_examples(start: datetime, amount: float, unit: TimeUnit, due: datetime) -> None:
    result = add(DEFAULT, start, amount, unit)
    assert result == due
    assert result.tzinfo is UTC


def test_a_due_time_on_a_period_end_stays_there() -> None:
    assert local(add(DEFAULT, sh(2026, 11, 24, 10), 2, U.WORK_HOUR)) == sh(2026, 11, 24, 12)
    assert local(add(DEFAULT, sh(2026, 11, 24, 8), 1, U.WORK_DAY)) == sh(2026, 11, 24, 18)
    assert local(add(DEFAULT, sh(2026, 11, 27, 8), 1, U.WORK_DAY)) == sh(2026, 11, 27, 18)  # Fri, not Mon 08:00
    # From the end of a period the next minute is the next period's first.
    assert local(add_minutes(DEFAULT, sh(2026, 11, 24, 12), 1, working=True)) == sh(2026, 11, 24, 14, 1)


def test_zero_returns_the_start_even_outside_working_time() -> None:
    saturday = sh(2026, 11, 28, 10, 17, 5)
    result = add_minutes(DEFAULT, saturday, 0, working=True)
    assert result == saturday
    assert result.tzinfo is UTC
    assert local(add_minutes(DEFAULT, saturday, 1, working=True)) == sh(2026, 11, 30, 8, 1)


def test_backwards_stops_at_a_period_start() -> None:
    assert local(add_minutes(DEFAULT, sh(2026, 11, 24, 15), -60, working=True)) == sh(2026, 11, 24, 14)
    assert local(add_minutes(DEFAULT, sh(2026, 11, 24, 15), -61, working=True)) == sh(2026, 11, 24, 11, 59)
    assert local(add_minutes(DEFAULT, sh(2026, 11, 30, 9), -120, working=True)) == sh(2026, 11, 27, 17)


def test_start_in_any_zone_is_read_on_the_business_clock() -> None:
    start = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)  # Fri 16:30 in Shanghai
    assert add(DEFAULT, start, 4, U.WORK_HOUR) == sh(2026, 11, 30, 10, 30)
    new_york = start.astimezone(ZoneInfo("America/New_York"))
    assert add(DEFAULT, new_york, 4, U.WORK_HOUR) == sh(2026, 11, 30, 10, 30)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_minutes(DEFAULT, datetime(2026, 11, 27, 9), 60, working=True)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="aware"):
        minutes_between(DEFAULT, datetime(2026, 11, 27, 9), sh(2026, 11, 27, 10), working=True)  # noqa: DTZ001


# --- Spring Festival and National Day 2026 ----------------------------------------------------------------------

@pytest.mark.parametrize(("start", "amount", "unit", "due"), [
    # Fri before the festival: the make-up Saturday 02-14 is worked.
    (sh(2026, 2, 13, 16), 4, U.WORK_HOUR, sh(2026, 2, 14, 10)),
    # From the make-up Saturday over nine days off to Tue 02-24.
    (sh(2026, 2, 14, 16), 1, U.WORK_DAY, sh(2026, 2, 24, 16)),
    # Fri, make-up Sat, Tue, Wed, Thu: five working days end on Thursday's 18:00.
    (sh(2026, 2, 13, 8), 5, U.WORK_DAY, sh(2026, 2, 26, 18)),
    # A limit started inside the holiday waits for its end.
    (sh(2026, 2, 18, 10), 1, U.WORK_HOUR, sh(2026, 2, 24, 9)),
    # The second make-up Saturday, 02-28.
    (sh(2026, 2, 27, 17), 2, U.WORK_HOUR, sh(2026, 2, 28, 9)),
    # Urgent units ignore the holiday.
    (sh(2026, 2, 15, 10), 2, U.URGENT_DAY, sh(2026, 2, 17, 10)),
    (sh(2026, 2, 16, 23), 3, U.DAY_PLAIN, sh(2026, 2, 19, 23)),
    # Sat 09-19 is an ordinary weekend; Sun 09-20 is the National Day make-up day.
    (sh(2026, 9, 19, 10), 1, U.WORK_HOUR, sh(2026, 9, 20, 9)),
    # Thu 09-24: Mid-Autumn Friday and the weekend pass, Monday 09-28 continues.
    (sh(2026, 9, 24, 15), 1, U.WORK_DAY, sh(2026, 9, 28, 15)),
    # Wed 09-30 16:00: two hours, then 10-01..10-07 off, Thu 10-08 two more.
    (sh(2026, 9, 30, 16), 4, U.WORK_HOUR, sh(2026, 10, 8, 10)),
    # Fri 10-09 17:00: the make-up Saturday 10-10.
    (sh(2026, 10, 9, 17), 2, U.WORK_HOUR, sh(2026, 10, 10, 9)),
    (sh(2026, 9, 30, 16), 4, U.URGENT_HOUR, sh(2026, 9, 30, 20)),
])
def test_holiday_examples(start: datetime, amount: float, unit: TimeUnit, due: datetime) -> None:
    assert local(add(Y2026, start, amount, unit)) == due


def test_minutes_between_counts_make_up_days_and_skips_holidays() -> None:
    # Fri 02-13, Sat 02-14 (make-up) and Tue 02-24: three working days.
    assert minutes_between(Y2026, sh(2026, 2, 13, 8), sh(2026, 2, 25, 8), working=True) == 3 * 480
    # The whole National Day week is worth nothing; 09-30 afternoon and 10-08 morning are.
    assert minutes_between(Y2026, sh(2026, 9, 30, 14), sh(2026, 10, 8, 12), working=True) == 8 * 60
    assert minutes_between(Y2026, sh(2026, 10, 8, 12), sh(2026, 9, 30, 14), working=True) == -8 * 60
    assert minutes_between(Y2026, sh(2026, 10, 1), sh(2026, 10, 8), working=False) == 7 * 24 * 60
    # The whole year: 261 weekdays − 19 holidays falling on weekdays + 6 make-up days = 248
    # (= 365 − 104 weekend days − the 13 statutory holiday days in force since 2025).
    year = minutes_between(Y2026, sh(2026, 1, 1), sh(2027, 1, 1), working=True)
    assert year == 248 * 480
    assert Y2026.count_workdays(date(2026, 1, 1), date(2027, 1, 1)) == 248


# --- units and periods ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", list(TimeUnit))
def test_only_work_hours_and_work_days_count_working_time(unit: TimeUnit) -> None:
    assert is_working(unit) is (unit in (U.WORK_HOUR, U.WORK_DAY))


@pytest.mark.parametrize(("amount", "unit", "minutes"), [
    (4, U.WORK_HOUR, 240), (1.5, U.WORK_DAY, 720), (0.25, U.URGENT_HOUR, 15), (2, U.URGENT_DAY, 2880),
    (3, U.HOUR, 180), (1, U.DAY, 1440), (2, U.DAY_PLAIN, 2880), (0.01, U.WORK_HOUR, 1), (0.005, U.WORK_HOUR, 0),
    (0, U.WORK_DAY, 0),
])
def test_to_minutes(amount: float, unit: TimeUnit, minutes: int) -> None:
    assert to_minutes(DEFAULT, amount, unit) == minutes


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf")])
def test_to_minutes_refuses_impossible_amounts(amount: float) -> None:
    with pytest.raises(ValueError, match="time limit"):
        to_minutes(DEFAULT, amount, U.WORK_HOUR)


def test_a_work_day_is_the_length_of_the_working_periods() -> None:
    assert DEFAULT.day_minutes == 480
    assert NINE_TO_FIVE.day_minutes == 480
    assert THREE.day_minutes == 3 * 60 + 90 + 120
    assert to_minutes(THREE, 1, U.WORK_DAY) == 390
    assert to_minutes(THREE, 1, U.WORK_HOUR) == 60  # a working hour is always sixty minutes


def test_custom_calendar_nine_to_five() -> None:
    assert local(add(NINE_TO_FIVE, sh(2026, 11, 27, 16), 2, U.WORK_HOUR)) == sh(2026, 11, 30, 10)
    assert local(add(NINE_TO_FIVE, sh(2026, 11, 24, 12, 30), 1, U.WORK_HOUR)) == sh(2026, 11, 24, 13, 30)
    assert local(add(NINE_TO_FIVE, sh(2026, 11, 24, 7), 1, U.WORK_DAY)) == sh(2026, 11, 24, 17)


def test_custom_calendar_with_three_periods_and_its_own_days() -> None:
    # Fri 03-06 17:00 → 30 min that day, Sat 03-07 is a working day here: 08:30 + 30 min.
    assert local(add(THREE, sh(2026, 3, 6, 17), 1, U.WORK_HOUR)) == sh(2026, 3, 7, 9)
    # 15:00-15:30 is a break: Mon 03-09 14:45 + 30 min → 15:45. Tue 03-10 is off.
    assert local(add(THREE, sh(2026, 3, 9, 14, 45), 0.5, U.WORK_HOUR)) == sh(2026, 3, 9, 15, 45)
    assert local(add(THREE, sh(2026, 3, 9, 17), 1, U.WORK_HOUR)) == sh(2026, 3, 11, 9)


def test_parse_periods_accepts_the_settings_format() -> None:
    assert WorkCalendar.parse_periods(" 08:00-12:00 , 14:00-18:00 ") == DEFAULT.periods
    assert WorkCalendar.parse_periods("9:00-17:30") == ((time(9), time(17, 30)),)


@pytest.mark.parametrize(("text", "named"), [
    ("", "none given"),
    ("08:00", "'08:00'"),
    ("08:00-12:00,14:00", "'14:00'"),
    ("8h-12h", "'8h'"),
    ("08:00-12:0", "'12:0'"),
    ("25:00-26:00", "'25:00'"),
    ("08:00-24:00", "'24:00'"),
    ("12:00-08:00", "12:00-08:00"),
    ("10:00-10:00", "10:00-10:00"),
    ("08:00-12:00,11:00-13:00", "11:00-13:00"),
    ("14:00-18:00,08:00-12:00", "08:00-12:00"),
])
def test_parse_periods_names_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="working period") as err:
        WorkCalendar.parse_periods(text)
    assert named in str(err.value)


def test_a_calendar_refuses_bad_periods_given_directly() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkCalendar(periods=())
    with pytest.raises(ValueError, match="overlaps"):
        WorkCalendar(periods=((time(8), time(12)), (time(11), time(13))))


def test_special_days_win_over_the_weekday_rule() -> None:
    cal = WorkCalendar(special_days={date(2026, 11, 28): True, date(2026, 11, 30): False})
    assert cal.is_workday(date(2026, 11, 28))       # a Saturday made a working day
    assert not cal.is_workday(date(2026, 11, 29))   # an ordinary Sunday
    assert not cal.is_workday(date(2026, 11, 30))   # a Monday made a holiday
    assert cal.is_workday(date(2026, 12, 1))


class CountingDays(Mapping[date, bool]):
    """Special days that count how often the calendar asks about a day."""

    def __init__(self, days: dict[date, bool]) -> None:
        self.days = days
        self.lookups = 0

    def __getitem__(self, key: date) -> bool:
        self.lookups += 1
        return self.days[key]

    def get(self, key: date, default: object = None) -> object:  # type: ignore[override]
        self.lookups += 1
        return self.days.get(key, default)

    def __iter__(self) -> Iterator[date]:
        return iter(self.days)

    def __len__(self) -> int:
        return len(self.days)


def test_long_limits_skip_whole_days_instead_of_walking_minutes() -> None:
    days = CountingDays(statutory_days([2026]))
    cal = WorkCalendar(special_days=days)
    due = add(cal, sh(2026, 9, 1, 9), 30, U.WORK_DAY)
    # 240 h from Tue 09-01 09:00: 7 h that day; 21 more days in September (make-up Sun 09-20 in, Mid-Autumn
    # Fri 09-25 out) = 168 h; October 8, 9, make-up Sat 10, 12–16 = 64 h; the last hour on Mon 10-19.
    assert local(due) == sh(2026, 10, 19, 9)
    assert minutes_between(cal, sh(2026, 9, 1, 9), due, working=True) == 30 * 480
    calendar_days = (local(due).date() - date(2026, 9, 1)).days + 1
    assert days.lookups <= 3 * calendar_days


# --- properties -------------------------------------------------------------------------------------------------

CALENDARS = st.sampled_from([DEFAULT, Y2026, NINE_TO_FIVE, THREE])
ZONES = st.sampled_from([UTC, BUSINESS_TZ, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])
STARTS = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31),  # noqa: DTZ001
                      timezones=ZONES)
MINUTE_STARTS = STARTS.map(lambda d: d.replace(second=0, microsecond=0))
MINUTES = st.integers(min_value=0, max_value=40 * 480)
SIGNED = st.integers(min_value=-40 * 480, max_value=40 * 480)
MODES = st.booleans()


def in_working_time(cal: WorkCalendar, t: datetime) -> bool:
    """Inside a working period of a working day; a period's end counts as inside (a due time may sit there)."""
    wall = local(t).replace(tzinfo=None)
    return cal.is_workday(wall.date()) and any(
        datetime.combine(wall.date(), s) < wall <= datetime.combine(wall.date(), e) for s, e in cal.periods)


@settings(max_examples=300)
@given(cal=CALENDARS, start=STARTS, a=MINUTES, b=MINUTES, working=MODES)
def test_monotonic_in_minutes(cal: WorkCalendar, start: datetime, a: int, b: int, working: bool) -> None:
    low, high = sorted((a, b))
    assert add_minutes(cal, start, low, working=working) <= add_minutes(cal, start, high, working=working)


@settings(max_examples=300)
@given(cal=CALENDARS, s1=STARTS, s2=STARTS, m=MINUTES, working=MODES)
def test_monotonic_in_start(cal: WorkCalendar, s1: datetime, s2: datetime, m: int, working: bool) -> None:
    early, late = sorted((s1, s2))
    assert add_minutes(cal, early, m, working=working) <= add_minutes(cal, late, m, working=working)


@settings(max_examples=300)
@given(cal=CALENDARS, start=STARTS, a=MINUTES, b=MINUTES, working=MODES, backwards=st.booleans())
def test_adding_in_two_steps_equals_adding_once(cal: WorkCalendar, start: datetime, a: int, b: int,
                                                working: bool, backwards: bool) -> None:
    sign = -1 if backwards else 1
    two_steps = add_minutes(cal, add_minutes(cal, start, sign * a, working=working), sign * b, working=working)
    assert two_steps == add_minutes(cal, start, sign * (a + b), working=working)


@settings(max_examples=300)
@given(cal=CALENDARS, start=STARTS, m=st.integers(min_value=1, max_value=40 * 480))
def test_working_results_lie_in_working_time(cal: WorkCalendar, start: datetime, m: int) -> None:
    assert in_working_time(cal, add_minutes(cal, start, m, working=True))


@settings(max_examples=300)
@given(cal=CALENDARS, start=STARTS, m=SIGNED, working=MODES)
def test_minutes_between_inverts_add_minutes(cal: WorkCalendar, start: datetime, m: int, working: bool) -> None:
    due = add_minutes(cal, start, m, working=working)
    assert minutes_between(cal, start, due, working=working) == m


@settings(max_examples=300)
@given(cal=CALENDARS, a=MINUTE_STARTS, b=MINUTE_STARTS, c=MINUTE_STARTS, working=MODES)
def test_minutes_between_is_additive_and_antisymmetric(cal: WorkCalendar, a: datetime, b: datetime,
                                                       c: datetime, working: bool) -> None:
    first, middle, last = sorted((a, b, c))
    whole = minutes_between(cal, first, last, working=working)
    assert whole == (minutes_between(cal, first, middle, working=working)
                     + minutes_between(cal, middle, last, working=working))
    assert minutes_between(cal, last, first, working=working) == -whole
    assert whole >= 0


def brute_force_minutes(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working minutes by walking every day: slow, obviously right, for comparison only."""
    a, b = local(start).replace(tzinfo=None), local(end).replace(tzinfo=None)
    total = timedelta(0)
    day = a.date()
    while day <= b.date():
        if cal.is_workday(day):
            for s, e in cal.periods:
                lo, hi = max(a, datetime.combine(day, s)), min(b, datetime.combine(day, e))
                total += max(hi - lo, timedelta(0))
        day += timedelta(days=1)
    return round(total / timedelta(minutes=1))


@settings(max_examples=300)
@given(cal=CALENDARS, a=MINUTE_STARTS, b=MINUTE_STARTS)
def test_minutes_between_matches_a_day_by_day_count(cal: WorkCalendar, a: datetime, b: datetime) -> None:
    first, last = sorted((a, b))
    assert minutes_between(cal, first, last, working=True) == brute_force_minutes(cal, first, last)


@given(cal=CALENDARS, first=st.dates(date(2025, 6, 1), date(2027, 6, 1)), span=st.integers(0, 800))
def test_count_workdays_matches_asking_each_day(cal: WorkCalendar, first: date, span: int) -> None:
    stop = first + timedelta(days=span)
    expected = sum(cal.is_workday(first + timedelta(days=i)) for i in range(span))
    assert cal.count_workdays(first, stop) == expected
    assert cal.count_workdays(stop, first) == 0
