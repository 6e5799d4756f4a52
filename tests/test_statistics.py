"""One estimator everywhere: accuracy is the mean over problems of each problem's mean (whatever the number of
samples each problem has), its CI a bootstrap over problems, and report, compare, leaderboard and audit agree.
maj@n votes on normalized answers; pass@1 and accuracy print alike; compare names unknown sampling."""
from __future__ import annotations

import json

import numpy as np
import pandas
import pytest

from kateval.audit.metrics import audit_problem, build_audit
from kateval.cli import main as cli
from kateval.report import metrics
from kateval.report.compare import compare_runs
from kateval.report.leaderboard import leaderboard
from kateval.report.render import pct, to_markdown
from kateval.report.run_report import report_document
from kateval.report.summary import summarize
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.types import KatevalError

# An uneven run, as a resumed or adaptive one leaves it: (correct, samples) per problem.
UNEVEN = {"p1": (8, 8), "p2": (0, 1), "p3": (1, 4), "p4": (2, 3), "p5": (0, 6)}
UNEVEN_ACCURACY = (1 + 0 + 1 / 4 + 2 / 3 + 0) / 5          # 0.3833; pooled over samples it would be 11/22 = 0.5


def uneven_records(task="t", tokens=lambda i: 100 * (i + 1)):
    return [sample_record(task, pid, i, correct=i < c, status="correct" if i < c else "wrong_answer",
                          extracted_answer="5" if i < c else "9", completion_tokens=tokens(i),
                          difficulty="easy" if pid in ("p1", "p2") else "hard")
            for pid, (c, n) in UNEVEN.items() for i in range(n)]


def naive_problem_bootstrap(per_problem, resamples=20000, seed=5):
    values = np.asarray(per_problem, dtype=float)
    picks = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size))
    return np.quantile(values[picks].mean(axis=1), [0.025, 0.975]).tolist()


@pytest.fixture(scope="module")
def uneven_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("uneven") / "run", uneven_records(), run_meta(["t"]))


def test_estimator_weighs_problems_not_samples():
    correct = [c for c, _ in UNEVEN.values()]
    samples = [n for _, n in UNEVEN.values()]
    estimate = metrics.accuracy_estimate(correct, samples, resamples=20000)
    assert estimate.value == pytest.approx(UNEVEN_ACCURACY) and estimate.problems == 5
    rates = [c / n for c, n in UNEVEN.values()]
    assert estimate.interval == pytest.approx(naive_problem_bootstrap(rates), abs=0.03)
    assert estimate.interval[0] <= estimate.value <= estimate.interval[1]
    # the same numbers through the generic entry point (what compare and audit call)
    assert metrics.mean_over_problems(rates, resamples=20000) == estimate


def test_estimator_edge_cases():
    empty = metrics.mean_over_problems([])
    assert (empty.value, empty.interval, empty.problems) == (None, None, 0)
    single = metrics.accuracy_estimate([3], [4])
    assert (single.value, single.interval) == (0.75, [0.75, 0.75])
    # a problem with many samples counts once: 100/100 and 0/1 average to one half
    assert metrics.accuracy_estimate([100, 0], [100, 1]).value == 0.5


def test_problem_weighted_mean_of_a_per_sample_quantity():
    values = np.array([1, 1, 1, 1, 0, 0, 1], dtype=bool)
    problem_index = np.array([0, 0, 0, 0, 1, 2, 2])
    assert metrics.problem_weighted_mean(values, problem_index) == pytest.approx((1 + 0 + 0.5) / 3)
    # problems without a sample in the subset (index 1 missing) are left out, not counted as zero
    assert metrics.problem_weighted_mean(np.array([1.0, 0.0]), np.array([0, 2])) == 0.5
    assert metrics.problem_weighted_mean(np.array([]), np.array([], dtype=int)) is None


def test_summary_accuracy_ci_and_pass_at_1_agree_on_an_uneven_run(uneven_run):
    t = summarize(uneven_run)["tasks"]["t"]
    assert t["accuracy"] == pytest.approx(UNEVEN_ACCURACY)
    assert t["pass_at_k"]["1"] == t["accuracy"]          # the same float, not merely close
    assert t["samples_per_problem"] == [1, 3, 4, 6, 8]
    low, high = t["accuracy_ci95"]
    assert low <= t["accuracy"] <= high
    assert [low, high] == pytest.approx(naive_problem_bootstrap([c / n for c, n in UNEVEN.values()]), abs=0.05)
    # pass@k for k > 1 stops at the smallest n (1 here)
    assert list(t["pass_at_k"]) == ["1"]


def test_every_accuracy_in_the_summary_is_weighted_by_problem(uneven_run):
    t = summarize(uneven_run)["tasks"]["t"]
    easy, hard = t["by_difficulty"]["easy"], t["by_difficulty"]["hard"]
    assert easy["accuracy"] == pytest.approx((1 + 0) / 2) and hard["accuracy"] == pytest.approx((1 / 4 + 2 / 3) / 3)
    assert easy["accuracy_ci95"] == pytest.approx([0.0, 1.0])
    # the last budget admits every sample, so the budget curve ends at the accuracy
    budgets = t["accuracy_under_budget"]
    assert budgets[max(budgets, key=int)] == pytest.approx(t["accuracy"])
    # at 100 tokens only each problem's first sample counts: p1 1/8, p3 1/4, p4 1/3
    assert budgets["128"] == pytest.approx((1 / 8 + 0 + 1 / 4 + 1 / 3 + 0) / 5)


def test_accuracy_lost_to_truncation_is_weighted_by_problem(tmp_path):
    records = [sample_record("t", "a", i, truncated=True, correct=False, status="truncated", finish_reason="length")
               for i in range(9)]
    records += [sample_record("t", "b", 0)]
    t = summarize(write_run(tmp_path / "run", records, run_meta(["t"])))["tasks"]["t"]
    assert t["accuracy"] == 0.5
    assert t["accuracy_lost_to_truncation"] == 0.5          # problem a lost all of its accuracy, b none
    assert t["truncation_rate"] == pytest.approx(9 / 10)    # a rate of samples stays a rate of samples


def test_overall_weighs_every_problem_of_every_task(tmp_path):
    records = uneven_records("t") + [sample_record("u", "q", i) for i in range(10)]
    summary = summarize(write_run(tmp_path / "run", records, run_meta(["t", "u"])))
    assert summary["overall"]["accuracy"] == pytest.approx((UNEVEN_ACCURACY * 5 + 1) / 6)
    assert summary["overall"]["macro_accuracy"] == pytest.approx((UNEVEN_ACCURACY + 1) / 2)
    assert summary["overall"]["pass_at_k"]["1"] == summary["overall"]["accuracy"]


def test_report_prints_accuracy_and_pass_at_1_through_one_path(uneven_run):
    summary = summarize(uneven_run)
    t = summary["tasks"]["t"]
    assert pct(t["accuracy"]) == pct(t["pass_at_k"]["1"]) == "38.3%"
    markdown = to_markdown(report_document(summary, {}))
    assert markdown.count("38.3%") >= 2   # accuracy and pass@1 cells (sample-weighted accuracy would be 50.0%)


@pytest.mark.parametrize("value, text", [
    (0.4875, "48.8%"), (0.48749999999999993, "48.8%"), (0.48750000000000004, "48.8%"), (39 / 80, "48.8%"),
    (0.0125, "1.3%"), (2 / 3, "66.7%"), (1.0, "100.0%"), (0.0, "0.0%"), (-1e-16, "0.0%"), (None, "-"),
])
def test_pct_rounds_half_up_and_ignores_float_noise(value, text):
    assert pct(value) == text


def test_leaderboard_and_compare_use_the_same_accuracy(uneven_run, tmp_path):
    row = pandas.DataFrame(leaderboard([uneven_run])).iloc[0]   # rows as dicts or as a DataFrame
    assert row["t acc"] == row["overall acc"] == pytest.approx(UNEVEN_ACCURACY)
    flat = write_run(tmp_path / "flat", [sample_record("t", pid, 0) for pid in UNEVEN], run_meta(["t"]))
    paired = compare_runs(uneven_run, flat, force=True)["overall"]
    assert paired["accuracy_a"] == pytest.approx(UNEVEN_ACCURACY) and paired["accuracy_b"] == 1.0
    assert paired["accuracy_diff"] == pytest.approx(1 - UNEVEN_ACCURACY)
    low, high = paired["accuracy_diff_ci95"]
    assert low <= paired["accuracy_diff"] <= high


def test_audit_policy_accuracy_comes_with_a_problem_bootstrap():
    def samples(correct, n, mode):
        return [{"correct": i < correct, "mode": mode, "completion_tokens": 10} for i in range(n)]

    problems = [audit_problem("t", f"p{i}", None, {"auto": samples(c_auto, 4, "on"), "on": samples(c_on, n_on, "on"),
                                                   "off": samples(0, 2, "off")})
                for i, (c_auto, c_on, n_on) in enumerate([(4, 1, 1), (0, 0, 8), (2, 3, 6), (1, 5, 5)])]
    overall = build_audit(problems)["overall"]
    on_rates = [1, 0, 0.5, 1]
    assert overall["policies"]["always_on"]["accuracy"] == pytest.approx(np.mean(on_rates))
    assert overall["policy_accuracy_ci95"]["always_on"] == metrics.mean_over_problems(on_rates).interval
    assert overall["policy_accuracy_ci95"]["always_off"] == [0.0, 0.0]


# ---------------------------------------------------------------- maj@n on normalized answers
def vote_run(path, answers_by_problem):
    """`answers_by_problem`: pid -> list of (extracted_answer, correct)."""
    records = [sample_record("t", pid, i, extracted_answer=answer, correct=ok,
                             status="correct" if ok else ("wrong_answer" if answer is not None else "no_answer"))
               for pid, answers in answers_by_problem.items() for i, (answer, ok) in enumerate(answers)]
    return write_run(path, records, run_meta(["t"], sampling={"n": 4}))


@pytest.mark.parametrize("answers, expected", [
    # one wrong answer written four ways outvotes two right ones
    ([("322", False), ("322.", False), ("0322", False), ("$322$", False), ("5", True), ("5", True)], 0.0),
    ([("\\boxed{7}", True), ("7", True), ("\\frac{24}{2}", False), ("12", False), ("12.0", False)], 0.0),
    # a two-way tie between the right answer and one wrong answer (in two spellings) scores one half
    ([("5", True), ("5", True), ("9", False), ("9.", False)], 0.5),
    # a three-way tie: one right answer among three
    ([("1", True), ("2", False), ("3", False)], 1 / 3),
    # samples without an answer do not vote
    ([(None, False), (None, False), (None, False), ("5", True)], 1.0),
    ([(None, False), (None, False)], 0.0),
    # distinct wrong answers that stay distinct after normalization do not outvote the right one
    ([("5", True), ("5", True), ("6", False), ("7", False), ("7x", False)], 1.0),
])
def test_majority_vote_on_normalized_answers(tmp_path, answers, expected):
    summary = summarize(vote_run(tmp_path / "run", {"p": answers}))
    assert summary["tasks"]["t"]["maj_at_n"] == pytest.approx(expected)


def test_majority_vote_averages_problems(tmp_path):
    run = vote_run(tmp_path / "run", {"a": [("1", True)] * 3 + [("2", False)],
                                      "b": [("4", False), ("4.0", False), ("3", True)],
                                      "c": [("8", True), ("9", False)]})
    assert summarize(run)["tasks"]["t"]["maj_at_n"] == pytest.approx((1 + 0 + 0.5) / 3)


# ---------------------------------------------------------------- compare and unknown sampling
def scored_run(path, solved):
    """A run made by `kateval score`: run.json records no sampling."""
    meta = run_meta(["t"])
    del meta["sampling"]
    records = [sample_record("t", f"p{i}", 0, correct=i < solved) for i in range(4)]
    return write_run(path, records, meta)


def test_compare_names_a_side_whose_sampling_is_unknown(tmp_path, capsys):
    scored = scored_run(tmp_path / "scored", 2)
    sampled = write_run(tmp_path / "sampled", [sample_record("t", f"p{i}", j) for i in range(4) for j in range(4)],
                        run_meta(["t"], sampling={"n": 4, "temperature": 0.6}))
    with pytest.raises(KatevalError, match="unknown for A, a kateval score run"):
        compare_runs(scored, sampled)
    result = compare_runs(scored, sampled, force=True)
    assert any(d.startswith("sampling (unknown for A") and "temperature=0.6" in d and "n=4" in d
               for d in result["differences"])
    assert cli(["compare", str(sampled), str(scored), "--force", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "runs differ in sampling (unknown for B, a kateval score run)" in captured.err
    assert "configurations differ: sampling (unknown for B" in captured.out


def test_compare_of_two_scored_runs_says_both_samplings_are_unknown(tmp_path):
    result = compare_runs(scored_run(tmp_path / "a", 1), scored_run(tmp_path / "b", 3))
    assert result["differences"] == []
    assert any("sampling of both runs is unknown" in note for note in result["notes"])
    assert result["overall"]["accuracy_diff"] == 0.5


def test_summary_json_is_plain_json(uneven_run):
    json.dumps(summarize(uneven_run))
