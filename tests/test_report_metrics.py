"""The report's metric functions against hand-computed values and closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kateval.report import metrics


@pytest.mark.parametrize("n,c,k", [(1, 0, 1), (1, 1, 1), (4, 1, 1), (4, 1, 2), (4, 2, 4), (8, 3, 4), (16, 5, 8),
                                   (10, 0, 3), (10, 10, 3), (64, 7, 32)])
def test_pass_at_k_matches_closed_form(n, c, k):
    closed = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert metrics.pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12)


def test_pass_at_k_hand_values():
    assert metrics.pass_at_k(4, 1, 2) == pytest.approx(0.5)       # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert metrics.pass_at_k(5, 2, 1) == pytest.approx(0.4)       # pass@1 is c/n
    with pytest.raises(ValueError):
        metrics.pass_at_k(2, 1, 3)


def test_pass_ks_are_one_and_powers_of_two_up_to_n():
    assert metrics.pass_ks(1) == [1]
    assert metrics.pass_ks(6) == [1, 2, 4]
    assert metrics.pass_ks(16) == [1, 2, 4, 8, 16]


def test_mean_pass_at_k_averages_problems():
    # problems (n=4): c = 0, 1, 4 -> pass@2 = 0, 1/2, 1
    assert metrics.mean_pass_at_k([4, 4, 4], [0, 1, 4], 2) == pytest.approx(0.5)


def test_bootstrap_ci_is_degenerate_when_every_problem_is_alike():
    assert metrics.bootstrap_ratio_ci([2, 2, 2], [4, 4, 4]) == [0.5, 0.5]
    assert metrics.bootstrap_ratio_ci([]) is None


def test_bootstrap_ci_is_seeded_and_matches_naive_problem_resampling():
    rng = np.random.default_rng(1)
    correct = rng.integers(0, 5, size=200)
    samples = np.full(200, 4)
    first = metrics.bootstrap_ratio_ci(correct, samples, resamples=20000)
    assert first == metrics.bootstrap_ratio_ci(correct, samples, resamples=20000)
    # the naive bootstrap: resample problem indices with replacement
    indices = np.random.default_rng(2).integers(0, 200, size=(20000, 200))
    naive = np.quantile(correct[indices].sum(1) / samples[indices].sum(1), [0.025, 0.975])
    assert first == pytest.approx(naive.tolist(), abs=0.01)
    assert first[0] < correct.sum() / samples.sum() < first[1]


@pytest.mark.parametrize("b,c,expected", [
    (0, 0, 1.0),
    (0, 5, 2 / 32),                 # 2 * P(X <= 0), X ~ Bin(5, 1/2)
    (1, 9, 2 * (1 + 10) / 1024),    # 2 * (C(10,0) + C(10,1)) / 2^10
    (3, 4, 1.0),                    # 2 * 64/128 = 1
    (1, 6, 2 * (1 + 7) / 128),
])
def test_exact_binomial_test(b, c, expected):
    assert metrics.binomial_two_sided(b, c) == pytest.approx(expected, rel=1e-9)
    assert metrics.binomial_two_sided(c, b) == pytest.approx(expected, rel=1e-9)


def test_majority_vote_and_ties():
    assert metrics.majority_correct({"a": (3, True), "b": (1, False)}) == 1.0
    assert metrics.majority_correct({"a": (1, True), "b": (3, False)}) == 0.0
    assert metrics.majority_correct({"a": (2, True), "b": (2, False)}) == 0.5
    assert metrics.majority_correct({}) == 0.0


def test_token_stats_hand_values():
    stats = metrics.token_stats(np.array([20, 30, 50, 100, 200, 400]))
    # median (50+100)/2; p90 at position 0.9*5 = 4.5 between 200 and 400
    assert stats == {"mean": pytest.approx(800 / 6), "median": 75.0, "p90": 300.0, "max": 400}
    assert metrics.token_stats(np.array([], dtype=int))["mean"] is None


def test_budget_grid_and_curve_hand_values():
    tokens = np.array([100, 20, 400, 200, 50, 30])
    correct = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    # shortest correct sample 20 -> start at 16; longest 400 -> end at 512; max_tokens 400 lies inside
    grid = metrics.budget_grid(tokens, correct, max_tokens=400)
    assert grid == [16, 32, 64, 128, 256, 400, 512]
    assert metrics.budget_curve(tokens, correct, grid) == pytest.approx(
        {"16": 0, "32": 1 / 6, "64": 1 / 6, "128": 2 / 6, "256": 3 / 6, "400": 3 / 6, "512": 3 / 6})
    assert metrics.budget_grid(tokens, correct, max_tokens=32768) == [16, 32, 64, 128, 256, 512]
    assert metrics.budget_curve(np.array([], dtype=int), np.array([], dtype=bool), []) == {}


def test_bootstrap_ci_of_many_distinct_values_resamples_indices():
    values = np.random.default_rng(3).normal(50.0, 10.0, size=2000)   # continuous: one unit per problem
    low, high = metrics.bootstrap_ratio_ci(values, resamples=4000)
    half_width = 1.96 * values.std() / np.sqrt(values.size)   # the normal approximation for comparison
    assert low == pytest.approx(values.mean() - half_width, abs=0.1)
    assert high == pytest.approx(values.mean() + half_width, abs=0.1)
    assert metrics.bootstrap_ratio_ci(values, resamples=4000) == [low, high]


def test_histogram_edges_go_logarithmic_when_lengths_span_orders_of_magnitude():
    assert metrics.histogram_edges(np.array([10, 20, 400]), bins=4).tolist() == [0, 100, 200, 300, 400]
    edges = metrics.histogram_edges(np.array([10, 20, 10_000]), bins=3)
    assert edges.tolist() == pytest.approx([10, 100, 1000, 10_000])
    assert sum(metrics.histogram(np.array([10, 20, 10_000]), edges)) == 3
