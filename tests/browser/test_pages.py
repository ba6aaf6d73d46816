"""The pages whose behaviour lives in the browser: the live map with no tile server configured, and the phone
pages of the collector and the citizen at 390×844 (no sideways scrolling, the category search, GPS)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import HANGZHOU, PHONE, Live, shot

SignIn = Callable[[Page, str], None]

# Vector layers on the Leaflet map: counted on the map object where app.js's baseMap() left it on the element
# (it draws on a canvas, where there are no SVG paths to count); otherwise as SVG paths or a drawn-on canvas.
_VECTOR_LAYERS = """() => {
  const el = document.querySelector('.leaflet-container');
  if (!el) return 0;
  const map = el._cityloopMap;
  if (map && window.L) {
    let n = 0;
    map.eachLayer((layer) => { if (layer instanceof L.Polyline) n += 1; });
    return n;
  }
  return el.querySelectorAll('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas').length;
}"""


def _open(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path}: HTTP {response.status}"
    assert urlsplit(page.url).path == path, f"{path} went to {page.url}"
    expect(page.locator(".error-page")).to_have_count(0)


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{urlsplit(page.url).path} scrolls sideways: {width} px wide"


def test_the_map_draws_boundaries_and_grids_without_any_tiles(desktop: Page, sign_in: SignIn,
                                                              live_server: Live) -> None:
    images: list[str] = []

    def note(request: Request) -> None:
        if request.resource_type == "image":
            images.append(request.url)

    desktop.on("request", note)
    sign_in(desktop, "dispatcher")
    _open(desktop, "/map")

    expect(desktop.locator(".leaflet-container")).to_have_count(1)
    expect(desktop.locator(".leaflet-container")).to_be_visible()
    desktop.wait_for_function(_VECTOR_LAYERS)  # waits until the GeoJSON has come and been drawn
    assert desktop.evaluate(_VECTOR_LAYERS) > 0
    shot(desktop, "map")

    # No tile server is configured, so nothing is asked of one: the only images are our own static files.
    expect(desktop.locator(".leaflet-tile")).to_have_count(0)
    strays = [url for url in images if not url.startswith(f"{live_server.url}/static/")]
    assert not strays, f"images requested with no tiles configured: {strays}"


@pytest.mark.parametrize(("path", "username", "name"), [
    ("/m", "collector", "m-home"),
    ("/m/report", "collector", "m-report"),
    ("/public/report", "citizen", "public-report"),
    ("/public/track", None, "public-track"),
], ids=["m", "m-report", "public-report", "public-track"])
def test_phone_pages_fit_390_wide(phone: Page, sign_in: SignIn, path: str, username: str | None,
                                  name: str) -> None:
    if username is not None:
        sign_in(phone, username)
    _open(phone, path)

    heading = phone.locator("main h1").first
    expect(heading).to_be_visible()
    assert heading.inner_text().strip()
    _fits_the_phone(phone)
    shot(phone, name)


@pytest.mark.parametrize(("path", "username"), [("/m/report", "collector"), ("/public/report", "citizen")],
                         ids=["m-report", "public-report"])
def test_the_category_search_narrows_the_list(phone: Page, sign_in: SignIn, path: str, username: str) -> None:
    sign_in(phone, username)
    _open(phone, path)
    search = phone.locator("input[data-filter]").first
    target = search.get_attribute("data-filter")
    assert target
    every = phone.locator(f"{target} label")
    total = every.count()
    assert total > 1

    search.fill("井盖")
    shown = phone.locator(f"{target} label:visible")
    expect(shown.first).to_be_visible()
    texts = shown.all_inner_texts()
    assert 0 < len(texts) < total
    assert all("井盖" in text for text in texts), texts

    search.fill("")
    expect(phone.locator(f"{target} label:visible")).to_have_count(total)


@pytest.mark.parametrize(("path", "username"), [("/m/report", "collector"), ("/public/report", "citizen")],
                         ids=["m-report", "public-report"])
def test_the_gps_button_fills_in_the_phones_position(phone: Page, sign_in: SignIn, path: str,
                                                     username: str) -> None:
    sign_in(phone, username)
    _open(phone, path)
    form = phone.locator("form:has([data-geolocate])").first
    lat, lon = form.locator("input[name='lat']"), form.locator("input[name='lon']")

    form.locator("[data-geolocate]").click()
    expect(lat).to_have_value(re.compile(r"^30\.274"))
    assert float(lat.input_value()) == pytest.approx(HANGZHOU["latitude"], abs=1e-5)
    assert float(lon.input_value()) == pytest.approx(HANGZHOU["longitude"], abs=1e-5)
    expect(form.locator("input[name='crs']")).to_have_value("wgs84")  # GPS speaks WGS-84
    expect(form.locator("[data-point-text]")).to_contain_text("30.274")
    _fits_the_phone(phone)
    shot(phone, f"{path.strip('/').replace('/', '-')}-located")
