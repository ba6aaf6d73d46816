from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Api
from tests.conftest import World


@pytest.fixture
def api(client: TestClient, world: World) -> Api:
    return Api(client, world)
