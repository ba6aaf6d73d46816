"""Independent Open311 clients against a live server (doc §16.3–§16.5): `georeport` 0.3.1 (reads, JSON and XML)
and `civicbot` 0.4.0 (JSON reads, POST, tokens, the 403 path), over real HTTP to uvicorn in a thread.

The server runs over a database of its own, seeded and committed first: the per-test rolled-back transaction of
the other tests would be invisible to the server's own connections.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from cityloop.attachments.storage import storage_for
from cityloop.auth.permissions import Role
from cityloop.auth.service import principal_of
from cityloop.core.clock import FakeClock
from cityloop.db.session import session_scope, write_sessionmaker
from cityloop.main import create_app
from cityloop.settings import Settings
from tests import factories
from tests.dbutil import fresh_database_url, prepared_engine
from tests.open311 import seed
from tests.open311.contract import assert_valid

georeport = pytest.importorskip("georeport", reason="the open311-clients extra is not installed")
civicbot_open311 = pytest.importorskip("civicbot.open311", reason="the open311-clients extra is not installed")
import requests  # noqa: E402 - georeport's own dependency, present exactly when georeport is
from civicbot.http import HttpError, HttpTransport, RateLimiter  # type: ignore[import-untyped]  # noqa: E402
from civicbot.registry import Endpoint  # type: ignore[import-untyped]  # noqa: E402

pytestmark = [pytest.mark.open311_clients, pytest.mark.real_commits]

JURISDICTION = "hangzhou.gov.cn"
NEW_LAT, NEW_LON = seed.LAT + 0.004, seed.LON + 0.004  # away from the seeded cases: a new case, not a merge


@dataclass
class Live:
    base: str  # …/open311/v2
    site: str
    scene: seed.Scene


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _seed(settings: Settings, engine: Any) -> seed.Scene:
    with session_scope(write_sessionmaker(engine, info={"settings": settings})) as session:
        unit = factories.make_unit(session, "UA", "处置单位A")

        def person(name: str, role: Role, units: list[int] | None = None) -> Any:
            return principal_of(factories.make_user(session, name, [role], units or []))

        people = seed.People(collector=person("collector", Role.COLLECTOR), operator=person("operator", Role.OPERATOR),
                             shift_leader=person("shift_leader", Role.SHIFT_LEADER),
                             dispatcher=person("dispatcher", Role.DISPATCHER),
                             unit_staff=person("unit_staff", Role.UNIT_STAFF, [unit.id]), unit_id=unit.id)
        return seed.build(session, people, now=factories.EPOCH, storage=storage_for(settings))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("open311_live")
    port = _free_port()
    site = f"http://127.0.0.1:{port}"
    with fresh_database_url(tmp) as url:
        settings = Settings(database_url=url, public_base_url=site, attachments_dir=tmp / "attachments",
                            argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1)
        engine = prepared_engine(url)
        try:
            scene = _seed(settings, engine)
            app = create_app(settings, clock=FakeClock(factories.EPOCH))
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive(), "the live server stopped while starting"
                assert time.monotonic() < deadline, "the live server did not start in 30 s"
                time.sleep(0.01)
            try:
                yield Live(f"{site}/open311/v2", site, scene)
            finally:
                server.should_exit = True
                thread.join(10)
                app.state.engine.dispose()
        finally:
            engine.dispose()


def as_list(value: Any) -> list[Any]:
    """xmltodict collapses a container of one child to a dict (doc §16.4): normalise."""
    return value if isinstance(value, list) else [value]


# --- georeport (reads, JSON and XML) ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("jurisdiction", [None, JURISDICTION])
def test_georeport_reads(live: Live, fmt: str, jurisdiction: str | None) -> None:
    g = georeport.GeoReport(live.base, jurisdiction=jurisdiction, output_format=fmt)
    services = g.get_service_list()
    assert isinstance(services, list)
    assert len(services) > 2
    by_code = {s["service_code"]: s for s in services}
    assert by_code[seed.EVENT]["service_name"] == "暴露垃圾"
    assert by_code[seed.EVENT]["metadata"] == (True if fmt == "json" else "true")

    definition = g.get_service_definition(seed.EVENT)
    attrs = definition["attributes"] if fmt == "json" else as_list(definition["attributes"]["attribute"])
    assert [a["code"] for a in attrs] == ["FILING_NOTE", "FILING_ROW"]
    values = attrs[1]["values"] if fmt == "json" else as_list(attrs[1]["values"]["value"])
    assert [v["key"] for v in values] == ["1", "2"]

    everything = g.get_service_requests(status="open,closed", start_date="2026-11-01T00:00:00+08:00")
    assert isinstance(everything, list)
    assert {r["service_request_id"] for r in everything} >= live.scene.public_numbers()
    for status in ("open", "closed"):
        some = g.get_service_requests(status=status)
        assert isinstance(some, list)
        assert len(some) >= 2
        assert {r["status"] for r in some} == {status}

    number = live.scene.numbers["closed"]
    one = g.get_service_request(number)  # JSON: response.json()[0], so the array-of-one rule holds
    assert isinstance(one, dict)
    assert one["service_request_id"] == number
    assert one["status"] == "closed"
    assert one["status_notes"] == "已结案"
    assert one["media_url"] == f"{live.site}/open311/media/{live.scene.photos['closed']}"
    if fmt == "xml":
        assert one["lat"] == str(round(seed.LAT, 6))
        assert one["zipcode"] is None

    single = g.get_service_requests(service_request_id=number)
    assert [r["service_request_id"] for r in as_list(single)] == [number]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_errors(live: Live, fmt: str) -> None:
    g = georeport.GeoReport(live.base, output_format=fmt)
    for call in (lambda: g.get_service_request(live.scene.numbers["private"]),
                 lambda: g.get_service_definition("SJ99999"),
                 lambda: georeport.GeoReport(live.base, jurisdiction="x", output_format=fmt).get_service_list()):
        with pytest.raises(requests.HTTPError) as e:
            call()
        assert e.value.response is not None
        assert e.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as bad:
        g.get_service_requests(status="fixed")
    assert bad.value.response is not None
    assert bad.value.response.status_code == 400


# --- civicbot (JSON reads, POST, tokens) -----------------------------------------------------------------------------

def client(live: Live, jurisdiction: str | None = None) -> Any:
    ep = Endpoint(id="cityloop", name="cityloop", base_url=live.base, write=True)
    return civicbot_open311.Open311Client(ep, transport=HttpTransport(rate_limiter=RateLimiter(min_interval=0)),
                                          jurisdiction_id=jurisdiction)


@pytest.mark.parametrize("jurisdiction", [None, JURISDICTION])
def test_civicbot_reads(live: Live, jurisdiction: str | None) -> None:
    c = client(live, jurisdiction)
    services = c.list_services()
    assert_valid("services", services)
    assert_valid("service-definition", c.get_service_definition(seed.EVENT))
    page = c.list_requests(status="open", page_size=5)
    assert len(page) == 5
    assert {r["status"] for r in page} == {"open"}
    assert_valid("requests", page)
    number = live.scene.numbers["dispatched"]
    assert c.get_request(number)["status_notes"] == "已派遣：处置单位A"
    listed = c.list_requests(service_request_ids=[number, live.scene.numbers["closed"]])
    assert {r["service_request_id"] for r in listed} == {number, live.scene.numbers["closed"]}
    assert c.get_token(live.scene.tokens["created"]) == [
        {"service_request_id": number, "token": live.scene.tokens["created"]}]
    assert c.get_token(live.scene.tokens["pending"]) == [
        {"service_request_id": None, "token": live.scene.tokens["pending"]}]


def test_civicbot_token_errors(live: Live) -> None:
    c = client(live)
    for token, message in ((live.scene.tokens["dropped"], "token discarded: below the confidence threshold"),
                           ("t-unknown", "token not found")):
        with pytest.raises(HttpError) as e:
            c.get_token(token)
        assert e.value.status == 404
        assert message in e.value.body


@pytest.mark.parametrize("jurisdiction", [None, JURISDICTION])
def test_civicbot_posts_a_request(live: Live, jurisdiction: str | None) -> None:
    c = client(live, jurisdiction)
    offset = 0.0 if jurisdiction is None else 0.004
    p = c.create_request(seed.EVENT, dry_run=False, confirm="SEND", api_key=live.scene.api_key,
                         validate_remote=True, lat=NEW_LAT + offset, lng=NEW_LON, description="文三路口有一堆生活垃圾",
                         attributes={"FILING_ROW": "1"}, email="li@example.cn")
    assert_valid("post-response", p.response)
    number = p.response[0]["service_request_id"]
    assert p.response[0]["service_notice"] == "已收到，等待受理"
    fetched = c.get_request(number)
    assert (fetched["status"], fetched["service_code"]) == ("open", seed.EVENT)
    assert "li@example.cn" not in str(fetched)


def test_civicbot_form_shape_and_the_server_side_checks(live: Live) -> None:
    c = client(live)
    dry = c.create_request(seed.EVENT, api_key=live.scene.api_key, lat=NEW_LAT, lng=NEW_LON,
                           attributes={"FILING_ROW": "1", "TYPES": ["household", "debris"]})
    assert dry.dry_run
    assert dry.redacted_form()["api_key"] == "***"
    assert dry.form["long"] == NEW_LON
    assert dry.form["attribute[TYPES][]"] == ["household", "debris"]
    # civicbot checks list keys itself when it has the definition …
    with pytest.raises(civicbot_open311.ValidationError):
        c.create_request(seed.EVENT, dry_run=False, confirm="SEND", api_key=live.scene.api_key,
                         validate_remote=True, lat=NEW_LAT, lng=NEW_LON, attributes={"FILING_ROW": "9"})
    # … and the server checks again without it: every problem in one body, verbatim in HttpError.body
    with pytest.raises(HttpError) as e:
        c.create_request(seed.EVENT, dry_run=False, confirm="SEND", api_key=live.scene.api_key,
                         lat=seed.OUTSIDE[1], lng=seed.OUTSIDE[0], attributes={"FILING_ROW": "9"})
    assert e.value.status == 400
    body = httpx.Response(400, content=e.value.body.encode()).json()
    assert_valid("errors", body)
    assert [x["description"] for x in body] == ["attribute[FILING_ROW]: '9' is not one of 1, 2"]
    with pytest.raises(HttpError) as outside:
        c.create_request(seed.EVENT, dry_run=False, confirm="SEND", api_key=live.scene.api_key,
                         lat=seed.OUTSIDE[1], lng=seed.OUTSIDE[0])
    assert outside.value.status == 400
    assert "location outside jurisdiction" in outside.value.body


def test_civicbot_wrong_key_is_403(live: Live) -> None:
    with pytest.raises(HttpError) as e:
        client(live).create_request(seed.EVENT, dry_run=False, confirm="SEND", api_key="wrong", lat=30.27, lng=120.13)
    assert e.value.status == 403
    assert_valid("errors", httpx.Response(403, content=e.value.body.encode()).json())


# --- raw HTTP over the wire ----------------------------------------------------------------------------------------

def test_discovery_and_media_over_the_wire(live: Live) -> None:
    for fmt in ("json", "xml"):
        r = httpx.get(f"{live.site}/open311/discovery.{fmt}")
        assert r.status_code == 200
    assert_valid("discovery", httpx.get(f"{live.site}/open311/discovery.json").json())
    r = httpx.get(f"{live.site}/open311/media/{live.scene.photos['closed']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    # an unencoded "+08:00" arrives as a space and still parses
    raw = httpx.get(f"{live.base}/requests.json?start_date=2026-11-24T00:00:00+08:00&status=closed")
    assert raw.status_code == 200
    assert len(raw.json()) >= 2
