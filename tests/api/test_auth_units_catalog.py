"""Sign-in and tokens, the unit directory, the class directory and the service's own endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityloop.auth.permissions import Role
from cityloop.auth.service import DEMO_PASSWORD
from cityloop.cases.workflow import Action
from cityloop.core.clock import FakeClock
from cityloop.main import create_app
from cityloop.settings import Settings
from cityloop.units.models import UnitLevel
from tests import factories
from tests.conftest import World, share_test_session

TOKEN = "/api/v1/auth/token"


def sign_in(client: TestClient, username: str, password: str = factories.PASSWORD) -> tuple[int, dict]:
    r = client.post(TOKEN, data={"username": username, "password": password})
    return r.status_code, r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def demo_user(session: Session) -> str:
    factories.make_user(session, "demo_operator", [Role.OPERATOR], password=DEMO_PASSWORD)
    session.commit()  # releases the savepoint only; the outer transaction undoes it
    return "demo_operator"


@pytest.fixture
def demo_client(settings: Settings, clock: FakeClock,
                session_factory: Callable[[], Session]) -> Iterator[TestClient]:
    """A second app, in demo mode, on the same test transaction as the `app` fixture."""
    application = create_app(settings.model_copy(update={"demo_mode": True}), clock=clock)
    share_test_session(application, session_factory)
    with TestClient(application) as c:
        yield c
    application.state.engine.dispose()


# --- tokens -------------------------------------------------------------------------------------------------

def test_password_grant_returns_a_bearer_token_that_works_on_me(client: TestClient, world: World) -> None:
    status, body = sign_in(client, "unit_a_staff")
    assert status == 200, body
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 32
    assert body["expires_in"] == 12 * 3600
    r = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert r.status_code == 200, r.text
    me = r.json()
    assert {k: me[k] for k in ("id", "username", "roles", "unit_id")} == {
        "id": world["unit_a_staff"].id, "username": "unit_a_staff", "roles": ["unit_staff"],
        "unit_id": world.unit_a}
    assert "case:complete" in me["permissions"]


def test_me_without_a_unit_has_unit_id_null(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/me", headers=world["dispatcher"].headers)
    assert (r.json()["roles"], r.json()["unit_id"]) == (["dispatcher"], None)


def test_each_sign_in_issues_a_different_token(client: TestClient, world: World) -> None:
    tokens = {sign_in(client, "operator")[1]["access_token"] for _ in range(2)}
    assert len(tokens) == 2


@pytest.mark.parametrize(("username", "password"), [
    pytest.param("operator", "wrong password", id="wrong-password"),
    pytest.param("nobody", factories.PASSWORD, id="unknown-user"),
    pytest.param("Operator", factories.PASSWORD, id="username-is-case-sensitive"),
])
def test_bad_credentials_are_401_invalid_credentials(client: TestClient, world: World, username: str,
                                                     password: str) -> None:
    r = client.post(TOKEN, data={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_demo_password_is_refused_outside_demo_mode(client: TestClient, settings: Settings,
                                                    demo_user: str) -> None:
    assert settings.demo_mode is False
    status, body = sign_in(client, demo_user, DEMO_PASSWORD)
    assert status == 401
    assert (body["code"], body["field"]) == ("demo_password_refused", "password")


def test_demo_password_is_accepted_in_demo_mode(demo_client: TestClient, demo_user: str) -> None:
    status, body = sign_in(demo_client, demo_user, DEMO_PASSWORD)
    assert status == 200, body
    r = demo_client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert (r.status_code, r.json()["username"]) == (200, demo_user)
    # demo mode does not weaken anything else
    assert sign_in(demo_client, demo_user, "not the password")[1]["code"] == "invalid_credentials"
    assert demo_client.get("/health").json()["demo_mode"] is True


def test_inactive_user_cannot_sign_in_and_its_tokens_stop_working(client: TestClient, session: Session) -> None:
    user = factories.make_user(session, "retired", [Role.OPERATOR], active=False)
    token = factories.token_for(session, user)
    session.commit()
    status, body = sign_in(client, "retired")
    assert (status, body["code"]) == (401, "invalid_credentials")
    r = client.get("/api/v1/me", headers=bearer(token))
    assert (r.status_code, r.json()["code"]) == (401, "account_disabled")


def test_token_expires_after_its_lifetime(client: TestClient, world: World, clock: FakeClock) -> None:
    token = sign_in(client, "operator")[1]["access_token"]
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=1))
    r = client.get("/api/v1/me", headers=bearer(token))
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
    assert client.get("/api/v1/cases", headers=bearer(token)).json()["code"] == "invalid_token"


def test_missing_or_unknown_token_is_401(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/me")
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    r = client.get("/api/v1/me", headers=bearer("not-a-token"))
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")


@pytest.mark.parametrize("missing", ["username", "password"])
def test_missing_form_field_is_422_naming_it(client: TestClient, world: World, missing: str) -> None:
    form = {"username": "operator", "password": factories.PASSWORD}
    del form[missing]
    r = client.post(TOKEN, data=form)
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("validation_error", missing)


def test_token_endpoint_wants_a_form_not_json(client: TestClient, world: World) -> None:
    r = client.post(TOKEN, json={"username": "operator", "password": factories.PASSWORD})
    assert r.status_code == 422
    assert r.json()["field"] in ("username", "password")


# --- units --------------------------------------------------------------------------------------------------

@pytest.fixture
def units(session: Session, world: World) -> dict[str, int]:
    city = factories.make_unit(session, "C01", "市城管局", level=UnitLevel.CITY)
    street = factories.make_unit(session, "UA-S1", "西湖街道", level=UnitLevel.STREET, parent_code="UA")
    session.commit()
    return {"C01": city.id, "UA-S1": street.id, "UA": world.unit_a, "UB": world.unit_b}


def get_units(client: TestClient, world: World, query: str = "", who: str = "dispatcher") -> dict:
    r = client.get(f"/api/v1/units?{query}", headers=world[who].headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_units_list_their_code_name_level_industry_and_parent(client: TestClient, world: World,
                                                              units: dict[str, int]) -> None:
    page = get_units(client, world)
    assert page["total"] == 4
    by_code = {u["code"]: u for u in page["items"]}
    assert [u["code"] for u in page["items"]] == ["C01", "UA", "UA-S1", "UB"]
    assert {k: by_code["UA-S1"][k] for k in ("id", "name", "level", "industry", "parent_id")} == {
        "id": units["UA-S1"], "name": "西湖街道", "level": "street", "industry": "", "parent_id": units["UA"]}
    assert (by_code["C01"]["level"], by_code["C01"]["parent_id"]) == ("city", None)
    assert by_code["UA"]["name"] == "处置单位A"


def test_units_filter_by_level_and_text(client: TestClient, world: World, units: dict[str, int]) -> None:
    assert [u["code"] for u in get_units(client, world, "level=district")["items"]] == ["UA", "UB"]
    assert [u["code"] for u in get_units(client, world, "level=city")["items"]] == ["C01"]
    assert [u["code"] for u in get_units(client, world, "q=街道")["items"]] == ["UA-S1"]
    assert [u["code"] for u in get_units(client, world, "q=UA")["items"]] == ["UA", "UA-S1"]
    assert [u["code"] for u in get_units(client, world, f"parent_id={units['UA']}")["items"]] == ["UA-S1"]
    assert get_units(client, world, "q=不存在的单位")["total"] == 0
    r = client.get("/api/v1/units?level=planet", headers=world["dispatcher"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "level")


def test_units_page(client: TestClient, world: World, units: dict[str, int]) -> None:
    page = get_units(client, world, "limit=2&offset=1")
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert [u["code"] for u in page["items"]] == ["UA", "UA-S1"]
    r = client.get("/api/v1/units?limit=0", headers=world["dispatcher"].headers)
    assert (r.status_code, r.json()["field"]) == (422, "limit")


def test_units_need_a_signed_in_staff_member(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/units")
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    r = client.get("/api/v1/units", headers=world["citizen"].headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    for who in ("collector", "unit_b_staff", "admin"):
        assert get_units(client, world, who=who)["total"] == 2


# --- categories ---------------------------------------------------------------------------------------------

def flatten(tree: list[dict]) -> list[dict]:
    """The classes of a /categories tree, in tree order."""
    for major in tree:
        assert {c["major_code"] for c in major["children"]} == {major["major_code"]}
        assert {c["kind"] for c in major["children"]} == {major["kind"]}
    return [c for major in tree for c in major["children"]]


@pytest.mark.parametrize(("kind", "count"), [("part", 153), ("event", 250)])
def test_category_directory_has_the_national_classes(client: TestClient, kind: str, count: int) -> None:
    r = client.get(f"/api/v1/categories?kind={kind}")
    assert r.status_code == 200
    rows = flatten(r.json())
    assert len(rows) == count
    assert {row["kind"] for row in rows} == {kind}
    assert all(re.fullmatch(r"\d{5}", row["code"]) for row in rows)
    assert all(row["code"] == row["major_code"] + row["sub_code"] for row in rows)
    assert len({row["code"] for row in rows}) == count
    assert [row["code"] for row in rows] == sorted(row["code"] for row in rows)


def test_code_01001_is_both_a_part_and_an_event(client: TestClient) -> None:
    rows = flatten(client.get("/api/v1/categories").json())
    assert len(rows) == 153 + 250
    named = {(row["kind"], row["name"]) for row in rows if row["code"] == "01001"}
    assert named == {("part", "供水井盖"), ("event", "供水井盖异常")}


def test_bad_category_kind_is_422(client: TestClient) -> None:
    r = client.get("/api/v1/categories?kind=thing")
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("validation_error", "kind")


# --- the service itself -------------------------------------------------------------------------------------

def test_health_is_ok(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == "ok"


def test_docs_and_openapi_list_every_action(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    r = client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    actions = {p.rsplit("/", 1)[1] for p in paths if p.startswith("/api/v1/cases/{case_id}/actions/")}
    # every action but report (POST /api/v1/cases) and breach (written by the worker)
    assert actions == {a.value for a in Action} - {"report", "breach"}
    assert len(actions) == 24
    for action in ("dispatch", "request_extension", "check", "force_close"):
        assert "post" in paths[f"/api/v1/cases/{{case_id}}/actions/{action}"]
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/units", "/api/v1/categories", "/api/v1/cases",
                 "/api/v1/queue", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/events"):
        assert path in paths


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_outside_the_server(client: TestClient, page: str) -> None:
    # Command centres run on intranets: a page that pulls scripts from a CDN renders blank there.
    html = client.get(page).text
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(https?:)""", html) == []
    assets = re.findall(r"""['"](/static/apidocs/[^'"]+)['"]""", html)
    assert assets, "the page should reference the locally served assets"
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 1000, asset
