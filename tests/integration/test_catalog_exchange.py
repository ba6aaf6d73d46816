"""Import and export of a class directory with its standards, in the Excel and CSV shapes cities keep."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cityloop.catalog import exchange, queries, service
from cityloop.catalog.deadline_text import parse_deadline
from cityloop.catalog.enums import GBT_47678_2026, Kind
from cityloop.catalog.models import CatalogVersion, Category, FilingStandard
from cityloop.catalog.seed import DEMO_STANDARD, seed_demo_standard
from cityloop.catalog.specs import ClassSpec, StandardSpec
from cityloop.cli import app
from cityloop.core.errors import Conflict
from tests.dbutil import fresh_database_url
from tests.factories import EPOCH

HEADER = ["大类代码", "大类名称", "小类代码", "小类名称", "立案条件", "结案条件", "处置时限", "处置单位", "主管部门"]


def _content(session: Session, version: str) -> list[dict[str, Any]]:
    """Everything a version says, without row ids, its own code or where it was imported from."""
    _, specs = service.version_specs(session, version)
    out = []
    for spec in specs:
        d = asdict(spec)
        d.pop("source")
        for std in d["standards"]:
            std.pop("source")
        out.append(d)
    return out


def _counts(session: Session) -> tuple[int, int, int]:
    return (session.scalar(sa.select(sa.func.count()).select_from(CatalogVersion)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(Category)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(FilingStandard)) or 0)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_yuncheng_standard_round_trips(session: Session, tmp_path: Path, suffix: str) -> None:
    seed_demo_standard(session, EPOCH)
    first = tmp_path / f"yc{suffix}"
    assert service.export_file(session, first, version=DEMO_STANDARD) == service.VersionCounts(
        DEMO_STANDARD, 190, 518)
    counts = service.import_file(session, first, EPOCH, version="YC-copy", name="副本")
    assert counts == service.VersionCounts("YC-copy", 190, 518)
    assert _content(session, "YC-copy") == _content(session, DEMO_STANDARD)
    # The workbook rows' 3天 = 3 工作日 survives: the unit the clock runs on and the source's words both.
    copy = queries.find(session, Kind.PART, "0199", scheme="YC-copy")
    assert copy is not None
    station = queries.standards_for(session, copy.id)[0]
    assert (station.deadline_text, station.deadline_amount, station.deadline_unit) == ("3天", 3, "工作日")
    assert session.get_one(CatalogVersion, "YC-copy").name == "副本"

    again = tmp_path / f"again{suffix}"
    service.export_file(session, again, version="YC-copy")
    if suffix == ".csv":
        assert again.read_bytes() == first.read_bytes()
    else:
        assert _sheets(again) == _sheets(first)


def _sheets(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(path)
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def test_the_national_directory_exports_codes_and_names_only(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "gb.csv"
    assert service.export_file(session, path) == service.VersionCounts(GBT_47678_2026, 403, 0)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["类型", *HEADER]
    assert rows[1] == ["部件", "01", "市政公用设施", "01001", "供水井盖", "", "", "", "", ""]
    assert len(rows) == 1 + 403
    service.import_file(session, path, EPOCH, version="GB-copy", adopt_it=True)
    assert queries.adopted_version(session) == "GB-copy"
    assert _content(session, "GB-copy") == _content(session, GBT_47678_2026)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_region_deadlines_free_texts_and_formula_like_text_round_trip(session: Session, tmp_path: Path,
                                                                      suffix: str) -> None:
    specs = [
        ClassSpec(Kind.PART, "01", "公用设施", "01", "上水井盖", standards=[
            StandardSpec("=缺失", "恢复", parse_deadline("2紧急工作时"), "处置A", "主管B",
                         {"A": {"amount": 1.0, "unit": "紧急工作时"}, "C": {"amount": 0.5, "unit": "工作日"}}),
            StandardSpec("", "补种", parse_deadline("种植季节15工作日")),
        ]),
        ClassSpec(Kind.EVENT, "10", "其他事项类", "002", "架空线缆脱落"),
    ]
    service.create_version(session, "HZ-2027", "杭州（测试）", "test", specs, EPOCH)
    path = tmp_path / f"hz{suffix}"
    service.export_file(session, path, version="HZ-2027")
    service.import_file(session, path, EPOCH, version="HZ-copy")
    assert _content(session, "HZ-copy") == _content(session, "HZ-2027")
    copy = queries.find(session, Kind.PART, "0101", scheme="HZ-copy")
    assert copy is not None
    rows = queries.standards_for(session, copy.id)
    assert rows[0].filing_criteria == "=缺失"
    assert rows[0].region_deadlines == {"A": {"amount": 1, "unit": "紧急工作时"},
                                        "C": {"amount": 0.5, "unit": "工作日"}}
    assert (rows[1].deadline_text, rows[1].deadline_unit) == ("种植季节15工作日", "工作日")
    event = queries.find(session, Kind.EVENT, "10002", scheme="HZ-copy")
    assert event is not None
    assert queries.standards_for(session, event.id) == []


def _bad_workbook(path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    parts = book.create_sheet("部件")
    parts.append([*HEADER, "处置时限A"])
    parts.append(["01", "公用设施", "0101", "上水井盖", "缺失", "恢复", "2紧急工作时", "", "", ""])   # row 2: fine
    parts.append(["", "公用设施", "0102", "污水井盖", "缺失", "恢复", "2紧急工作时", "", "", ""])      # 3: no major
    parts.append(["01", "公用设施", "01a3", "雨水井盖", "缺失", "恢复", "2紧急工作时", "", "", ""])    # 4: not digits
    parts.append(["01", "公用设施", "0104", "雨水箅子", "破损", "修复", "尽快", "", "", ""])           # 5: deadline
    parts.append(["01", "公用设施", "0101", "上水井盖", "缺失", "恢复", "4工作时", "", "", ""])        # 6: duplicate
    parts.append([None] * 10)                                                                          # 7: blank
    parts.append(["01", "公用设施", "0105", "", "破损", "修复", "", "", "", "A级"])                    # 8: three
    events = book.create_sheet("事件")
    events.append(HEADER)
    events.append([1, "市容环境", "10", "暴露垃圾", "", "", "", "", ""])                               # 2: 1 not 01
    events.append(["01", "市容环境", "0110", "暴露生活垃圾", "x", "清理", "4小时", "", ""])            # 3: fine
    events.append(["01", "市容", "0110", "暴露垃圾", "y", "清理", "4小时", "", ""])                    # 4: names
    events.append(["01", "市容环境", "0211", "乱扔", "", "", "", "", ""])                              # 5: prefix
    book.save(path)


def test_a_bad_workbook_reports_every_problem_and_creates_nothing(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.xlsx"
    _bad_workbook(path)
    before = _counts(session)
    with pytest.raises(exchange.ImportRejected) as caught:
        service.import_file(session, path, EPOCH)
    found = [(e.sheet, e.row, e.column) for e in caught.value.errors]
    assert found == [
        ("部件", 3, "大类代码"),
        ("部件", 4, "小类代码"),
        ("部件", 5, "处置时限"),
        ("部件", 6, "立案条件"),
        ("部件", 8, "小类名称"),
        ("部件", 8, "处置时限"),
        ("部件", 8, "处置时限A"),
        ("事件", 2, "大类代码"),
        ("事件", 4, "大类名称"),
        ("事件", 4, "小类名称"),
        ("事件", 5, "小类代码"),
    ]
    messages = [str(e) for e in caught.value.errors]
    assert messages[0] == "部件 row 3, 大类代码: missing code"
    assert messages[1] == "部件 row 4, 小类代码: '01a3' is not all digits"
    assert "'尽快' is not a number followed by a unit" in messages[2]
    assert messages[3] == "部件 row 6, 立案条件: duplicate row: 部件 0101 has this 立案条件 already on 部件 row 2"
    assert messages[5] == "部件 row 8, 处置时限: missing: a row with criteria needs a deadline"
    assert "'A级' is not a number" in messages[6]
    assert messages[7] == "事件 row 2, 大类代码: '1' must be 2 digits (keep codes as text so leading zeros survive)"
    assert messages[8] == "事件 row 4, 大类名称: '市容' differs from '市容环境' given for 事件 0110 on 事件 row 3"
    assert "must be the 2–3 digit minor code or the full code beginning with 大类代码 '01'" in messages[10]
    assert caught.value.details["errors"][0] == {"sheet": "部件", "row": 3, "column": "大类代码",
                                                 "message": "missing code"}
    assert _counts(session) == before


def test_a_bad_csv_names_kind_and_header_problems(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("类型," + ",".join(HEADER) + "\n"
                    "设施,01,公用设施,0101,上水井盖,缺失,恢复,2紧急工作时,,\n"
                    ",01,公用设施,0102,污水井盖,缺失,恢复,2紧急工作时,,\n", encoding="utf-8")
    with pytest.raises(exchange.ImportRejected) as caught:
        service.import_file(session, path, EPOCH)
    assert [str(e) for e in caught.value.errors] == [
        "bad.csv row 2, 类型: '设施' is not 部件 or 事件", "bad.csv row 3, 类型: missing"]

    path.write_text("类型,大类代码,小类代码,小类代码\n部件,01,0101,0101\n", encoding="utf-8")
    with pytest.raises(exchange.ImportRejected) as caught:
        service.import_file(session, path, EPOCH)
    missing = ("大类名称", "小类名称", "立案条件", "结案条件", "处置时限", "处置单位", "主管部门")
    assert {(e.row, e.column, e.message) for e in caught.value.errors} == {
        (1, col, "missing column") for col in missing} | {(1, "小类代码", "column appears more than once")}


def test_an_unknown_format_or_a_taken_version_code_is_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "standard.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(exchange.ImportRejected, match="1 problem"):
        service.import_file(session, path, EPOCH)
    empty = tmp_path / "empty.csv"
    empty.write_text("类型," + ",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(exchange.ImportRejected) as caught:
        service.import_file(session, empty, EPOCH)
    assert [str(e) for e in caught.value.errors] == ["empty.csv: no classes: the file has a header but no rows"]
    good = tmp_path / f"{GBT_47678_2026.replace('/', '_')}.csv"
    service.export_file(session, good)
    with pytest.raises(Conflict, match=r"'GB/T 47678\.5-2026' exists"):
        service.import_file(session, good, EPOCH, version=GBT_47678_2026)


# --- the CLI ---------------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_database_url(tmp_path) as url:
        monkeypatch.setenv("CITYLOOP_DATABASE_URL", url)
        _cli("db", "upgrade")
        yield url


def _cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


def _adopted(out: str) -> list[str]:
    return [line[2:].split("  ")[0].strip() for line in out.splitlines() if line.startswith("*")]


def test_cli_seed_export_import_adopt_and_versions(cli_db: str, tmp_path: Path) -> None:
    seeded = _cli("catalog", "seed").stdout.splitlines()
    assert seeded == ["categories: 403 inserted, 0 updated",
                      "YC-2026: categories 190 inserted, 0 updated; standards 518 inserted, 0 updated"]
    assert _adopted(_cli("catalog", "versions").stdout) == [GBT_47678_2026]

    path = tmp_path / "运城2026.xlsx"
    assert _cli("catalog", "export", str(path), "--version", DEMO_STANDARD).stdout == (
        f"version YC-2026: 190 categories, 518 standards written to {path}\n")
    imported = _cli("catalog", "import", str(path), "--name", "运城（导入）", "--adopt")
    assert imported.stdout == "version 运城2026: 190 categories, 518 standards imported, adopted\n"
    listed = _cli("catalog", "versions").stdout
    assert _adopted(listed) == ["运城2026"]
    assert "运城（导入）" in listed

    _cli("catalog", "adopt", DEMO_STANDARD)
    assert _adopted(_cli("catalog", "versions").stdout) == [DEMO_STANDARD]
    unknown = _cli("catalog", "adopt", "nope", code=2)
    assert unknown.stderr == "error: version: no class directory version 'nope'\n"

    csv_path = tmp_path / "current.csv"
    _cli("catalog", "export", str(csv_path))  # the adopted version: YC-2026
    assert csv_path.read_text(encoding="utf-8-sig").splitlines()[1].startswith("部件,01,公用设施,0101,上水井盖,")


def test_cli_import_prints_every_error_and_exits_2(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.xlsx"
    _bad_workbook(path)
    result = _cli("catalog", "import", str(path), code=2)
    lines = result.stderr.splitlines()
    assert len(lines) == 12
    assert lines[0] == "error: 部件 row 3, 大类代码: missing code"
    assert lines[-1] == "error: 11 problem(s) in the file; nothing was imported"
    assert result.stdout == ""
    assert _cli("catalog", "versions").stdout == ""  # not even the version row was created
