"""Pure parts of the adapter: the status table, service codes, datetimes, parameters, attribute checks and the
two renderings (doc §16.1, unit tier). No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cityloop.cases.workflow import OPEN, STATUS_LABELS, TERMINAL, TRANSITIONS, Action, Outcome, Status
from cityloop.catalog.enums import Kind
from cityloop.open311 import attributes, mapping, params, render
from cityloop.open311.errors import Open311Error
from cityloop.open311.service import submitted_attributes
from cityloop.open311.timefmt import format_dt, parse_dt
from tests.open311.contract import parse_xml, same_data, spark

FMS_STATUSES = {"OPEN", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE",
                "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "CLOSED"}
CITYSDK = {"RECEIVED", "IN_PROCESS", "PROCESSED", "ARCHIVED", "REJECTED"}


# --- §9 status mapping ------------------------------------------------------------------------------------------

def test_every_status_has_a_row() -> None:
    assert set(mapping.STATUS_TABLE) == set(Status)


@pytest.mark.parametrize("status", list(Status))
def test_status_maps_to_open_or_closed_as_the_workflow_says(status: Status) -> None:
    row = mapping.STATUS_TABLE[status]
    assert row.status == ("closed" if status in TERMINAL else "open")
    assert row.fms in FMS_STATUSES
    assert row.detailed in CITYSDK
    assert row.notes
    assert "None" not in row.notes


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_status_and_last_step_gives_a_consistent_public_status(status: Status, action: Action) -> None:
    for outcome in [None, *Outcome]:
        st = mapping.public_status(status, action, outcome, unit="处置单位A")
        assert st.status == ("closed" if status in TERMINAL else "open")
        assert st.state == status.value.upper()
        assert st.state_label == STATUS_LABELS[status]
        assert "{" not in st.notes
        assert st.notes
        if st.status == "closed":
            # never a bare "closed" that FixMyStreet would show as fixed, never FIXED unless it was
            assert st.fms != "closed"
            assert (st.fms == "FIXED") == st.fixed
        else:
            assert st.fms not in {"FIXED", "CLOSED", "NO_FURTHER_ACTION", "DUPLICATE"}


def test_closed_but_not_fixed() -> None:
    assert mapping.public_status(Status.CLOSED).fms == "FIXED"
    forced = mapping.public_status(Status.CLOSED, Action.FORCE_CLOSE)
    assert (forced.status, forced.fms, forced.fixed) == ("closed", "CLOSED", False)
    for status in (Status.REJECTED, Status.VOIDED):
        st = mapping.public_status(status, Action.REJECT if status is Status.REJECTED else Action.VOID)
        assert (st.status, st.fms, st.detailed, st.fixed) == ("closed", "NO_FURTHER_ACTION", "REJECTED", False)
    refuted = mapping.public_status(Status.REJECTED, Action.VERIFY, Outcome.REFUTED)
    assert refuted.notes == "经核实不属实，不予受理"


def test_variants_refine_reachable_steps_only() -> None:
    # Each refinement names a (status, step) the transition table can actually produce.
    reachable = {(row.to, action, outcome) for (_, action, outcome), row in TRANSITIONS.items()}
    assert set(mapping.VARIANTS) <= reachable


def test_notes_fill_unit_and_date() -> None:
    assert mapping.public_status(Status.DISPATCHED, unit="甲区市政").notes == "已派遣：甲区市政"
    assert mapping.public_status(Status.DISPATCHED).notes == "已派遣"
    due = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    ext = mapping.public_status(Status.DISPATCHED, Action.APPROVE_EXTENSION, unit="甲区市政", due=due)
    assert (ext.notes, ext.fms) == ("已延期至2026-11-27 10:00：甲区市政", "ACTION_SCHEDULED")
    rework = mapping.public_status(Status.DISPATCHED, Action.CHECK, Outcome.FAILED, unit="甲区市政")
    assert rework.notes == "核查未通过，返工：甲区市政"
    assert mapping.public_status(Status.FILED, Action.APPROVE_RETURN).notes == "改派中"


def test_public_actions_leave_out_internal_steps() -> None:
    internal = {Action.COMMENT, Action.SUPERVISE, Action.BREACH, Action.REQUEST_RETURN, Action.REQUEST_EXTENSION,
                Action.REQUEST_SUSPENSION, Action.DENY_RETURN, Action.DENY_EXTENSION, Action.DENY_SUSPENSION}
    assert frozenset(Action) - internal == mapping.PUBLIC_ACTIONS
    assert set(Status) == OPEN | TERMINAL


# --- service codes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "code", "expected"), [
    (Kind.EVENT, "06010", "SJ06010"), (Kind.PART, "01001", "BJ01001"), (Kind.PART, "0101", "BJ0101")])
def test_service_codes_round_trip(kind: Kind, code: str, expected: str) -> None:
    assert mapping.service_code(kind, code) == expected
    assert mapping.parse_service_code(expected) == (kind, code)


@pytest.mark.parametrize("code", ["06010", "sj06010", "SJ6010X", "XX06010", "SJ06010.json", "SJ123456", ""])
def test_foreign_service_codes_are_refused(code: str) -> None:
    assert mapping.parse_service_code(code) is None


# --- datetimes (§2.4) ---------------------------------------------------------------------------------------------

def test_output_has_seconds_and_the_offset() -> None:
    assert format_dt(datetime(2026, 11, 20, 1, 12, 31, 987654, tzinfo=UTC)) == "2026-11-20T09:12:31+08:00"
    assert format_dt(None) is None
    with pytest.raises(ValueError, match="naive"):
        format_dt(datetime(2026, 11, 20))  # noqa: DTZ001 - the point: naive input is refused


LOCAL_MIDNIGHT = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-01T00:00:00+08:00", LOCAL_MIDNIGHT),
    ("2026-11-01T00:00:00 08:00", LOCAL_MIDNIGHT),  # "+" decoded to a space in an unencoded query string
    ("2026-11-01T00:00:00+0800", LOCAL_MIDNIGHT),
    ("2026-11-01T00:00:00+08", LOCAL_MIDNIGHT),
    ("2026-10-31T16:00:00Z", LOCAL_MIDNIGHT),
    ("2026-10-31T16:00:00z", LOCAL_MIDNIGHT),
    ("2026-10-31T11:00:00-05:00", LOCAL_MIDNIGHT),
    ("2026-11-01", LOCAL_MIDNIGHT),                 # a date alone: local midnight
    ("2026-11-01T00:00:00", LOCAL_MIDNIGHT),        # naive: local time
    ("2026-11-01 00:00", LOCAL_MIDNIGHT),
    ("2026-11-01T00:00:00.250+08:00", LOCAL_MIDNIGHT + timedelta(milliseconds=250)),
    (" 2026-11-01T00:00:00+08:00 ", LOCAL_MIDNIGHT),
])
def test_input_is_lenient(text: str, expected: datetime) -> None:
    parsed = parse_dt(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-11-31", "2026-11-01T25:00:00",
                                  "2026-11-01T00:00:00+25:00", "20261101", "2026-11-01T00:00:00+08:00:00", ""])
def test_unparseable_input_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="datetime"):
        parse_dt(text)


# --- parameters (§2.5–§2.6, §7, §13.1) -----------------------------------------------------------------------------

def test_empty_is_absent() -> None:
    p = params.Params([("status", ""), ("jurisdiction_id", "  "), ("service_code", "SJ06010"), ("x", "1")])
    assert "status" not in p
    assert "jurisdiction_id" not in p
    assert p.get("status") is None
    assert p.csv("status") == []
    params.check_jurisdiction(p, "hangzhou.gov.cn")
    assert params.statuses(p) is None
    assert p.names() == ["service_code", "x"]


def test_comma_lists_are_split_trimmed_and_deduplicated() -> None:
    p = params.Params([("service_code", " SJ06010, ,BJ01001,SJ06010"), ("service_code", "SJ09006")])
    assert p.csv("service_code") == ["SJ06010", "BJ01001", "SJ09006"]


def test_jurisdiction() -> None:
    params.check_jurisdiction(params.Params([("jurisdiction_id", "hangzhou.gov.cn")]), "hangzhou.gov.cn")
    with pytest.raises(Open311Error) as e:
        params.check_jurisdiction(params.Params([("jurisdiction_id", "ningbo.gov.cn")]), "hangzhou.gov.cn")
    assert (e.value.status, e.value.descriptions) == (404, ["jurisdiction_id not found"])


def test_status_values() -> None:
    assert params.statuses(params.Params([("status", "Open")])) == frozenset({"open"})
    assert params.statuses(params.Params([("status", "open,CLOSED")])) == frozenset({"open", "closed"})
    with pytest.raises(Open311Error) as e:
        params.statuses(params.Params([("status", "open,fixed")]))
    assert e.value.status == 400
    assert "fixed" in e.value.descriptions[0]


NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_date_window() -> None:
    assert params.date_window(None, None, NOW) == (NOW - 90 * DAY, NOW)
    assert params.date_window(NOW - 10 * DAY, None, NOW) == (NOW - 10 * DAY, NOW)
    assert params.date_window(NOW - 100 * DAY, None, NOW) == (NOW - 100 * DAY, NOW - 10 * DAY)
    assert params.date_window(None, NOW - DAY, NOW) == (NOW - 91 * DAY, NOW - DAY)
    assert params.date_window(NOW - 90 * DAY, NOW, NOW) == (NOW - 90 * DAY, NOW)
    for start, end, message in ((NOW, NOW - DAY, "end_date is before start_date"),
                                (NOW - 91 * DAY, NOW, "date range exceeds 90 days")):
        with pytest.raises(Open311Error) as e:
            params.date_window(start, end, NOW)
        assert (e.value.status, e.value.descriptions) == (400, [message])


def test_bad_dates_are_400() -> None:
    with pytest.raises(Open311Error) as e:
        params.datetime_param(params.Params([("start_date", "last week")]), "start_date")
    assert e.value.status == 400
    assert e.value.descriptions[0].startswith("start_date:")


@pytest.mark.parametrize(("query", "expected"), [
    ([], params.Paging(0, 1000, "none")),
    ([("page", "3"), ("page_size", "50")], params.Paging(100, 50, "page")),
    ([("page_size", "20")], params.Paging(0, 20, "page")),
    ([("page", "2")], params.Paging(1000, 1000, "page")),
    ([("limit", "10"), ("offset", "30")], params.Paging(30, 10, "offset")),
    ([("limit", "10")], params.Paging(0, 10, "offset")),
    ([("offset", "5")], params.Paging(5, 1000, "offset")),
    ([("page", ""), ("page_size", "")], params.Paging(0, 1000, "none")),
])
def test_paging(query: list[tuple[str, str]], expected: params.Paging) -> None:
    assert params.paging(params.Params(query)) == expected


@pytest.mark.parametrize("query", [[("page_size", "0")], [("page_size", "1001")], [("page", "0")],
                                   [("limit", "x")], [("offset", "-1")]])
def test_bad_paging_is_400(query: list[tuple[str, str]]) -> None:
    with pytest.raises(Open311Error) as e:
        params.paging(params.Params(query))
    assert e.value.status == 400


# --- attributes (§4) ------------------------------------------------------------------------------------------------

ROWS = [attributes.StandardRow(2, "主干道暴露垃圾", "1紧急工作时", urgent=True),
        attributes.StandardRow(1, "暴露垃圾大于0.5㎡", "2工作时")]


def test_definition_of_a_class_with_two_rows() -> None:
    defs = attributes.definition(Kind.EVENT, ROWS)
    assert [(a.code, a.order, a.variable, a.datatype) for a in defs] == [
        ("FILING_NOTE", 1, False, "string"), ("FILING_ROW", 2, True, "singlevaluelist")]
    assert defs[0].description.startswith("立案条件（按情形）：1. 暴露垃圾大于0.5㎡（处置时限：2工作时）；2. 主干道")
    assert [k for k, _ in defs[1].values] == ["1", "2"]
    assert "【紧急】" in defs[1].values[1][1]
    assert attributes.summary(ROWS) == "暴露垃圾大于0.5㎡"


def test_definition_of_a_part_class() -> None:
    defs = attributes.definition(Kind.PART, ROWS[:1])
    assert [(a.code, a.order) for a in defs] == [("FILING_NOTE", 1), ("ASSET_CODE", 2)]
    assert defs[0].description == "立案条件：主干道暴露垃圾（处置时限：1紧急工作时）【紧急】"
    assert "values" not in defs[1].as_open311()
    assert "values" not in defs[0].as_open311()
    assert attributes.definition(Kind.EVENT, []) == []
    assert attributes.summary([]) is None
    assert [a.code for a in attributes.definition(Kind.PART, [])] == ["ASSET_CODE"]


ALL = [
    attributes.Attribute("NAME", "string", "名称", 1, required=True),
    attributes.Attribute("AREA", "number", "面积", 2, minimum=Decimal(0), maximum=Decimal(1000)),
    attributes.Attribute("WHEN", "datetime", "发现时间", 3),
    attributes.Attribute("MORE", "text", "补充说明", 4),
    attributes.Attribute("SIZE", "singlevaluelist", "大小", 5, required=True,
                         values=(("S", "小"), ("M", "中"), ("L,XL", "大"))),
    attributes.Attribute("TYPES", "multivaluelist", "类型", 6, values=(("household", "生活"), ("debris", "建筑"))),
    attributes.Attribute("NOTE", "string", "说明", 7, variable=False, required=True),
]


def test_valid_values_of_every_datatype() -> None:
    checked = attributes.check(ALL, {
        "NAME": ["井盖"], "AREA": ["12.5"], "WHEN": ["2026-11-01T08:00:00 08:00"], "MORE": ["第一行\n第二行"],
        "SIZE": ["L,XL"], "TYPES": ["debris", "household", "debris"], "UNKNOWN": ["ignored"], "NOTE": ["ignored"]})
    assert checked.problems == []
    assert checked.values == {"NAME": "井盖", "AREA": "12.5", "WHEN": "2026-11-01T00:00:00+00:00",
                              "MORE": "第一行\n第二行", "SIZE": "L,XL", "TYPES": ["debris", "household"]}


def test_every_problem_is_reported_at_once() -> None:
    checked = attributes.check(ALL, {
        "NAME": ["a\nb"], "AREA": ["1e3"], "WHEN": ["soon"], "MORE": ["字" * 4001], "TYPES": ["household", "x"]})
    assert checked.problems == [
        "attribute[NAME]: must be a single line", "attribute[AREA]: must be a decimal number, got '1e3'",
        "attribute[WHEN]: must be an ISO 8601 datetime, got 'soon'", "attribute[MORE]: exceeds 4000 characters",
        "attribute[SIZE] is required", "attribute[TYPES]: 'x' is not one of household, debris"]


@pytest.mark.parametrize(("code", "given", "problem"), [
    ("NAME", ["x" * 256], "attribute[NAME]: exceeds 255 characters"),
    ("AREA", ["-1"], "attribute[AREA]: must be at least 0"),
    ("AREA", ["1000.5"], "attribute[AREA]: must be at most 1000"),
    ("SIZE", ["S", "M"], "attribute[SIZE] takes one value, got 2"),
    ("SIZE", ["XL"], "attribute[SIZE]: 'XL' is not one of S, M, L,XL"),
])
def test_single_problems(code: str, given: list[str], problem: str) -> None:
    base = {"NAME": ["井盖"], "SIZE": ["S"]}
    assert attributes.check(ALL, {**base, code: given}).problems == [problem]


def test_asset_code_pattern() -> None:
    defs = attributes.definition(Kind.PART, [])
    assert attributes.check(defs, {"ASSET_CODE": ["33010100100100001"]}).problems == []
    assert attributes.check(defs, {"ASSET_CODE": ["3301"]}).problems == [
        "attribute[ASSET_CODE]: is not valid: 17位数字部件标识码，可不填"]


def test_attribute_keys_of_a_form() -> None:
    p = params.Params([("attribute[TYPES][]", "household"), ("attribute[TYPES][]", "debris"),
                       ("attribute[SIZE]", "S"), ("attribute[MULTI]", "a,b"), ("attribute[MULTI]", "c"),
                       ("attribute[]", "x"), ("attribute[A][B]", "y"), ("attributes", "z")])
    assert submitted_attributes(p) == {"TYPES": ["household", "debris"], "SIZE": ["S"], "MULTI": ["a,b", "c"]}


# --- rendering (§2.1–§2.3) ------------------------------------------------------------------------------------------

def test_xml_golden() -> None:
    data = [{"service_request_id": "1", "status_notes": None, "lat": 30.27, "metadata": True,
             "description": "A & B <c> 中文", "extended_attributes": {"media_urls": ["u1", "u2"], "overdue": False},
             "notes": [{"type": "status"}]}]
    assert render.to_xml("service_requests", data).decode() == (
        '<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request><service_request_id>1'
        "</service_request_id><status_notes/><lat>30.27</lat><metadata>true</metadata>"
        "<description>A &amp; B &lt;c&gt; 中文</description><extended_attributes><media_urls><media_url>u1"
        "</media_url><media_url>u2</media_url></media_urls><overdue>false</overdue></extended_attributes>"
        "<notes><note><type>status</type></note></notes></request></service_requests>\n")


def test_empty_list_and_control_characters() -> None:
    assert render.to_xml("service_requests", []).endswith(b"<service_requests></service_requests>\n")
    body = render.to_xml("errors", render.error_items(400, ["bad\x00 value\x1b"]))
    assert spark(parse_xml(body)) == [{"code": "400", "description": "bad value"}]


def test_json_is_readable_utf8() -> None:
    expected = '[{"service_name":"暴露垃圾","lat":30.1}]'.encode()
    assert render.to_json([{"service_name": "暴露垃圾", "lat": 30.1}]) == expected


def test_unknown_containers_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no item element"):
        render.to_xml("service_requests", [{"tags": ["a"]}])


def test_both_formats_carry_the_same_data() -> None:
    data = {"service_code": "SJ06010", "attributes": [
        {"variable": True, "code": "S", "order": 1, "datatype_description": None,
         "values": [{"key": "1", "name": "一"}, {"key": "2", "name": "二"}]}]}
    assert same_data(data, render.to_xml("service_definition", data))
    assert not same_data({**data, "service_code": "SJ06011"}, render.to_xml("service_definition", data))
