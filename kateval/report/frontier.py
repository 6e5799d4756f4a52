"""The cost frontier, as pure functions of points (one per configuration): accuracy against mean completion tokens.

A point is on the Pareto frontier when no other point is at most as costly and at least as accurate, and strictly
better in one of the two. "The frontier at a cost" is the best accuracy of a frontier point that costs no more: a
step function, which assumes nothing about mixing configurations."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Point:
    name: str
    tokens: float                          # mean completion tokens per sample
    accuracy: float
    ci: tuple[float, float] | None = None  # 95% interval of the accuracy
    mode: str | None = None
    thinking_budget: int | None = None


def pareto_frontier(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats, cheapest first (accuracy then rises strictly along the list). Of points
    equal in both, the first given is kept."""
    ranked = sorted(enumerate(points), key=lambda item: (item[1].tokens, -item[1].accuracy, item[0]))
    frontier: list[Point] = []
    for _, point in ranked:
        if not frontier or point.accuracy > frontier[-1].accuracy:
            frontier.append(point)
    return frontier


def best_within(frontier: Sequence[Point], tokens: float) -> Point | None:
    """The most accurate frontier point costing at most `tokens` (None when every point costs more)."""
    affordable = [point for point in frontier if point.tokens <= tokens]
    return max(affordable, key=lambda point: point.accuracy) if affordable else None


def cheapest_reaching(frontier: Sequence[Point], accuracy: float) -> Point | None:
    """The cheapest frontier point at least as accurate as `accuracy` (None when none is)."""
    reaching = [point for point in frontier if point.accuracy >= accuracy]
    return min(reaching, key=lambda point: point.tokens) if reaching else None


def against_frontier(point: Point, frontier: Sequence[Point]) -> dict[str, Any]:
    """Where a point (e.g. the model's own `auto` choice) sits against a frontier (e.g. of forced modes):
    accuracy it gains (+) or loses (-) against the frontier at the same cost, and tokens it saves (+) or spends
    extra (-) against the cheapest frontier point as accurate as it is."""
    same_cost = best_within(frontier, point.tokens)
    same_accuracy = cheapest_reaching(frontier, point.accuracy)
    return {
        "name": point.name, "tokens": point.tokens, "accuracy": point.accuracy,
        "frontier_at_cost": same_cost.name if same_cost else None,
        "accuracy_gain": point.accuracy - same_cost.accuracy if same_cost else None,
        "frontier_at_accuracy": same_accuracy.name if same_accuracy else None,
        "tokens_saved": same_accuracy.tokens - point.tokens if same_accuracy else None,
        "dominated": any(other.tokens <= point.tokens and other.accuracy >= point.accuracy
                         and (other.tokens < point.tokens or other.accuracy > point.accuracy) for other in frontier),
    }


def cheapest_within_ci(points: Sequence[Point]) -> tuple[Point, Point] | None:
    """(best, cheapest): the most accurate point (the cheaper of ties), and the cheapest point whose accuracy is
    at least the lower end of the best one's 95% interval (its accuracy itself when it has none)."""
    if not points:
        return None
    best = min(points, key=lambda point: (-point.accuracy, point.tokens))
    floor = best.ci[0] if best.ci else best.accuracy
    cheapest = min((point for point in points if point.accuracy >= floor),
                   key=lambda point: (point.tokens, -point.accuracy))
    return best, cheapest


def leaders(frontiers: dict[str, Sequence[Point]]) -> list[dict[str, Any]]:
    """For overlaid checkpoints: at each cost where some frontier has a point, every checkpoint's frontier accuracy
    at that cost (None where it has nothing that cheap) and which leads (ties name all leaders)."""
    costs = sorted({point.tokens for frontier in frontiers.values() for point in frontier})
    rows = []
    for cost in costs:
        at_cost = {name: best_within(frontier, cost) for name, frontier in frontiers.items()}
        accuracy = {name: point.accuracy if point else None for name, point in at_cost.items()}
        known = [value for value in accuracy.values() if value is not None]
        top = max(known) if known else None
        rows.append({"tokens": cost, "accuracy": accuracy,
                     "cells": {name: point.name if point else None for name, point in at_cost.items()},
                     "leaders": [name for name, value in accuracy.items() if value is not None and value == top]})
    return rows


def always_ahead(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Checkpoints that lead (or tie for the lead) at every cost where every checkpoint has a point."""
    comparable = [row for row in rows if all(value is not None for value in row["accuracy"].values())]
    if not comparable:
        return []
    names = set(comparable[0]["accuracy"])
    return sorted(name for name in names if all(name in row["leaders"] for row in comparable))
