"""GET /api/v1/categories (tree), /api/v1/catalog/versions and /api/v1/filing-standards: public reads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.catalog import service
from cityloop.catalog.enums import GBT_47678_2026
from cityloop.catalog.seed import DEMO_STANDARD, seed_demo_standard
from tests.factories import EPOCH

STANDARDS = "/api/v1/filing-standards"


@pytest.fixture
def yc(session: Session) -> None:
    seed_demo_standard(session, EPOCH)
    session.commit()  # releases the savepoint only: the outer transaction still undoes it


@pytest.fixture
def adopted(session: Session, yc: None) -> None:
    service.adopt(session, DEMO_STANDARD, EPOCH)
    session.commit()


def test_standards_of_a_class_in_order_with_deadline_and_subjects(client: TestClient, yc: None) -> None:
    r = client.get(STANDARDS, params={"kind": "part", "code": "0101", "version": DEMO_STANDARD})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [row["seq"] for row in rows] == [1, 2, 3, 4]
    first = rows[0]
    assert {k: v for k, v in first.items() if k not in ("id", "category_id")} == {
        "kind": "part", "code": "0101", "category_name": "上水井盖", "seq": 1,
        "filing_criteria": "缺失、移位、开裂，存在安全隐患的", "closing_criteria": "恢复",
        "deadline": {"amount": 2.0, "unit": "紧急工作时", "text": "2紧急工作时"}, "urgent": True,
        "handling_subject": "运城市城市节约用水中心、各产权单位",
        "supervising_subject": "运城市城市管理局、盐湖区政府、运城市经济开发区", "region_deadlines": None,
        "source": "运城市城市综合管理服务立案、处置和结案标准（部件） — github zhcg2026/smart_cityguard "
                  "standards_preview.csv (local city standard, not national)"}
    assert len({row["id"] for row in rows}) == 4
    assert {row["category_id"] for row in rows} == {first["category_id"]}
    assert [row["deadline"]["text"] for row in rows] == ["2紧急工作时", "4工作时", "2工作日", "5工作日"]


def test_a_workbook_row_shows_the_working_unit_beside_its_own_words(client: TestClient, adopted: None) -> None:
    rows = client.get(STANDARDS, params={"kind": "event", "code": "0110"}).json()  # the adopted version
    assert [(r["deadline"], r["urgent"], r["handling_subject"]) for r in rows] == [
        ({"amount": 4.0, "unit": "工作时", "text": "4小时"}, False, "运城市市容环卫中心、所属街办")]


def test_the_default_is_the_adopted_version(client: TestClient, yc: None, session: Session) -> None:
    # Before adoption the national directory is current: it has the class, but no rows.
    assert client.get(STANDARDS, params={"kind": "part", "code": "01001"}).json() == []
    r = client.get(STANDARDS, params={"kind": "part", "code": "0101"})
    assert (r.status_code, r.json()["field"]) == (404, "code")
    assert r.json()["message"] == f"code: no part class 0101 in version '{GBT_47678_2026}'"

    service.adopt(session, DEMO_STANDARD, EPOCH)
    session.commit()
    assert len(client.get(STANDARDS, params={"kind": "part", "code": "0101"}).json()) == 4
    assert client.get(STANDARDS, params={"kind": "part", "code": "01001"}).status_code == 404
    assert client.get(STANDARDS, params={"kind": "part", "code": "01001", "version": GBT_47678_2026}).json() == []


@pytest.mark.parametrize(("params", "field"), [
    ({"kind": "thing", "code": "0101"}, "kind"),
    ({"code": "0101"}, "kind"),
    ({"kind": "part"}, "code"),
    ({"kind": "part", "code": "01-01"}, "code"),
    ({"kind": "part", "code": "010012"}, "code"),
])
def test_bad_parameters_are_422_naming_the_field(client: TestClient, params: dict[str, str], field: str) -> None:
    r = client.get(STANDARDS, params=params)
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("validation_error", field)


@pytest.mark.parametrize("path", [STANDARDS + "?kind=part&code=0101&version=NOPE", "/api/v1/categories?version=NOPE"])
def test_an_unknown_version_is_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert (r.json()["code"], r.json()["field"]) == ("not_found", "version")
    assert "'NOPE'" in r.json()["message"]


def test_category_tree_of_a_named_version(client: TestClient, yc: None) -> None:
    tree = client.get("/api/v1/categories", params={"version": DEMO_STANDARD, "kind": "part"}).json()
    assert [(m["kind"], m["major_code"], m["major_name"]) for m in tree] == [
        ("part", "01", "公用设施"), ("part", "02", "交通设施"), ("part", "03", "市容环境设施"),
        ("part", "04", "园林绿化设施"), ("part", "05", "其他部件")]
    children = [c for m in tree for c in m["children"]]
    assert len(children) == 66 + 26
    assert all(c["scheme"] == DEMO_STANDARD and c["code"] == c["major_code"] + c["sub_code"] for c in children)
    assert [c["code"] for c in children] == sorted(c["code"] for c in children)
    # Major 02 is named two ways in the sources; the node takes the name most classes give, each keeps its own.
    assert {c["major_name"] for c in tree[1]["children"]} == {"交通设施", "道路交通设施"}
    events = client.get("/api/v1/categories", params={"version": DEMO_STANDARD, "kind": "event"}).json()
    assert [m["major_name"] for m in events] == ["市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件", "其他事件"]
    assert sum(len(m["children"]) for m in events) == 98


def test_category_tree_follows_adoption(client: TestClient, adopted: None) -> None:
    tree = client.get("/api/v1/categories").json()
    assert {c["scheme"] for m in tree for c in m["children"]} == {DEMO_STANDARD}
    assert sum(len(m["children"]) for m in tree) == 190


def test_versions_list_sizes_and_the_adopted_one(client: TestClient, adopted: None) -> None:
    r = client.get("/api/v1/catalog/versions")
    assert r.status_code == 200
    versions = {v["code"]: v for v in r.json()}
    assert set(versions) == {GBT_47678_2026, DEMO_STANDARD}
    yc = versions[DEMO_STANDARD]
    assert (yc["adopted"], yc["categories"], yc["standards"]) == (True, 190, 518)
    assert yc["adopted_at"].endswith("+08:00")
    assert "zhcg2026/smart_cityguard" in yc["source"]
    gb = versions[GBT_47678_2026]
    assert (gb["adopted"], gb["categories"], gb["standards"]) == (False, 403, 0)
    assert gb["adopted_at"] is not None  # adopted once, by the seed; no longer current


def test_catalog_reads_need_no_sign_in(client: TestClient, yc: None) -> None:
    for path in ("/api/v1/categories", "/api/v1/catalog/versions", STANDARDS + "?kind=event&code=0406&version="
                 + DEMO_STANDARD):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.json() != []
