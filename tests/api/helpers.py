"""Driving cases over HTTP as the personas would."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi.testclient import TestClient

from cityloop.cases.workflow import Status
from tests.conftest import World

# Who performs each action in the normal course of work.
ACTOR = {
    "accept": "operator", "reject": "operator", "request_verification": "operator", "verify": "collector",
    "file": "shift_leader", "void": "shift_leader", "dispatch": "dispatcher",
    "request_return": "unit_a_staff", "approve_return": "dispatcher", "deny_return": "dispatcher",
    "request_extension": "unit_a_staff", "approve_extension": "dispatcher", "deny_extension": "dispatcher",
    "request_suspension": "unit_a_staff", "approve_suspension": "dispatcher",
    "deny_suspension": "dispatcher", "resume": "dispatcher", "complete": "unit_a_staff",
    "request_check": "operator", "check": "collector", "close": "shift_leader",
    "force_close": "shift_leader", "supervise": "leader", "comment": "operator",
}


class Api:
    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world

    def body(self, action: str, **overrides: Any) -> dict[str, Any]:
        """A valid body for `action` (before the case's state is considered)."""
        w = self.world
        bodies: dict[str, dict[str, Any]] = {
            "reject": {"reason": "重复上报"}, "void": {"reason": "误立案"},
            "request_verification": {"collector_id": w["collector"].id},
            "request_check": {"collector_id": w["collector"].id},
            "verify": {"confirmed": True}, "check": {"passed": True},
            "dispatch": {"unit_id": w.unit_a},
            "request_return": {"reason": "非本单位职责"}, "deny_return": {"reason": "属于本单位"},
            "request_extension": {"reason": "需采购配件", "amount": 2, "unit": "工作日"},
            "deny_extension": {"reason": "时限充足"},
            "request_suspension": {"reason": "需专项资金"}, "deny_suspension": {"reason": "可以处置"},
            "complete": {"note": "已修复"}, "force_close": {"reason": "单位撤销，无法处置"},
            "comment": {"note": "请尽快处理"},
        }
        return {**bodies.get(action, {}), **overrides}

    def report(self, who: str = "collector", expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {"kind": "part", "category_code": "01001", "description": "供水井盖缺失",
                "lat": 30.2590, "lon": 120.1519, "address": "北山街断桥东50米", **fields}
        r = self.client.post("/api/v1/cases", json=body, headers=self.world[who].headers)
        assert r.status_code == expect, r.text
        return r.json()

    def act(self, case_id: int, action: str, who: str | None = None, expect: int = 200,
            **overrides: Any) -> dict[str, Any]:
        persona = self.world[who or ACTOR[action]]
        r = self.client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=self.body(action, **overrides),
                             headers=persona.headers)
        assert r.status_code == expect, f"{action} by {persona.user.username}: {r.status_code} {r.text}"
        return r.json()

    def get(self, case_id: int, who: str = "operator", expect: int = 200) -> dict[str, Any]:
        r = self.client.get(f"/api/v1/cases/{case_id}", headers=self.world[who].headers)
        assert r.status_code == expect, r.text
        return r.json()

    def events(self, case_id: int, who: str = "operator") -> list[dict[str, Any]]:
        r = self.client.get(f"/api/v1/cases/{case_id}/events", headers=self.world[who].headers)
        assert r.status_code == 200, r.text
        return r.json()

    # The shortest path to each status, as the personas would walk it.
    PATHS: ClassVar[dict[Status, list[str]]] = {
        Status.REPORTED: [],
        Status.VERIFYING: ["request_verification"],
        Status.REGISTERED: ["accept"],
        Status.FILED: ["accept", "file"],
        Status.DISPATCHED: ["accept", "file", "dispatch"],
        Status.SUSPENDED: ["accept", "file", "dispatch", "request_suspension", "approve_suspension"],
        Status.HANDLED: ["accept", "file", "dispatch", "complete"],
        Status.CHECKING: ["accept", "file", "dispatch", "complete", "request_check"],
        Status.CHECKED: ["accept", "file", "dispatch", "complete", "request_check", "check"],
        Status.CLOSED: ["accept", "file", "dispatch", "complete", "request_check", "check", "close"],
        Status.REJECTED: ["reject"],
        Status.VOIDED: ["accept", "void"],
    }

    def case_at(self, status: Status, **report_fields: Any) -> dict[str, Any]:
        case = self.report(**report_fields)
        for action in self.PATHS[status]:
            case = self.act(case["id"], action)
        assert case["status"] == status.value
        return case
