"""Map tiles are configuration: an intranet tile server, 天地图 (WGS-84) or AMap (GCJ-02), or none at all."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from cityloop.settings import Settings
from tests.conftest import World
from tests.web.helpers import Web


def map_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', html, re.S)
    assert found, "every console page carries the map configuration"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_no_tiles_configured_means_a_plain_background(client: TestClient, world: World, settings: Settings) -> None:
    settings.map_tile_url = ""
    config = map_config(Web(client, world["dispatcher"]).get("/map").text)
    assert config["tiles"] is None
    assert config["center"] == [30.274, 120.155]


def test_gcj02_tiles_move_the_centre_onto_their_streets(client: TestClient, world: World,
                                                        settings: Settings) -> None:
    settings.map_tile_url = "http://tiles.intra/amap/{z}/{x}/{y}.png"
    settings.map_tile_crs = "gcj02"
    settings.map_tile_attribution = "© 高德"
    config = map_config(Web(client, world["dispatcher"]).get("/map").text)
    assert config["tiles"] == {"url": "http://tiles.intra/amap/{z}/{x}/{y}.png", "crs": "gcj02",
                               "attribution": "© 高德", "maxZoom": 18}
    lat, lon = config["center"]
    # GCJ-02 sits a few hundred metres off WGS-84 in Hangzhou: south-east by ~0.002–0.005°.
    assert 0.001 < lon - 120.155 < 0.006
    assert -0.004 < lat - 30.274 < 0.001


def test_wgs84_tiles_keep_the_centre(client: TestClient, world: World, settings: Settings) -> None:
    settings.map_tile_url = "http://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}"
    settings.map_tile_crs = "wgs84"
    config = map_config(Web(client, world["dispatcher"]).get("/map").text)
    assert config["center"] == [30.274, 120.155]
    assert config["tiles"]["crs"] == "wgs84"
