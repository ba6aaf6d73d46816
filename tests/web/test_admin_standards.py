"""系统管理 · 立结案标准 in the console: the export is a real workbook that imports back as a new version, a file
with bad cells is listed cell by cell with nothing stored, and only routing managers import or adopt."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy.orm import Session

from cityloop.catalog import queries as catalog_queries
from cityloop.catalog.enums import GBT_47678_2026
from cityloop.catalog.models import CatalogVersion, Category
from tests.conftest import World
from tests.web.helpers import Web, text_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["大类代码", "大类名称", "小类代码", "小类名称", "立案条件", "结案条件", "处置时限", "处置单位", "主管部门"]


@pytest.fixture
def admin(client: TestClient, world: World) -> Web:
    return Web(client, world["admin"])


def count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _export(admin: Web, version: str = "") -> bytes:
    r = admin.get("/admin/standards/export" + (f"?version={version}" if version else ""))
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX
    assert "attachment" in r.headers["content-disposition"]
    return r.content


def test_export_is_a_real_workbook_that_imports_back(admin: Web, session: Session) -> None:
    content = _export(admin)
    book = load_workbook(BytesIO(content))
    assert book.sheetnames == ["部件", "事件"]
    assert [c.value for c in book["部件"][1]][:4] == HEADER[:4]
    exported = book["部件"].max_row - 1 + book["事件"].max_row - 1

    r = admin.post("/admin/standards/import", {"version": "WEB-COPY", "name": "网页导入副本"},
                   files={"file": ("国家目录.xlsx", content, XLSX)})
    assert r.status_code == 303, text_of(r.text)[:800]
    assert r.headers["location"] == "/admin/standards?done=imported&version=WEB-COPY"
    session.expire_all()
    version = session.get(CatalogVersion, "WEB-COPY")
    assert version is not None
    assert version.name == "网页导入副本"
    assert version.adopted_at is None
    national = catalog_queries.list_categories(session, scheme=GBT_47678_2026)
    copied = catalog_queries.list_categories(session, scheme="WEB-COPY")
    assert len(copied) == len(national) == exported
    assert [(c.kind, c.code, c.name) for c in copied] == [(c.kind, c.code, c.name) for c in national]
    page = text_of(admin.get(r.headers["location"]).text)
    assert "立结案标准已导入" in page
    assert "WEB-COPY" in page
    # The national directory names classes only: each is listed, marked as having no standard yet.
    first = copied[0]
    one = text_of(admin.get(f"/admin/standards?version=WEB-COPY&kind={first.kind.value}&code={first.code}").text)
    assert first.name in one
    assert "未设立结案标准" in one
    assert "共 1 条" in one

    r = admin.post("/admin/standards/adopt", {"version": "WEB-COPY"})
    assert r.status_code == 303
    session.expire_all()
    assert catalog_queries.adopted_version(session) == "WEB-COPY"


def _workbook(tmp_path: Path, rows: list[list[str]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    sheet = book.create_sheet("事件")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.create_sheet("部件").append(HEADER)
    path = tmp_path / "book.xlsx"
    book.save(path)
    return path.read_bytes()


def test_an_imported_standard_is_listed_and_filtered(admin: Web, tmp_path: Path) -> None:
    content = _workbook(tmp_path, [
        ["06", "市容环境", "010", "暴露垃圾", "垃圾暴露超过1平方米", "清理干净", "2工作时", "环卫所", "城管局"],
        ["07", "设施管理", "001", "井盖缺失", "井盖缺失", "已补装", "1工作日", "市政所", "住建局"]])
    r = admin.post("/admin/standards/import", {"version": "小城2027", "adopt": "1"},
                   files={"file": ("小城.xlsx", content, XLSX)})
    assert r.status_code == 303
    assert "done=adopted" in r.headers["location"]
    page = text_of(admin.get("/admin/standards?code=0601").text)
    assert "小城2027" in page
    assert "垃圾暴露超过1平方米" in page
    assert "2工作时" in page
    assert "井盖缺失" not in page


def test_a_broken_file_shows_every_bad_cell_and_stores_nothing(admin: Web, session: Session,
                                                              tmp_path: Path) -> None:
    versions, categories = count(session, CatalogVersion), count(session, Category)
    content = _workbook(tmp_path, [
        ["6", "市容环境", "010", "暴露垃圾", "垃圾暴露", "清理干净", "2工作时", "", ""],
        ["06", "市容环境", "011", "", "乱堆物料", "清理干净", "whenever", "", ""],
        ["06", "市容环境", "012", "道路不洁", "路面不洁", "清扫干净", "1工作日", "", ""]])
    r = admin.post("/admin/standards/import", {"version": "BROKEN"},
                   files={"file": ("broken.xlsx", content, XLSX)})
    assert r.status_code == 422
    page = text_of(r.text)
    assert "文件中的问题" in page
    assert "未导入任何内容" in page
    for column in ("大类代码", "小类名称", "处置时限"):
        assert column in page
    assert " 2 " in page
    assert " 3 " in page
    session.expire_all()
    assert session.get(CatalogVersion, "BROKEN") is None
    assert (count(session, CatalogVersion), count(session, Category)) == (versions, categories)


def test_import_refusals(admin: Web, session: Session) -> None:
    versions = count(session, CatalogVersion)
    none = admin.post("/admin/standards/import", {"version": "X"})
    assert none.status_code == 422
    assert "文件" in text_of(none.text)
    wrong = admin.post("/admin/standards/import", {"version": "X"}, files={"file": ("a.txt", b"hello", "text/plain")})
    assert wrong.status_code == 422
    assert ".xlsx" in wrong.text
    junk = admin.post("/admin/standards/import", {"version": "X"}, files={"file": ("a.xlsx", b"not a zip", XLSX)})
    assert junk.status_code == 422
    assert "无法读取" in text_of(junk.text)
    gbk = admin.post("/admin/standards/import", {"version": "X"},
                     files={"file": ("a.csv", "类型,大类代码\n事件,06\n".encode("gbk"), "text/csv")})
    assert gbk.status_code == 422
    assert "无法读取" in text_of(gbk.text)
    content = _export(admin)
    taken = admin.post("/admin/standards/import", {"version": GBT_47678_2026},
                       files={"file": ("again.xlsx", content, XLSX)})
    assert taken.status_code == 409
    assert "版本代码" in text_of(taken.text)
    assert count(session, CatalogVersion) == versions


def test_an_operator_may_view_and_export_standards_but_not_import(client: TestClient, world: World) -> None:
    web = Web(client, world["operator"])
    page = web.get("/admin/standards")
    assert page.status_code == 200
    assert "/admin/standards/import" not in page.text
    assert web.get("/admin/standards/export").status_code == 200
    r = web.post("/admin/standards/import", {"version": "OP"}, files={"file": ("a.xlsx", b"x", XLSX)})
    assert r.status_code == 403
