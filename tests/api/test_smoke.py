from __future__ import annotations

from cityloop.cases.workflow import Status
from tests.api.helpers import Api


def test_every_status_is_reachable_over_http(api: Api) -> None:
    for status in Status:
        assert api.case_at(status)["status"] == status.value
