"""处置时限 text: every form the shipped 运城 rows use, the two free texts, and what must be refused."""

from __future__ import annotations

import csv
import re
from collections import Counter
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityloop.catalog.deadline_text import DeadlineTextError, format_deadline, parse_deadline
from cityloop.core.timeunits import TimeUnit


def _yuncheng_deadlines() -> list[str]:
    text = resources.files("cityloop.catalog").joinpath("data/categories.csv").read_text(encoding="utf-8")
    return [r["deadline_urgent"] or r["deadline_normal"] for r in csv.DictReader(text.splitlines())
            if not r["source"].startswith("GB/T")]


def test_every_deadline_in_the_shipped_file_parses_to_its_own_number_and_unit() -> None:
    texts = _yuncheng_deadlines()
    assert len(texts) == 518
    forms: Counter[str] = Counter()
    for text in texts:
        parsed = parse_deadline(text)
        assert parsed.text == text
        written = re.search(r"(\d+)(\D+?)(?:制止)?$", text)
        assert written is not None, text
        assert (parsed.amount, parsed.unit.value) == (float(written[1]), written[2]), text
        assert parsed.urgent == ("紧急" in text)
        forms[re.sub(r"\d+", "N", text)] += 1
    # The forms and counts the data README lists: nothing in the file is left to guess.
    assert forms == {"N工作日": 233, "N天": 175, "N紧急工作时": 41, "N小时": 37, "N工作时": 26, "N紧急工作日": 4,
                     "种植季节N工作日": 1, "N紧急工作时制止": 1}


def test_plain_forms_print_back_as_written() -> None:
    plain = [t for t in _yuncheng_deadlines() if t not in ("种植季节15工作日", "1紧急工作时制止")]
    for text in plain:
        parsed = parse_deadline(text)
        assert format_deadline(parsed.amount, parsed.unit) == text


@pytest.mark.parametrize(("text", "amount", "unit", "urgent"), [
    ("种植季节15工作日", 15, TimeUnit.WORK_DAY, False),
    ("1紧急工作时制止", 1, TimeUnit.URGENT_HOUR, True),
])
def test_the_two_free_texts_keep_their_words(text: str, amount: float, unit: TimeUnit, urgent: bool) -> None:
    parsed = parse_deadline(text)
    assert (parsed.amount, parsed.unit, parsed.urgent, parsed.text) == (amount, unit, urgent, text)


@pytest.mark.parametrize(("text", "amount", "unit"), [
    (" 4工作时 ", 4, TimeUnit.WORK_HOUR),
    ("0.5天", 0.5, TimeUnit.DAY_PLAIN),
    ("3 自然日", 3, TimeUnit.DAY),
    ("2紧急工作日", 2, TimeUnit.URGENT_DAY),
])
def test_other_accepted_forms(text: str, amount: float, unit: TimeUnit) -> None:
    parsed = parse_deadline(text)
    assert (parsed.amount, parsed.unit, parsed.text) == (amount, unit, text.strip())


@pytest.mark.parametrize("junk", [
    "", "   ", "天", "五天", "5", "5周", "5 weeks", "0天", "0.0工作日", "-1天", "5天3小时", "5天小时", "工作日5天",
    "abc5天", "5天abc", "5 5天", "1.2.3天", "约 5天", "立即", "5工作", "5紧急",
])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(DeadlineTextError):
        parse_deadline(junk)


def test_the_refusal_says_what_was_expected() -> None:
    with pytest.raises(DeadlineTextError, match=r"'尽快' is not a number followed by a unit \(工作时、工作日"):
        parse_deadline("尽快")


@pytest.mark.parametrize(("amount", "unit", "text"), [
    (4.0, "工作时", "4工作时"), (0.5, "天", "0.5天"), (1000000.0, "小时", "1000000小时"),
    (2.25, "工作日", "2.25工作日")])
def test_format_deadline(amount: float, unit: str, text: str) -> None:
    assert format_deadline(amount, unit) == text


@given(amount=st.integers(min_value=1, max_value=10_000) | st.decimals(
    min_value="0.01", max_value="999", places=2).map(float), unit=st.sampled_from(list(TimeUnit)))
def test_format_then_parse_gives_the_same_amount_and_unit(amount: float, unit: TimeUnit) -> None:
    parsed = parse_deadline(format_deadline(amount, unit))
    assert (parsed.amount, parsed.unit) == (amount, unit)
