"""Who may do what: the role → permission facts the case loop depends on, and the Principal that applies them."""

from __future__ import annotations

import dataclasses

import pytest

from cityloop.auth.permissions import (
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    permissions_of,
    role_granting,
)
from cityloop.auth.principal import Principal
from cityloop.core.errors import Forbidden

P, R = Permission, Role
UNIT = R.UNIT_STAFF

# Which roles hold each case permission: the division of labour of 数字城管, stated independently of the module.
HOLDERS: dict[Permission, set[Role]] = {
    P.CASE_READ_ALL: {R.OPERATOR, R.SHIFT_LEADER, R.DISPATCHER, R.LEADER, R.ADMIN},
    P.CASE_READ_UNIT: {UNIT},
    P.CASE_READ_TASKS: {R.COLLECTOR},
    P.CASE_READ_OWN: {R.CITIZEN},
    P.CASE_CREATE: {R.COLLECTOR, R.OPERATOR, R.LEADER, R.CITIZEN},
    P.CASE_SET_SOURCE: {R.OPERATOR, R.LEADER},
    P.CASE_SELF_HANDLE: {R.COLLECTOR},
    P.CASE_ACCEPT: {R.OPERATOR},
    P.CASE_REJECT: {R.OPERATOR},
    P.CASE_REQUEST_VERIFICATION: {R.OPERATOR},
    P.CASE_VERIFY: {R.COLLECTOR},
    P.CASE_FILE: {R.SHIFT_LEADER},
    P.CASE_VOID: {R.SHIFT_LEADER},
    P.CASE_DISPATCH: {R.DISPATCHER},
    P.CASE_REQUEST_RETURN: {UNIT},
    P.CASE_DECIDE_RETURN: {R.DISPATCHER},
    P.CASE_REQUEST_EXTENSION: {UNIT},
    P.CASE_DECIDE_EXTENSION: {R.DISPATCHER},
    P.CASE_REQUEST_SUSPENSION: {UNIT},
    P.CASE_DECIDE_SUSPENSION: {R.DISPATCHER},
    P.CASE_RESUME: {R.DISPATCHER},
    P.CASE_COMPLETE: {UNIT},
    P.CASE_REQUEST_CHECK: {R.OPERATOR},
    P.CASE_CHECK: {R.COLLECTOR},
    P.CASE_CLOSE: {R.SHIFT_LEADER},
    P.CASE_FORCE_CLOSE: {R.SHIFT_LEADER, R.ADMIN},
    P.CASE_SUPERVISE: {R.LEADER},
    P.CASE_COMMENT: set(Role),
    P.UNIT_READ: set(Role) - {R.CITIZEN},
    P.UNIT_MANAGE: {R.ADMIN},
    P.CALENDAR_MANAGE: {R.ADMIN},
    P.ROUTING_READ: set(Role) - {R.CITIZEN},
    P.ROUTING_MANAGE: {R.ADMIN},
    P.INTAKE_REVIEW: {R.OPERATOR},
    P.INTAKE_MANAGE: {R.ADMIN},
    P.STATS_READ: {R.OPERATOR, R.SHIFT_LEADER, R.DISPATCHER, R.LEADER, R.ADMIN},
    P.USER_READ: {R.OPERATOR, R.SHIFT_LEADER, R.DISPATCHER, R.LEADER, R.ADMIN},
    P.USER_MANAGE: {R.ADMIN},
}
READ_SCOPES = {P.CASE_READ_ALL, P.CASE_READ_UNIT, P.CASE_READ_TASKS, P.CASE_READ_OWN}


def holders(permission: Permission) -> set[Role]:
    return {role for role in Role if permission in ROLE_PERMISSIONS[role]}


def principal(*roles: Role, unit_ids: tuple[int, ...] = ()) -> Principal:
    return Principal(user_id=7, username="someone", roles=frozenset(roles), unit_ids=unit_ids)


def test_every_role_has_permissions_and_a_label() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert set(ROLE_LABELS) == set(Role)
    assert all(ROLE_PERMISSIONS[role] for role in Role)


def test_the_holders_table_names_every_permission() -> None:
    assert set(HOLDERS) == set(Permission)


@pytest.mark.parametrize("permission", list(Permission), ids=str)
def test_exactly_the_expected_roles_hold_each_permission(permission: Permission) -> None:
    assert holders(permission) == HOLDERS[permission]


def test_only_the_operator_accepts_rejects_and_sends_verification_and_check() -> None:
    for permission in (P.CASE_ACCEPT, P.CASE_REJECT, P.CASE_REQUEST_VERIFICATION, P.CASE_REQUEST_CHECK):
        assert holders(permission) == {R.OPERATOR}, permission


def test_only_the_shift_leader_files_voids_and_closes() -> None:
    for permission in (P.CASE_FILE, P.CASE_VOID, P.CASE_CLOSE):
        assert holders(permission) == {R.SHIFT_LEADER}, permission


def test_force_close_belongs_to_the_shift_leader_and_the_admin_only() -> None:
    assert holders(P.CASE_FORCE_CLOSE) == {R.SHIFT_LEADER, R.ADMIN}
    assert P.CASE_CLOSE not in ROLE_PERMISSIONS[R.ADMIN]  # the admin may force, never close normally


def test_the_dispatcher_dispatches_decides_requests_and_resumes() -> None:
    decisions = {P.CASE_DISPATCH, P.CASE_DECIDE_RETURN, P.CASE_DECIDE_EXTENSION, P.CASE_DECIDE_SUSPENSION,
                 P.CASE_RESUME}
    assert decisions <= ROLE_PERMISSIONS[R.DISPATCHER]
    assert all(holders(p) == {R.DISPATCHER} for p in decisions)


def test_unit_staff_request_and_complete_but_never_decide() -> None:
    unit = ROLE_PERMISSIONS[UNIT]
    assert {P.CASE_REQUEST_RETURN, P.CASE_REQUEST_EXTENSION, P.CASE_REQUEST_SUSPENSION, P.CASE_COMPLETE} <= unit
    assert not unit & {P.CASE_DECIDE_RETURN, P.CASE_DECIDE_EXTENSION, P.CASE_DECIDE_SUSPENSION, P.CASE_DISPATCH}


def test_the_collector_verifies_and_checks_on_site() -> None:
    assert holders(P.CASE_VERIFY) == {R.COLLECTOR}
    assert holders(P.CASE_CHECK) == {R.COLLECTOR}
    assert P.CASE_REQUEST_CHECK not in ROLE_PERMISSIONS[R.COLLECTOR]


def test_the_leader_supervises_and_takes_no_step_of_the_loop() -> None:
    assert holders(P.CASE_SUPERVISE) == {R.LEADER}
    loop_steps = {p for p in Permission if p.value.startswith("case:")} - READ_SCOPES - {
        P.CASE_CREATE, P.CASE_SET_SOURCE, P.CASE_SUPERVISE, P.CASE_COMMENT}
    assert not ROLE_PERMISSIONS[R.LEADER] & loop_steps


def test_the_citizen_only_reports_reads_their_own_and_comments() -> None:
    assert ROLE_PERMISSIONS[R.CITIZEN] == {P.CASE_READ_OWN, P.CASE_CREATE, P.CASE_COMMENT}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_role_has_exactly_one_read_scope(role: Role) -> None:
    assert len(ROLE_PERMISSIONS[role] & READ_SCOPES) == 1


def test_permissions_of_is_the_union_of_the_roles() -> None:
    both = permissions_of({R.COLLECTOR, UNIT})
    assert both == ROLE_PERMISSIONS[R.COLLECTOR] | ROLE_PERMISSIONS[UNIT]
    assert P.CASE_VERIFY in both
    assert P.CASE_COMPLETE in both
    assert permissions_of(frozenset({R.CITIZEN})) == ROLE_PERMISSIONS[R.CITIZEN]
    assert permissions_of(set()) == frozenset()
    assert permissions_of(set(Role)) == frozenset(Permission)


def test_role_granting_picks_the_first_granting_role_in_declaration_order() -> None:
    assert role_granting({R.ADMIN, R.SHIFT_LEADER}, P.CASE_FORCE_CLOSE) is R.SHIFT_LEADER
    assert role_granting({R.ADMIN}, P.CASE_FORCE_CLOSE) is R.ADMIN
    assert role_granting({R.LEADER, R.OPERATOR}, P.CASE_CREATE) is R.OPERATOR
    assert role_granting({R.CITIZEN, R.COLLECTOR}, P.CASE_COMMENT) is R.COLLECTOR
    assert role_granting({R.CITIZEN}, P.CASE_ACCEPT) is None
    assert role_granting(set(), P.CASE_COMMENT) is None


def test_principal_derives_its_permissions_from_its_roles() -> None:
    p = principal(R.OPERATOR, R.DISPATCHER)
    assert p.permissions == ROLE_PERMISSIONS[R.OPERATOR] | ROLE_PERMISSIONS[R.DISPATCHER]
    assert p.has(P.CASE_ACCEPT)
    assert p.has(P.CASE_DISPATCH)
    assert not p.has(P.CASE_FILE)


def test_principal_permissions_cannot_be_passed_in_or_changed() -> None:
    with pytest.raises(TypeError):
        Principal(user_id=1, username="x", roles=frozenset({R.CITIZEN}),
                  permissions=frozenset(Permission))  # type: ignore[call-arg]
    p = principal(R.CITIZEN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.roles = frozenset({R.ADMIN})  # type: ignore[misc]


def test_principal_require_passes_silently_when_granted() -> None:
    principal(R.SHIFT_LEADER).require(P.CASE_CLOSE)


def test_principal_require_raises_forbidden_when_not_granted() -> None:
    with pytest.raises(Forbidden) as caught:
        principal(R.CITIZEN).require(P.CASE_CLOSE)
    assert caught.value.code == "forbidden"
    assert caught.value.status == 403
    assert "case:close" in caught.value.message


def test_principal_role_for_records_the_granting_role() -> None:
    p = principal(R.LEADER, R.ADMIN)
    assert p.role_for(P.CASE_SUPERVISE) is R.LEADER
    assert p.role_for(P.CASE_FORCE_CLOSE) is R.ADMIN
    assert p.role_for(P.CASE_CLOSE) is None


def test_principal_unit_id_is_its_first_unit_or_none() -> None:
    assert principal(UNIT, unit_ids=(3, 9)).unit_id == 3
    assert principal(UNIT).unit_id is None
