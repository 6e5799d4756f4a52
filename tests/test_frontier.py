"""The frontier arithmetic on hand-made cells, and the overlay of several checkpoints."""
from __future__ import annotations

import pytest

from kateval.report.frontier import (
    Point,
    against_frontier,
    always_ahead,
    best_within,
    cheapest_reaching,
    cheapest_within_ci,
    leaders,
    pareto_frontier,
)

# A hand-made sweep (name, mean tokens per sample, accuracy); each test works its expectation out by hand.
CELLS = [
    Point("off", 300, 0.40, mode="off"),
    Point("on-think512", 900, 0.50, mode="on", thinking_budget=512),
    Point("on-think1024", 1400, 0.62, mode="on", thinking_budget=1024),
    Point("on-think2048", 2300, 0.61, mode="on", thinking_budget=2048),   # costlier and worse than 1024: dominated
    Point("on", 4000, 0.70, mode="on"),
    Point("auto", 1200, 0.60, mode="auto"),
    Point("auto-dup", 1200, 0.60, mode="auto"),                          # equal to auto in both: the first is kept
]


def names(points):
    return [p.name for p in points]


def test_pareto_frontier_keeps_exactly_the_undominated_cells_cheapest_first():
    assert names(pareto_frontier(CELLS)) == ["off", "on-think512", "auto", "on-think1024", "on"]
    forced = [p for p in CELLS if p.mode != "auto"]
    assert names(pareto_frontier(forced)) == ["off", "on-think512", "on-think1024", "on"]
    assert pareto_frontier([]) == []


def test_same_cost_keeps_the_more_accurate_and_same_accuracy_keeps_the_cheaper():
    cells = [Point("a", 100, 0.5), Point("b", 100, 0.6), Point("c", 50, 0.6), Point("d", 200, 0.6)]
    assert names(pareto_frontier(cells)) == ["c"]


def test_frontier_at_a_cost_is_a_step_function():
    forced = pareto_frontier([p for p in CELLS if p.mode != "auto"])
    assert best_within(forced, 299) is None
    assert best_within(forced, 300).name == "off"
    assert best_within(forced, 1399).name == "on-think512"
    assert best_within(forced, 1400).name == "on-think1024"
    assert best_within(forced, 10**9).name == "on"
    assert cheapest_reaching(forced, 0.55).name == "on-think1024"
    assert cheapest_reaching(forced, 0.71) is None


def test_auto_against_the_forced_frontier():
    forced = pareto_frontier([p for p in CELLS if p.mode != "auto"])
    position = against_frontier(CELLS[5], forced)
    # At 1200 tokens the forced frontier offers on-think512 (0.50): auto gains 10 points there. Reaching auto's
    # 0.60 takes on-think1024 at 1400 tokens: auto saves 200 tokens per sample.
    assert position["frontier_at_cost"] == "on-think512"
    assert position["accuracy_gain"] == pytest.approx(0.10)
    assert position["frontier_at_accuracy"] == "on-think1024"
    assert position["tokens_saved"] == pytest.approx(200)
    assert position["dominated"] is False
    worse = against_frontier(Point("auto-bad", 2000, 0.55, mode="auto"), forced)
    assert worse["dominated"] is True and worse["tokens_saved"] == pytest.approx(-600)   # 1400 - 2000
    assert worse["accuracy_gain"] == pytest.approx(0.55 - 0.62)
    cheap = against_frontier(Point("auto-cheap", 100, 0.9, mode="auto"), forced)
    assert cheap["frontier_at_cost"] is None and cheap["accuracy_gain"] is None
    assert cheap["frontier_at_accuracy"] is None and cheap["tokens_saved"] is None


def test_cheapest_within_one_ci_of_the_best():
    cells = [Point("on", 4000, 0.70, ci=(0.58, 0.81)), Point("on-1024", 1400, 0.62, ci=(0.5, 0.73)),
             Point("on-512", 900, 0.57, ci=(0.45, 0.69)), Point("off", 300, 0.40, ci=(0.3, 0.5))]
    best, cheapest = cheapest_within_ci(cells)
    assert (best.name, cheapest.name) == ("on", "on-1024")            # 0.57 < 0.58 <= 0.62
    best, cheapest = cheapest_within_ci([Point("x", 10, 0.5), Point("y", 5, 0.49)])
    assert (best.name, cheapest.name) == ("x", "x")                     # no interval: only as accurate counts
    assert cheapest_within_ci([]) is None
    tied = cheapest_within_ci([Point("slow", 10, 0.5), Point("fast", 5, 0.5)])
    assert (tied[0].name, tied[1].name) == ("fast", "fast")


def test_overlaid_checkpoints_lead_per_cost():
    a = pareto_frontier([Point("a-off", 100, 0.3), Point("a-on", 1000, 0.8)])
    b = pareto_frontier([Point("b-off", 50, 0.2), Point("b-mid", 400, 0.5), Point("b-on", 2000, 0.7)])
    rows = leaders({"A": a, "B": b})
    assert [row["tokens"] for row in rows] == [50, 100, 400, 1000, 2000]
    assert [row["leaders"] for row in rows] == [["B"], ["A"], ["B"], ["A"], ["A"]]
    assert rows[0]["accuracy"] == {"A": None, "B": 0.2}
    assert rows[2]["cells"] == {"A": "a-off", "B": "b-mid"}
    assert always_ahead(rows) == []                                     # B leads at 400 tokens: they cross
    c = pareto_frontier([Point("c-off", 100, 0.1), Point("c-on", 1000, 0.6)])
    assert always_ahead(leaders({"A": a, "C": c})) == ["A"]
