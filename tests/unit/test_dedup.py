"""Duplicate detection and intake rules, pure: distances, the search box, which open thing a report joins, and
which confidence band applies."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cityloop.intake import dedup, rules
from cityloop.intake.dedup import M_PER_DEG_LAT, Candidates, Rule

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LAT, LON = 30.2590, 120.1519
RULE = Rule(radius_m=30.0, window=timedelta(minutes=120))


def north(metres: float) -> float:
    """The latitude `metres` north of LAT."""
    return LAT + metres / M_PER_DEG_LAT


def east(metres: float) -> float:
    """The longitude `metres` east of LON (at LAT)."""
    return LON + metres / (M_PER_DEG_LAT * math.cos(math.radians(LAT)))


# --- metres and bbox --------------------------------------------------------------------------------------------

def test_metres_along_a_meridian_and_a_parallel() -> None:
    assert dedup.metres(LAT, LON, LAT, LON) == 0
    assert dedup.metres(LAT, LON, LAT + 0.001, LON) == pytest.approx(111.32, rel=1e-6)
    assert dedup.metres(LAT, LON, LAT, LON + 0.001) == pytest.approx(96.14, rel=1e-3)  # cos(30.26°) ≈ 0.8638
    assert dedup.metres(LAT, LON, north(30), LON) == pytest.approx(30.0)
    assert dedup.metres(LAT, LON, LAT, east(30)) == pytest.approx(30.0, rel=1e-4)
    # Symmetric.
    assert dedup.metres(LAT, LON, north(20), east(20)) == pytest.approx(dedup.metres(north(20), east(20), LAT, LON))


def test_bbox_holds_each_points_circle() -> None:
    lats, lons = [LAT, north(500)], [LON, east(-300)]
    min_lat, max_lat, min_lon, max_lon = dedup.bbox(lats, lons, 30.0)
    for lat, lon in zip(lats, lons, strict=True):
        for d_lat, d_lon in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            p_lat = lat + d_lat * 29.99 / M_PER_DEG_LAT
            p_lon = lon + d_lon * (east(29.99) - LON)
            assert min_lat <= p_lat <= max_lat
            assert min_lon <= p_lon <= max_lon
    # … and not much more: about the radius around the extreme points.
    assert max_lat - north(500) == pytest.approx(30 / M_PER_DEG_LAT)
    assert LAT - min_lat == pytest.approx(30 / M_PER_DEG_LAT)
    assert min_lon < east(-330) < east(-329) < min_lon + (east(2) - LON)


def test_bbox_stays_finite_near_a_pole() -> None:
    min_lat, max_lat, min_lon, max_lon = dedup.bbox([89.9999], [10.0], 30.0)
    assert min_lat < 89.9999 < max_lat
    assert min_lon < 10.0 < max_lon
    assert all(abs(v) < 1e9 for v in (min_lon, max_lon))


# --- Candidates.nearest -----------------------------------------------------------------------------------------

def test_no_candidates_means_no_match() -> None:
    assert Candidates().nearest(LAT, LON, T0, RULE) is None


@pytest.mark.parametrize(("metres", "joins"), [(0.0, True), (29.9, True), (30.1, False), (100.0, False)])
def test_radius_edge(metres: float, joins: bool) -> None:
    found = Candidates()
    found.add(7, north(metres), LON, T0)
    assert found.nearest(LAT, LON, T0, RULE) == (7 if joins else None)


def test_radius_counts_both_axes() -> None:
    found = Candidates()
    found.add(1, north(20), east(20), T0)  # 28.3 m away
    found.add(2, north(22), east(22), T0)  # 31.1 m away
    assert found.nearest(LAT, LON, T0, RULE) == 1
    lone = Candidates()
    lone.add(2, north(22), east(22), T0)
    assert lone.nearest(LAT, LON, T0, RULE) is None


@pytest.mark.parametrize(("offset", "joins"), [
    (timedelta(0), True),
    (timedelta(minutes=120), True),                        # the latest report exactly one window earlier
    (timedelta(minutes=120, seconds=1), False),
    (-timedelta(minutes=120), True),                       # a late event, seen before the case's latest report
    (-timedelta(minutes=120, seconds=1), False),
])
def test_window_edge_on_both_sides(offset: timedelta, joins: bool) -> None:
    found = Candidates()
    found.add(7, LAT, LON, T0)
    assert found.nearest(LAT, LON, T0 + offset, RULE) == (7 if joins else None)


def test_the_nearest_candidate_is_chosen_whatever_the_order() -> None:
    found = Candidates()
    found.add(1, north(25), LON, T0)
    found.add(2, north(-5), LON, T0)
    found.add(3, north(12), LON, T0)
    assert found.nearest(LAT, LON, T0, RULE) == 2
    assert found.nearest(north(20), LON, T0, RULE) == 1


def test_a_closer_candidate_outside_the_window_is_passed_over() -> None:
    found = Candidates()
    found.add(1, LAT, LON, T0 - timedelta(hours=3))
    found.add(2, north(20), LON, T0)
    assert found.nearest(LAT, LON, T0, RULE) == 2


def test_candidates_added_after_a_search_are_seen() -> None:
    found = Candidates()
    found.add(1, north(200), LON, T0)
    assert found.nearest(LAT, LON, T0, RULE) is None
    found.add(2, north(10), LON, T0)  # a case the same batch just opened
    assert found.nearest(LAT, LON, T0, RULE) == 2


def test_touch_extends_the_window_from_the_latest_report() -> None:
    found = Candidates()
    found.add(7, LAT, LON, T0)
    later = T0 + timedelta(minutes=200)
    assert found.nearest(LAT, LON, later, RULE) is None
    found.touch(7, T0 + timedelta(minutes=100))
    assert found.nearest(LAT, LON, later, RULE) == 7
    # An older report does not move the latest one back.
    found.touch(7, T0 - timedelta(days=1))
    assert found.nearest(LAT, LON, later, RULE) == 7
    assert found.last == [T0 + timedelta(minutes=100)]


def test_a_wider_rule_joins_what_the_default_would_not() -> None:
    found = Candidates()
    found.add(7, north(80), LON, T0 - timedelta(hours=5))
    assert found.nearest(LAT, LON, T0, RULE) is None
    assert found.nearest(LAT, LON, T0, Rule(100.0, timedelta(hours=6))) == 7


# --- rules --------------------------------------------------------------------------------------------------------

def _rules(*rows: tuple[str, str, float, float]) -> rules.IntakeRules:
    thresholds = {(code, alg): rules.Band(auto, review) for code, alg, auto, review in rows}
    return rules.IntakeRules(thresholds, {rules.ANY: RULE, "06010": Rule(80.0, timedelta(hours=4))})


def test_band_precedence_class_and_algorithm_first() -> None:
    policy = _rules(("*", "*", 0.9, 0.6), ("*", "yolo", 0.8, 0.5), ("06010", "*", 0.7, 0.4),
                    ("06010", "yolo", 0.95, 0.85))
    assert policy.band("06010", "yolo") == rules.Band(0.95, 0.85)  # class and algorithm
    assert policy.band("06010", "other") == rules.Band(0.7, 0.4)   # class, any algorithm
    assert policy.band("06011", "yolo") == rules.Band(0.8, 0.5)    # algorithm, any class
    assert policy.band("06011", "other") == rules.Band(0.9, 0.6)   # the default


def test_band_class_row_beats_algorithm_row() -> None:
    policy = _rules(("*", "*", 0.9, 0.6), ("*", "yolo", 0.8, 0.5), ("06010", "*", 0.7, 0.4))
    assert policy.band("06010", "yolo") == rules.Band(0.7, 0.4)


def test_band_needs_the_default_row() -> None:
    with pytest.raises(AssertionError):
        _rules(("06010", "*", 0.7, 0.4)).band("06011", "*")


def test_dedup_rule_of_the_class_or_the_default() -> None:
    policy = _rules(("*", "*", 0.9, 0.6))
    assert policy.dedup("06010") == Rule(80.0, timedelta(hours=4))
    assert policy.dedup("06011") is RULE
