"""The working calendar against a database: city overrides over the package, importing a year's arrangement,
coverage warnings, the `cityloop calendar` commands and the /api/v1/calendar endpoints."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityloop.cli import app as cli_app
from cityloop.core.clock import BUSINESS_TZ, FakeClock
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.timeunits import TimeUnit
from cityloop.db.engine import make_engine
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.deadlines import calendar as cal
from cityloop.deadlines import holidays
from cityloop.deadlines.models import CalendarDay, CalendarYear
from cityloop.main import create_app
from cityloop.settings import Settings
from tests.conftest import World, share_test_session
from tests.dbutil import fresh_database_url

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
NATIONAL_DAY = date(2026, 10, 1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BUSINESS_TZ)


def count_days(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) or 0


# --- overrides and the package --------------------------------------------------------------------------------

def test_load_calendar_has_the_package_days_and_the_settings_periods(session: Session) -> None:
    calendar = holidays.load_calendar(session, Settings(work_periods="09:00-17:00"))
    assert calendar.periods == cal.WorkCalendar.parse_periods("09:00-17:00")
    assert not calendar.is_workday(NATIONAL_DAY)
    assert calendar.is_workday(date(2026, 10, 10))      # make-up Saturday
    assert not calendar.is_workday(date(2010, 10, 1))   # older years come with the package too
    assert calendar.is_workday(date(2027, 10, 1))       # an unknown year falls back to Monday–Friday


def test_database_rows_win_over_the_package(session: Session) -> None:
    holidays.set_day(session, NATIONAL_DAY, True, "值守", NOW)            # the package says holiday
    holidays.set_day(session, date(2026, 10, 8), False, "城市补假", NOW)  # the package says nothing
    calendar = holidays.load_calendar(session, Settings())
    assert calendar.is_workday(NATIONAL_DAY)
    assert not calendar.is_workday(date(2026, 10, 8))
    # Wed 09-30 16:00 + 4 工作时: two hours, 10-01 now worked 08:00–10:00.
    assert cal.add(calendar, sh(2026, 9, 30, 16), 4, TimeUnit.WORK_HOUR) == sh(2026, 10, 1, 10)

    holidays.remove_day(session, NATIONAL_DAY)
    assert not holidays.load_calendar(session, Settings()).is_workday(NATIONAL_DAY)  # the package again
    with pytest.raises(NotFound, match="2026-10-01"):
        holidays.remove_day(session, NATIONAL_DAY)


def test_set_day_replaces_an_existing_override(session: Session) -> None:
    holidays.set_day(session, date(2027, 1, 1), False, "元旦", NOW)
    later = NOW + timedelta(hours=1)
    holidays.set_day(session, date(2027, 1, 1), True, "改为上班", later)
    session.flush()  # flush: count the rows in the database, not the session
    row = session.get(CalendarDay, date(2027, 1, 1))
    assert row is not None
    assert (row.workday, row.note, row.created_at) == (True, "改为上班", later)
    assert count_days(session) == 1
    with pytest.raises(ValidationFailed, match="longer than 100"):
        holidays.set_day(session, date(2027, 1, 2), False, "x" * 101, NOW)


# --- importing a year -----------------------------------------------------------------------------------------

ARRANGEMENT_2027 = [
    (date(2027, 1, 1), False, "元旦"),
    (date(2027, 2, 6), True, "春节调休上班"),
    (date(2027, 2, 8), False, "春节"),
]


def test_import_replaces_the_year_and_records_it(session: Session) -> None:
    holidays.set_day(session, date(2027, 5, 6), False, "old guess", NOW)   # replaced: same year
    holidays.set_day(session, date(2028, 1, 3), False, "next year", NOW)   # kept: another year
    assert holidays.import_arrangement(session, ARRANGEMENT_2027, 2027, "国办发明电〔2026〕", NOW) == 3
    session.flush()  # flush: read back what was written
    days = dict(session.execute(sa.select(CalendarDay.day, CalendarDay.workday)).all())
    assert days == {date(2027, 1, 1): False, date(2027, 2, 6): True, date(2027, 2, 8): False,
                    date(2028, 1, 3): False}
    year = session.get(CalendarYear, 2027)
    assert year is not None
    assert (year.source, year.loaded_at) == ("国办发明电〔2026〕", NOW)

    # Importing again replaces again and updates the record.
    holidays.import_arrangement(session, ARRANGEMENT_2027[:1], 2027, "corrected", NOW + timedelta(days=1))
    session.flush()  # flush: read back what was written
    assert session.scalars(sa.select(CalendarDay.day).order_by(CalendarDay.day)).all() == [
        date(2027, 1, 1), date(2028, 1, 3)]
    assert session.get(CalendarYear, 2027).source == "corrected"  # type: ignore[union-attr]


@pytest.mark.parametrize(("rows", "message"), [
    ([*ARRANGEMENT_2027, (date(2028, 1, 1), False, "元旦")], r"row 4 \(2028-01-01\): not in 2027"),
    ([*ARRANGEMENT_2027, (date(2027, 2, 6), False, "春节")], r"row 4 \(2027-02-06\): the same day as row 2"),
    ([(date(2027, 1, 1), False, "x" * 101)], r"row 1 \(2027-01-01\): the note is longer"),
    ([], "no days given for 2027"),
], ids=["wrong-year", "duplicate", "long-note", "empty"])
def test_import_is_all_or_nothing_and_names_the_row(session: Session, rows: list[tuple[date, bool, str]],
                                                     message: str) -> None:
    holidays.set_day(session, date(2027, 5, 6), False, "kept", NOW)
    session.flush()  # flush: the row must be in the database for "nothing changed" to mean something
    with pytest.raises(ValidationFailed, match=message):
        holidays.import_arrangement(session, rows, 2027, "file.csv", NOW)
    assert session.scalars(sa.select(CalendarDay.day)).all() == [date(2027, 5, 6)]
    assert session.get(CalendarYear, 2027) is None


# --- coverage ---------------------------------------------------------------------------------------------------

def test_2027_is_uncovered_until_its_arrangement_is_loaded(session: Session) -> None:
    today = date(2026, 11, 28)
    uncovered = holidays.uncovered_days(session, today, 60)
    assert uncovered == [date(2027, 1, 1) + timedelta(days=i) for i in range(26)]  # 11-28 + 60 days → 01-26
    cov = holidays.coverage_of(session, today, 60)
    assert cov.covered_until == date(2026, 12, 31)
    assert cov.warning is not None
    assert "26 of the next 60 days" in cov.warning
    assert "2027" in cov.warning

    holidays.set_day(session, date(2027, 1, 1), False, "元旦", NOW)
    assert len(holidays.uncovered_days(session, today, 60)) == 26  # one override does not cover a year

    holidays.import_arrangement(session, ARRANGEMENT_2027, 2027, "test", NOW)
    assert holidays.uncovered_days(session, today, 60) == []
    cov = holidays.coverage_of(session, today, 60)
    assert (cov.covered_until, cov.warning, cov.loaded_years) == (date(2027, 12, 31), None, [2027])
    assert holidays.uncovered_days(session, today, 500)[0] == date(2028, 1, 1)


def test_coverage_of_a_year_nobody_knows() -> None:
    cov = holidays.coverage(date(2030, 6, 1), 10, [2029])
    assert cov.covered_until is None
    assert len(cov.uncovered) == 10


# --- the CLI ----------------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database_url(tmp_path) as url:
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
        monkeypatch.delenv("CITYLOOP_WORK_PERIODS", raising=False)
        monkeypatch.delenv("CITYLOOP_CALENDAR_HORIZON_DAYS", raising=False)
        yield url


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


DUE_ARGS = ("calendar", "due", "--start", "2026-09-30T16:00:00+08:00", "--amount", "4", "--unit", "工作时")


def test_cli_due_works_before_the_database_is_migrated(db_url: str) -> None:
    result = cli(*DUE_ARGS)
    assert result.stdout == "2026-10-08T10:00:00+08:00\n"  # after National Day
    assert "statutory calendar only" in result.stderr
    # A naive start is Shanghai time; continuous units run through the holiday.
    assert cli("calendar", "due", "--start", "2026-09-30T16:00", "--amount", "4", "--unit", "工作时").stdout == \
        "2026-10-08T10:00:00+08:00\n"
    assert cli("calendar", "due", "--start", "2026-09-30T08:00:00Z", "--amount", "2", "--unit", "紧急工作日").stdout \
        == "2026-10-02T16:00:00+08:00\n"


def test_cli_due_counts_the_database_overrides(db_url: str) -> None:
    cli("db", "upgrade")
    engine = make_engine(db_url)
    try:
        with session_scope(write_sessionmaker(engine)) as session:
            holidays.set_day(session, date(2026, 10, 8), False, "城市补假", NOW)
    finally:
        engine.dispose()
    result = cli(*DUE_ARGS)
    assert result.stdout == "2026-10-09T10:00:00+08:00\n"
    assert result.stderr == ""


@pytest.mark.parametrize(("args", "message"), [
    (("--start", "2026-09-30 late", "--amount", "4", "--unit", "工作时"), "is not an ISO 8601"),
    (("--start", "2026-09-30T16:00", "--amount", "4", "--unit", "workhours"), "'workhours' is not one of 工作时"),
    (("--start", "2026-09-30T16:00", "--amount", "-1", "--unit", "工作时"), "time limit"),
])
def test_cli_due_refuses_bad_input(db_url: str, args: tuple[str, ...], message: str) -> None:
    result = cli("calendar", "due", *args, code=2)
    assert message in result.stderr
    assert result.stdout == ""


def test_cli_import_and_check(db_url: str, tmp_path: Path) -> None:
    cli("db", "upgrade")
    check = cli("calendar", "check", "--today", "2026-11-28", code=1)
    lines = check.stdout.splitlines()
    assert lines[0].startswith("uncovered: 26 of the next 60 days")
    assert lines[1:] == [(date(2027, 1, 1) + timedelta(days=i)).isoformat() for i in range(26)]

    bad = tmp_path / "bad.csv"
    bad.write_text("date,type,name\n2027-01-01,休,元旦\n\n2028-02-06,班,春节调休\n", encoding="utf-8")
    result = cli("calendar", "import", str(bad), "--year", "2027", code=2)
    assert "line 4: row 2 (2028-02-06): not in 2027" in result.stderr
    typo = tmp_path / "typo.csv"
    typo.write_text("2027-01-01,休,元旦\n2027-02-06,上班,春节调休\n", encoding="utf-8")
    assert "line 2: type '上班' is not holiday" in cli("calendar", "import", str(typo), "--year", "2027",
                                                     code=2).stderr
    cli("calendar", "check", "--today", "2026-11-28", code=1)  # nothing was imported

    good = tmp_path / "2027.csv"
    good.write_text("\ufeffdate,type,name\n2027-01-01,holiday,元旦\n2027-02-06,班,春节调休上班\n"
                    "2027-02-07,workday,\n2027-02-10,休,春节\n", encoding="utf-8")
    result = cli("calendar", "import", str(good), "--year", "2027", "--source", "国办发明电")
    assert result.stdout == "2027: 4 days imported (2 holidays, 2 working days)\n"
    assert cli("calendar", "check", "--today", "2026-11-28").stdout == \
        "covered: the next 60 days from 2026-11-28\n"
    # The imported make-up Saturday counts: Fri 2027-02-05 17:00 + 2 工作时 → Sat 02-06 09:00.
    due = cli("calendar", "due", "--start", "2027-02-05T17:00", "--amount", "2", "--unit", "工作时")
    assert due.stdout == "2027-02-06T09:00:00+08:00\n"

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            assert session.get(CalendarYear, 2027).source == "国办发明电"  # type: ignore[union-attr]
    finally:
        engine.dispose()


# --- the API ----------------------------------------------------------------------------------------------------

def test_any_staff_reads_a_year_of_days(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/calendar/days", params={"year": 2026}, headers=world["unit_a_staff"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["year"], body["covered"]) == (2026, True)
    days = {d["day"]: d for d in body["days"]}
    assert days["2026-10-01"] == {"day": "2026-10-01", "workday": False, "note": "国庆节", "source": "statutory",
                                  "created_at": None}
    assert days["2026-02-14"]["workday"] is True
    assert days["2026-02-14"]["note"] == "春节调休上班"
    assert [d["day"] for d in body["days"]] == sorted(days)

    r = client.get("/api/v1/calendar/days", params={"year": 2027}, headers=world["operator"].headers)
    assert r.json() == {"year": 2027, "covered": False, "days": []}
    assert client.get("/api/v1/calendar/days", headers=world["citizen"].headers).status_code == 403
    assert client.get("/api/v1/calendar/days").status_code == 401


def test_admin_sets_and_removes_a_day(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    r = client.put("/api/v1/calendar/days/2026-10-08", json={"workday": False, "note": "城市补假"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"day": "2026-10-08", "workday": False, "note": "城市补假", "source": "database",
                        "created_at": "2026-11-25T10:00:00+08:00"}
    r = client.put("/api/v1/calendar/days/2026-10-01", json={"workday": True}, headers=admin)
    assert r.json()["note"] == ""

    days = {d["day"]: d for d in client.get("/api/v1/calendar/days", params={"year": 2026},
                                             headers=world["dispatcher"].headers).json()["days"]}
    assert (days["2026-10-08"]["workday"], days["2026-10-08"]["source"]) == (False, "database")
    assert (days["2026-10-01"]["workday"], days["2026-10-01"]["source"]) == (True, "database")

    assert client.delete("/api/v1/calendar/days/2026-10-01", headers=admin).status_code == 204
    r = client.delete("/api/v1/calendar/days/2026-10-01", headers=admin)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    days = {d["day"]: d for d in client.get("/api/v1/calendar/days", params={"year": 2026},
                                             headers=admin).json()["days"]}
    assert (days["2026-10-01"]["workday"], days["2026-10-01"]["source"]) == (False, "statutory")


@pytest.mark.parametrize("who", ["operator", "dispatcher", "shift_leader", "leader", "unit_a_staff", "citizen"])
def test_only_admins_change_the_calendar(client: TestClient, world: World, session: Session, who: str) -> None:
    headers = world[who].headers
    assert client.put("/api/v1/calendar/days/2026-10-08", json={"workday": False}, headers=headers).status_code \
        == 403
    assert client.delete("/api/v1/calendar/days/2026-10-08", headers=headers).status_code == 403
    assert count_days(session) == 0


def test_put_day_validates_its_input(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    r = client.put("/api/v1/calendar/days/2026-10-08", json={"workday": False, "note": "x" * 101}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "note")
    r = client.put("/api/v1/calendar/days/2026-02-30", json={"workday": False}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "day")
    assert client.put("/api/v1/calendar/days/2026-10-08", json={}, headers=admin).status_code == 422


def test_coverage_endpoint(client: TestClient, world: World, session: Session) -> None:
    r = client.get("/api/v1/calendar/coverage", headers=world["leader"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    # The test clock reads Wed 2026-11-25: 60 days run to 2027-01-23.
    assert {k: body[k] for k in ("today", "horizon_days", "covered_until", "uncovered_days", "first_uncovered",
                                 "loaded_years")} == {
        "today": "2026-11-25", "horizon_days": 60, "covered_until": "2026-12-31", "uncovered_days": 23,
        "first_uncovered": "2027-01-01", "loaded_years": []}
    assert "2027" in body["warning"]

    holidays.import_arrangement(session, ARRANGEMENT_2027, 2027, "test", NOW)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it
    body = client.get("/api/v1/calendar/coverage", headers=world["leader"].headers).json()
    assert (body["uncovered_days"], body["warning"], body["loaded_years"]) == (0, None, [2027])
    assert client.get("/api/v1/calendar/coverage", headers=world["citizen"].headers).status_code == 403


# --- /health and the start-up warning ---------------------------------------------------------------------------

@pytest.fixture
def start_app(settings: Settings, session_factory: Callable[[], Session]
              ) -> Iterator[Callable[[int, datetime], TestClient]]:
    apps = []

    def start(horizon_days: int, now: datetime) -> TestClient:
        application = create_app(settings.model_copy(update={"calendar_horizon_days": horizon_days}),
                                 clock=FakeClock(now))
        share_test_session(application, session_factory)
        apps.append(application)
        return TestClient(application)

    yield start
    for application in apps:
        application.state.engine.dispose()


def test_health_warns_when_the_horizon_is_uncovered(start_app: Callable[[int, datetime], TestClient],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cityloop"), start_app(60, NOW) as client:
        r = client.get("/health")
        client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    detail = r.json()["calendar"]
    assert (detail["covered_until"], detail["uncovered_days"]) == ("2026-12-31", 26)
    assert "load the 2027 arrangement" in detail["warning"]
    warnings = [rec for rec in caplog.records if "working calendar" in rec.getMessage()]
    assert len(warnings) == 1  # once at start-up, not per request
    assert warnings[0].levelno == logging.WARNING
    assert "2027-01-01" in warnings[0].getMessage()


def test_health_is_quiet_when_the_horizon_is_covered(start_app: Callable[[int, datetime], TestClient],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cityloop"), start_app(30, NOW) as client:
        r = client.get("/health")
    assert r.json()["calendar"] == {"covered_until": "2026-12-31", "uncovered_days": 0}
    assert not [rec for rec in caplog.records if "working calendar" in rec.getMessage()]
