"""Roles and typed permissions. Pure: no framework imports.

Role titles vary by city (where there is no 值班长 the 受理员 files and closes), so code checks permissions,
never role names; a city changes who may do what by editing ROLE_PERMISSIONS.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    COLLECTOR = "collector"        # 监督员
    OPERATOR = "operator"          # 受理员
    SHIFT_LEADER = "shift_leader"  # 值班长
    DISPATCHER = "dispatcher"      # 派遣员
    UNIT_STAFF = "unit_staff"      # 处置单位人员
    LEADER = "leader"              # 领导 / 指挥长
    CITIZEN = "citizen"            # 公众
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.COLLECTOR: "监督员",
    Role.OPERATOR: "受理员",
    Role.SHIFT_LEADER: "值班长",
    Role.DISPATCHER: "派遣员",
    Role.UNIT_STAFF: "处置单位人员",
    Role.LEADER: "领导/指挥长",
    Role.CITIZEN: "公众",
    Role.ADMIN: "系统管理员",
}


class Permission(StrEnum):
    # Reading cases: how far a principal sees is one of these scopes (cases/access.py applies them).
    CASE_READ_ALL = "case:read_all"
    CASE_READ_UNIT = "case:read_unit"      # the cases now at one's own unit
    CASE_READ_TASKS = "case:read_tasks"    # one's own reports and the 核实/核查 tasks given to one
    CASE_READ_OWN = "case:read_own"        # one's own reports only

    CASE_CREATE = "case:create"
    CASE_SET_SOURCE = "case:set_source"    # record a channel other than one's own (hotline, media …)
    CASE_SELF_HANDLE = "case:self_handle"  # report a problem already fixed on the spot (自处置)

    CASE_ACCEPT = "case:accept"
    CASE_REJECT = "case:reject"
    CASE_REQUEST_VERIFICATION = "case:request_verification"
    CASE_VERIFY = "case:verify"
    CASE_FILE = "case:file"
    CASE_VOID = "case:void"
    CASE_DISPATCH = "case:dispatch"
    CASE_REQUEST_RETURN = "case:request_return"
    CASE_DECIDE_RETURN = "case:decide_return"
    CASE_REQUEST_EXTENSION = "case:request_extension"
    CASE_DECIDE_EXTENSION = "case:decide_extension"
    CASE_REQUEST_SUSPENSION = "case:request_suspension"
    CASE_DECIDE_SUSPENSION = "case:decide_suspension"
    CASE_RESUME = "case:resume"
    CASE_COMPLETE = "case:complete"
    CASE_REQUEST_CHECK = "case:request_check"
    CASE_CHECK = "case:check"
    CASE_CLOSE = "case:close"
    CASE_FORCE_CLOSE = "case:force_close"
    CASE_SUPERVISE = "case:supervise"
    CASE_COMMENT = "case:comment"

    STATS_READ = "stats:read"
    UNIT_READ = "unit:read"
    UNIT_MANAGE = "unit:manage"
    USER_READ = "user:read"
    USER_MANAGE = "user:manage"
    CALENDAR_MANAGE = "calendar:manage"  # holidays and 调休 days of the working calendar
    ROUTING_READ = "routing:read"
    ROUTING_MANAGE = "routing:manage"    # routing rules and dispatch policies

    INTAKE_REVIEW = "intake:review"      # confirm or reject machine reports waiting between thresholds
    INTAKE_MANAGE = "intake:manage"      # devices, API keys, thresholds and dedup rules


class ApiScope(StrEnum):
    """What a system holding an API key may do; a key carries one or more."""

    OPEN311 = "open311"  # an Open311 GeoReport v2 client posting service requests
    HOTLINE = "hotline"  # a 12345 hotline (or other) platform pushing work orders
    DEVICE = "device"    # one machine-collection device posting detection events


P = Permission

_STAFF_READ = {P.UNIT_READ, P.CASE_COMMENT, P.ROUTING_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COLLECTOR: frozenset(_STAFF_READ | {
        P.CASE_READ_TASKS, P.CASE_CREATE, P.CASE_SELF_HANDLE, P.CASE_VERIFY, P.CASE_CHECK,
    }),
    Role.OPERATOR: frozenset(_STAFF_READ | {
        P.CASE_READ_ALL, P.CASE_CREATE, P.CASE_SET_SOURCE, P.CASE_ACCEPT, P.CASE_REJECT,
        P.CASE_REQUEST_VERIFICATION, P.CASE_REQUEST_CHECK, P.USER_READ, P.STATS_READ, P.INTAKE_REVIEW,
    }),
    Role.SHIFT_LEADER: frozenset(_STAFF_READ | {
        P.CASE_READ_ALL, P.CASE_FILE, P.CASE_VOID, P.CASE_CLOSE, P.CASE_FORCE_CLOSE, P.USER_READ, P.STATS_READ,
    }),
    Role.DISPATCHER: frozenset(_STAFF_READ | {
        P.CASE_READ_ALL, P.CASE_DISPATCH, P.CASE_DECIDE_RETURN, P.CASE_DECIDE_EXTENSION,
        P.CASE_DECIDE_SUSPENSION, P.CASE_RESUME, P.USER_READ, P.STATS_READ,
    }),
    Role.UNIT_STAFF: frozenset(_STAFF_READ | {
        P.CASE_READ_UNIT, P.CASE_REQUEST_RETURN, P.CASE_REQUEST_EXTENSION, P.CASE_REQUEST_SUSPENSION,
        P.CASE_COMPLETE,
    }),
    Role.LEADER: frozenset(_STAFF_READ | {
        P.CASE_READ_ALL, P.CASE_CREATE, P.CASE_SET_SOURCE, P.CASE_SUPERVISE, P.USER_READ, P.STATS_READ,
    }),
    Role.CITIZEN: frozenset({P.CASE_READ_OWN, P.CASE_CREATE, P.CASE_COMMENT}),
    Role.ADMIN: frozenset(_STAFF_READ | {
        P.CASE_READ_ALL, P.CASE_FORCE_CLOSE, P.UNIT_MANAGE, P.USER_READ, P.USER_MANAGE, P.STATS_READ,
        P.CALENDAR_MANAGE, P.ROUTING_MANAGE, P.INTAKE_MANAGE,
    }),
}


def permissions_of(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def role_granting(roles: frozenset[Role] | set[Role], permission: Permission) -> Role | None:
    """The role under which an action is recorded, in a fixed order so the trail is deterministic."""
    for role in Role:
        if role in roles and permission in ROLE_PERMISSIONS[role]:
            return role
    return None
