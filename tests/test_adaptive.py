"""Adaptive sampling: the planning arithmetic (kateval.adaptive_plan) on hand-computed cases, the exact unbiasedness
of its weighted estimate (by enumerating every outcome), the weighted interval and sample weights of the report, and
the driver on deterministic backends (replay of a file with known per-problem success rates): rounds, stopping,
resume, and a summary that reads the run's round weights."""
from __future__ import annotations

import json
from dataclasses import replace
from math import comb
from pathlib import Path

import numpy as np
import pytest

from kateval import cli
from kateval.adaptive import AdaptiveSettings
from kateval.adaptive_plan import (
    Problems,
    after_round,
    decide,
    pilot_weight,
    plan_round,
    planned_samples,
    planned_variance,
    rescale,
    solve_prices,
    variance_goal,
)
from kateval.report import metrics
from kateval.report.aggregate import sample_weight
from kateval.report.summary import summarize
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.store import iter_records, read_run_meta
from kateval.tasks import load_task
from kateval.types import KatevalError

Z = 1.959963984540054


def problems(samples, correct, cost, spread, remaining, task=None) -> Problems:
    samples, correct, cost, spread, remaining = (np.asarray(values, dtype=float)
                                                 for values in (samples, correct, cost, spread, remaining))
    return Problems(np.zeros(samples.size, int) if task is None else np.asarray(task), samples, correct, cost, spread,
                    remaining)


# ---------------------------------------------------------------- the intervals the target is on
def test_sampling_interval_is_the_mean_of_problem_means_with_the_variance_of_these_problems():
    correct, samples = [0, 2, 8], [4, 4, 16]
    estimate = metrics.sampling_interval(correct, samples)
    assert estimate.value == pytest.approx((0 + 0.5 + 0.5) / 3) == metrics.accuracy_estimate(correct, samples).value
    # v_i at (c + 1/2) / (n + 1): 0.1 (1 - 0.1), 0.5 * 0.5, 8.5/17 * 8.5/17
    variance = (0.09 / 4 + 0.25 / 4 + 0.25 / 16) / 9
    assert estimate.interval[1] - estimate.value == pytest.approx(Z * variance ** 0.5, rel=1e-9)


def test_weighted_interval_uses_the_weighted_means_and_the_effective_samples():
    # problem 0: 4 samples, weights 0.1 (sample 0) and 0.3 each (samples 1-3): correct at 0 and 1
    # problem 1: 2 samples of weight 1/2, one correct
    weighted, weight, weight_sq = [0.1 + 0.3, 0.5], [1.0, 1.0], [0.01 + 3 * 0.09, 0.5]
    estimate = metrics.weighted_sampling_interval([2, 1], [4, 2], weighted, weight, weight_sq)
    assert estimate.value == pytest.approx((0.4 + 0.5) / 2)
    # v at (c + 1/2)/(n + 1): 2.5/5 -> 0.25; 1.5/3 -> 0.25; spread = weight_sq / weight^2
    assert estimate.interval[1] - estimate.value == pytest.approx(Z * ((0.25 * 0.28 + 0.25 * 0.5) / 4) ** 0.5)
    plain = metrics.weighted_sampling_interval([2, 1], [4, 2], [2, 1], [4, 2], [4, 2])
    assert plain == metrics.sampling_interval([2, 1], [4, 2])


def test_more_samples_shrink_the_sampling_interval_but_not_the_bootstrap_over_problems():
    rates = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 1.0, 0.0])
    widths, boot = [], []
    for n in (4, 16, 64):
        correct = (rates * n).astype(int)
        sampling = metrics.sampling_interval(correct, [n] * rates.size)
        widths.append(sampling.interval[1] - sampling.interval[0])
        interval = metrics.accuracy_estimate(correct, [n] * rates.size).interval
        boot.append(interval[1] - interval[0])
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    assert boot[0] == pytest.approx(boot[2])          # the spread between problems stays whatever n is


def test_sample_weights_come_from_the_schedule_and_default_to_one():
    rounds = [[2, 0.2], [4, 0.3], [8, 0.5]]          # samples 0-1 share 0.2, 2-3 share 0.3, 4-7 share 0.5
    assert [sample_weight(rounds, i) for i in (0, 1, 2, 3, 4, 7)] == pytest.approx([0.1, 0.1, 0.15, 0.15, 0.125, 0.125])
    assert sample_weight(rounds, 8) == 0.0           # past the schedule: a round whose weights were not written
    assert sample_weight(None, 5) == sample_weight([], 0) == 1.0
    values, index = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0, 0, 0, 1])
    assert metrics.problem_weighted_mean(values, index, np.array([0.5, 0.25, 0.25, 1.0])) == pytest.approx(
        (0.75 + 1.0) / 2)


# ---------------------------------------------------------------- the planner's arithmetic
def test_pilot_weight_is_the_pilots_share_of_a_typical_problems_samples():
    typical = (Z / 0.02) ** 2 * 0.1 / 30                              # 32.0 samples for +-2 points on 30 problems
    assert pilot_weight(2, 64, 0.02, 30) == pytest.approx(2 / typical)
    assert pilot_weight(4, 64, None, 30) == pytest.approx(4 / 32)     # budget only: half of max_n
    assert pilot_weight(4, 4, 0.02, 30) == 1.0                        # nothing can follow the pilot
    assert pilot_weight(4, 64, 0.02, 2000) == 0.5                     # the pilot alone nearly does: at most half


TWO = problems(samples=[4, 4], correct=[2, 4], cost=[100, 400], spread=[0.0025, 0.0025], remaining=[0.9, 0.9])
# v at (c + 1/2)/(n + 1): 0.5 -> 0.25 and 0.9 -> 0.09; over P^2 = 4: 0.0625 and 0.0225


def test_neyman_allocation_with_cost_and_the_variance_it_plans():
    future = planned_samples(TWO, np.array([1e-6]), max_n=64)
    # remaining * sqrt(v / P^2 / (price * cost)): 0.9 sqrt(0.0625 / 1e-4) = 22.5, 0.9 sqrt(0.0225 / 4e-4) = 6.75
    assert future == pytest.approx([22.5, 6.75])
    assert planned_variance(TWO, future) == pytest.approx([0.0625 * (0.0025 + 0.81 / 22.5)
                                                           + 0.0225 * (0.0025 + 0.81 / 6.75)])
    assert planned_samples(TWO, np.array([1e-9]), max_n=20) == pytest.approx([16, 16])   # max_n - 4
    closed = replace(TWO, remaining=np.array([0.0, 0.9]))
    assert planned_samples(closed, np.array([1e-6]), max_n=64)[0] == 0.0


def test_the_solved_price_is_the_highest_whose_plan_meets_the_goal():
    goal = np.array([0.004])
    price = solve_prices(TWO, goal, max_n=64)
    assert planned_variance(TWO, planned_samples(TWO, price, 64)) <= goal
    assert planned_variance(TWO, planned_samples(TWO, price * 1.001, 64)) > goal
    unreachable = solve_prices(TWO, np.array([1e-9]), max_n=64)
    assert planned_samples(TWO, unreachable, 64) == pytest.approx([60, 60])


def test_a_round_caps_growth_and_a_round_completing_a_plan_takes_all_remaining_weight():
    state = problems(samples=[4, 4, 4], correct=[2, 4, 0], cost=[100, 100, 100], spread=[0.0025] * 3,
                     remaining=[0.9, 0.9, 0.0])
    plan = plan_round(state, np.array([0.002]), max_n=64, growth=2.0)
    assert plan.step[2] == 0 and plan.weight[2] == 0.0                   # closed
    assert plan.future[0] > plan.future[1] > 4                           # 2/4 needs more than 4/4
    assert list(plan.step[:2]) == [4, 4]                                 # at most doubles
    assert plan.weight[:2] == pytest.approx(0.9 * 4 / plan.future[:2])   # its share of the remaining weight
    last = plan_round(state, np.array([0.002]), max_n=64, growth=100.0)
    assert list(last.step[:2]) == list(last.future[:2]) and last.weight[:2] == pytest.approx([0.9, 0.9])
    after = after_round(state, last, correct=np.array([3, 5, 0]))
    assert after.remaining == pytest.approx([0.0, 0.0, 0.0])
    assert after.spread == pytest.approx(0.0025 + np.array([0.81 / last.step[0], 0.81 / last.step[1], 0.0]))
    assert list(after.samples) == [4 + last.step[0], 4 + last.step[1], 4]
    assert list(after.correct) == [5, 9, 0]


def test_cheaper_problems_get_more_samples_at_equal_variance():
    state = problems(samples=[4, 4], correct=[2, 2], cost=[100, 900], spread=[0.0, 0.0], remaining=[1.0, 1.0])
    future = planned_samples(state, np.array([1e-6]), max_n=256)
    assert future[0] / future[1] == pytest.approx(3.0)                   # n ~ 1 / sqrt(cost)


def test_a_token_budget_sets_a_price_floor_and_the_planned_tokens_fit():
    state = problems(samples=[4, 4], correct=[2, 1], cost=[100, 100], spread=[0.01, 0.01], remaining=[0.9, 0.9])
    plan = plan_round(state, np.array([1e-7]), max_n=256, growth=100.0, room=1000.0)
    assert plan.budget_bound[0] and (plan.future * state.cost).sum() <= 1000.0 + 2 * 100   # rounded up per problem


def test_rescale_turns_the_pilot_into_the_whole_estimate_or_gives_weight_back():
    state = problems(samples=[2, 2], correct=[1, 2], cost=[1, 1], spread=[0.02, 0.02], remaining=[0.8, 0.8])
    whole = rescale(state, np.array([5.0]), np.array([0.0]))           # pilot weight 0.2 -> 1
    assert whole.spread == pytest.approx([0.5, 0.5]) and list(whole.remaining) == [0, 0]   # 0.02 * 25 = 1 / 2
    same = rescale(state, np.array([1.0]), np.array([np.nan]))
    assert list(same.remaining) == [0.8, 0.8] and list(same.spread) == [0.02, 0.02]


def test_decide_ends_after_the_pilot_when_the_pilot_meets_the_target():
    state = problems(samples=[8] * 4, correct=[8, 0, 4, 8], cost=[1] * 4, spread=[0.01 / 8] * 4,
                     remaining=[0.9] * 4)
    decision = decide(state, np.array([1.0]), max_n=64, growth=2, margin=0.95, room=np.inf, after_pilot=True,
                      reopen=np.array([True]))
    assert decision.plan is None and decision.stopped == ["target"]
    assert decision.scale == pytest.approx([10.0]) and decision.problems.spread == pytest.approx([1 / 8] * 4)
    broke = decide(state, np.array([1e-6]), max_n=64, growth=2, margin=0.95, room=3.0, after_pilot=True,
                   reopen=np.array([True]))                            # 3 tokens cannot buy 4 problems a sample
    assert broke.plan is None and broke.stopped == ["token_budget"] and broke.scale == pytest.approx([10.0])


def test_decide_gives_a_closed_task_over_its_goal_weight_back_and_names_every_stop():
    closed = problems(samples=[8, 8], correct=[4, 3], cost=[1, 1], spread=[0.125, 0.125], remaining=[0.0, 0.0])
    variance = (0.25 * 0.125 + (3.5 / 9) * (5.5 / 9) * 0.125) / 4
    kwargs = {"max_n": 64, "growth": 2, "margin": 0.95, "room": np.inf, "after_pilot": False}
    more = decide(closed, np.array([variance * 0.8]), reopen=np.array([True]), **kwargs)
    gamma = 1 - 0.95 * 0.8                                               # 1 - margin * goal / variance
    assert more.scale == pytest.approx([1 - gamma]) and more.problems.remaining == pytest.approx([gamma] * 2)
    assert more.plan is not None and more.stopped == [None]
    far = decide(closed, np.array([variance / 4]), reopen=np.array([True]), **kwargs)
    assert far.problems.remaining == pytest.approx([0.5, 0.5])            # at most half the weight comes back
    assert decide(closed, np.array([variance * 2]), reopen=np.array([True]), **kwargs).stopped == ["target"]
    assert decide(closed, np.array([variance / 2]), reopen=np.array([False]), **kwargs).stopped == ["reopen_limit"]
    at_max = decide(closed, np.array([variance / 2]), reopen=np.array([True]), **{**kwargs, "max_n": 8})
    assert at_max.plan is None and at_max.stopped == ["max_n"]
    open_ = replace(closed, remaining=np.array([0.5, 0.5]))
    spent = decide(open_, np.array([variance / 2]), reopen=np.array([True]), **{**kwargs, "room": 0.0})
    assert spent.plan is None and spent.stopped == ["token_budget"]
    assert variance_goal(0.02) == pytest.approx((0.02 / Z) ** 2)


def exact_means(rate: float, initial_n: int = 2, max_n: int = 16, goal: float = 0.02) -> tuple[float, float]:
    """E[weighted estimate] and E[plain mean] of a one-problem task under the planner's own rounds, by summing over
    every outcome path with its binomial probability (no simulation)."""
    alpha = pilot_weight(initial_n, max_n, goal ** 0.5 * Z, 1)
    expected = [0.0, 0.0]

    def walk(state: Problems, estimate: float, probability: float, plan) -> None:
        decision = decide(state, np.array([goal]), max_n=max_n, growth=2.0, margin=0.95, room=np.inf,
                          after_pilot=plan is None, reopen=np.array([False]))
        assert decision.scale[0] == 1.0                                 # no whole-task decision in this design
        if decision.plan is None:
            expected[0] += probability * estimate
            expected[1] += probability * state.correct[0] / state.samples[0]
            return
        step, weight = int(decision.plan.step[0]), float(decision.plan.weight[0])
        for k in range(step + 1):
            chance = comb(step, k) * rate ** k * (1 - rate) ** (step - k)
            walk(after_round(decision.problems, decision.plan, np.array([k])), estimate + weight * k / step,
                 probability * chance, decision.plan)

    for k in range(initial_n + 1):
        chance = comb(initial_n, k) * rate ** k * (1 - rate) ** (initial_n - k)
        walk(problems([initial_n], [k], [1.0], [alpha ** 2 / initial_n], [1 - alpha]), alpha * k / initial_n,
             chance, None)
    return expected[0], expected[1]


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.5, 0.8, 0.97])
def test_the_weighted_estimate_is_exactly_unbiased_where_the_plain_mean_is_not(rate):
    weighted, plain = exact_means(rate)
    assert weighted == pytest.approx(rate, abs=1e-12)
    # A problem that looks solved (or hopeless) gets fewer samples: the plain mean leans toward 1 (or 0); at 1/2
    # the lean cancels by symmetry.
    if rate != 0.5:
        assert abs(plain - rate) > 0.005 and (plain > rate) == (rate > 0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"target_ci": None}, "needs --target-ci or --token-budget"),
    ({"target_ci": 2.0}, "half-width on the 0-1 accuracy scale"),
    ({"target_ci": 0.02, "max_n": 2, "initial_n": 4}, "must be at least --n"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(KatevalError, match=message):
        AdaptiveSettings(**kwargs)


# ---------------------------------------------------------------- the report reads the round weights
def test_summary_of_an_adaptive_run_is_the_mean_of_weighted_means(tmp_path):
    records = [sample_record("t", "a", i, correct=ok) for i, ok in enumerate([True, False, True, True])]
    records += [sample_record("t", "b", i, correct=ok) for i, ok in enumerate([False, True])]
    meta = run_meta(["t"], sampling={"n": 2, "max_tokens": 100})
    meta["adaptive"] = {"target_ci": 0.1, "max_n": 8, "rounds": [{}], "stopped": "target",
                        "schedule": {"t": {"a": [[2, 0.25], [4, 0.75]], "b": [[2, 1.0]]}}}
    t = summarize(write_run(tmp_path / "run", records, meta))["tasks"]["t"]
    # a: 0.25 * 1/2 + 0.75 * 2/2 = 0.875 (its plain mean: 0.75); b: 1/2
    assert t["accuracy"] == pytest.approx((0.875 + 0.5) / 2)
    assert t["pass_at_k"] == {"1": t["accuracy"]}                          # pass@2 left out: counts follow outcomes
    spread_a = 2 * 0.125 ** 2 + 2 * 0.375 ** 2                             # weight_sq (weights sum to 1)
    variance = ((3.5 / 5) * (1.5 / 5) * spread_a + 0.25 / 2) / 4
    assert t["sampling_ci95"][1] - t["accuracy"] == pytest.approx(Z * variance ** 0.5)
    assert t["samples_per_problem"] == [2, 4]


# ---------------------------------------------------------------- the driver
RATES = (0.0, 0.25, 0.5, 0.9, 1.0, 0.6)   # per-problem success rates of the replayed "model"


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory, data_dir) -> Path:
    """32 samples of each of the first six aime24 (and aime25) problems, right with a known rate, all of about the
    same cost (aime25's twice aime24's)."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("replay") / "completions.jsonl"
    with path.open("w") as handle:
        for name, cost in (("aime24", 1000), ("aime25", 2000)):
            task = load_task(name, data_dir)
            for problem, rate in zip(task.selected[: len(RATES)], RATES):
                gold = task.adapter.reference_answer(problem)   # AIME answers are 0-999: 1000 is always wrong
                for index in range(32):
                    answer = gold if rng.random() < rate else "The answer is $\\boxed{1000}$."
                    handle.write(json.dumps({
                        "task": name, "problem_id": problem.problem_id, "sample_index": index,
                        "completion": f"<think>\nwork\n</think>\n{answer}", "finish_reason": "stop",
                        "completion_tokens": cost + index}) + "\n")
    return path


def adaptive_args(out: Path, replay: Path, data_dir: Path, *extra: str) -> list[str]:
    return ["run", "--backend", "replay", "--replay-file", str(replay), "--tasks", "aime24", "--limit",
            str(len(RATES)), "--n", "2", "--target-ci", "0.08", "--max-n", "32", "--data-dir", str(data_dir),
            "--no-progress", "--out", str(out), *extra]


def records(run_dir: Path) -> dict:
    return {(r["problem_id"], r["sample_index"]): r for r in iter_records(run_dir)}


@pytest.fixture(scope="module")
def adaptive_run(tmp_path_factory, replay_file, data_dir) -> Path:
    out = tmp_path_factory.mktemp("adaptive") / "run"
    assert cli.main(adaptive_args(out, replay_file, data_dir)) == 0
    return out


def test_rounds_sample_the_uncertain_problems_more_and_weights_sum_to_one(adaptive_run):
    meta = read_run_meta(adaptive_run)
    rounds, schedule = meta["adaptive"]["rounds"], meta["adaptive"]["schedule"]["aime24"]
    assert len(rounds) >= 2 and meta["adaptive"]["stopped"] in ("target", "max_n")
    per_problem: dict[str, list[int]] = {}
    for pid, index in records(adaptive_run):
        per_problem.setdefault(pid, []).append(index)
    for pid, indices in per_problem.items():
        assert sorted(indices) == list(range(len(indices)))   # each problem: samples 0..n-1, none twice
        assert schedule[pid][-1][0] == len(indices)            # its rounds cover exactly its samples
        assert sum(weight for _, weight in schedule[pid]) == pytest.approx(1.0)
    first = list(records(adaptive_run))
    counts = [len(per_problem[pid]) for pid in sorted(per_problem, key=lambda p: first.index((p, 0)))]
    by_rate = dict(zip(RATES, counts))
    assert by_rate[0.5] > by_rate[0.0] and by_rate[0.5] > by_rate[1.0]
    assert rounds[-1]["samples"] == sum(counts) == meta["samples_expected"]


def test_summary_accuracy_is_the_schedules_weighted_estimate(adaptive_run):
    schedule = read_run_meta(adaptive_run)["adaptive"]["schedule"]["aime24"]
    by_problem: dict[str, dict[int, bool]] = {}
    for (pid, index), record in records(adaptive_run).items():
        by_problem.setdefault(pid, {})[index] = bool(record["correct"])
    estimates = []
    for pid, outcomes in by_problem.items():
        start, total = 0, 0.0
        for end, weight in schedule[pid]:
            total += weight * np.mean([outcomes[i] for i in range(start, int(end))])
            start = int(end)
        estimates.append(total)
    summary = json.loads((adaptive_run / "summary.json").read_text())["tasks"]["aime24"]
    assert isinstance(summary["samples_per_problem"], list)
    assert summary["accuracy"] == pytest.approx(np.mean(estimates))


def test_the_report_says_the_samples_differ_and_how_accuracy_is_weighted(adaptive_run):
    assert cli.main(["report", str(adaptive_run)]) == 0
    report = (adaptive_run / "report.md").read_text()
    assert "adaptive sampling" in report and "different numbers of samples" in report and "WEIGHTED" in report


def test_a_killed_adaptive_run_resumes_to_the_same_records(adaptive_run, replay_file, data_dir, tmp_path):
    whole = records(adaptive_run)
    lines = (adaptive_run / "samples.jsonl").read_bytes().splitlines(keepends=True)
    for keep in (3, len(lines) // 2, len(lines) - 2):   # inside round 1, mid-run, in the last round
        out = tmp_path / f"cut{keep}"
        out.mkdir()
        (out / "run.json").write_bytes((adaptive_run / "run.json").read_bytes())
        (out / "samples.jsonl").write_bytes(b"".join(lines[:keep]) + lines[keep][:25])   # and a torn line
        assert cli.main(adaptive_args(out, replay_file, data_dir)) == 0
        assert records(out) == whole, keep
        for key in ("rounds", "schedule"):
            assert read_run_meta(out)["adaptive"][key] == read_run_meta(adaptive_run)["adaptive"][key]


def test_rerun_is_a_no_op_and_other_settings_are_refused(adaptive_run, replay_file, data_dir, capsys):
    size = (adaptive_run / "samples.jsonl").stat().st_size
    assert cli.main(adaptive_args(adaptive_run, replay_file, data_dir)) == 0
    assert (adaptive_run / "samples.jsonl").stat().st_size == size
    assert cli.main([*adaptive_args(adaptive_run, replay_file, data_dir)[:-2], "--out", str(adaptive_run),
                     "--target-ci", "0.1"]) == 2
    assert "other settings (adaptive)" in capsys.readouterr().err


def test_token_budget_stops_the_rounds(replay_file, data_dir, tmp_path):
    out = tmp_path / "budget"
    args = adaptive_args(out, replay_file, data_dir)
    at = args.index("--target-ci")
    del args[at:at + 2]
    assert cli.main([*args, "--token-budget", "30000"]) == 0
    meta = read_run_meta(out)
    assert meta["adaptive"]["stopped"] == "token_budget"
    spent = sum(r["completion_tokens"] for r in iter_records(out))
    # Rounds are planned on expected costs (each problem's mean so far): the last may overshoot by its randomness.
    assert 30000 * 0.9 <= spent <= 30000 * 1.05
    assert all(sum(w for _, w in rounds) == pytest.approx(1.0)
               for rounds in meta["adaptive"]["schedule"]["aime24"].values())


def test_two_tasks_each_meet_their_own_target_and_share_a_budget(replay_file, data_dir, tmp_path):
    out = tmp_path / "two"
    args = adaptive_args(out, replay_file, data_dir)
    args[args.index("aime24")] = "aime24,aime25"
    assert cli.main(args) == 0
    adaptive = read_run_meta(out)["adaptive"]
    assert adaptive["stopped_by_task"] == {"aime24": adaptive["stopped_by_task"]["aime24"],
                                           "aime25": adaptive["stopped_by_task"]["aime25"]}
    summary = json.loads((out / "summary.json").read_text())["tasks"]
    for name in ("aime24", "aime25"):
        assert set(adaptive["schedule"][name]) == {r["problem_id"] for r in iter_records(out) if r["task"] == name}
        if adaptive["stopped_by_task"][name] == "target":
            assert summary[name]["sampling_ci95"][1] - summary[name]["accuracy"] <= 0.08 + 1e-9
    for budget, more in ((40000, False), (80000, True)):      # 40,000 cannot buy every problem a third sample
        args = adaptive_args(tmp_path / f"budget{budget}", replay_file, data_dir, "--token-budget", str(budget))
        args[args.index("aime24")] = "aime24,aime25"
        del args[args.index("--target-ci"):args.index("--target-ci") + 2]
        assert cli.main(args) == 0
        spent = {name: sum(r["completion_tokens"] for r in iter_records(tmp_path / f"budget{budget}")
                           if r["task"] == name) for name in ("aime24", "aime25")}
        pilot = {"aime24": 12 * 1000, "aime25": 12 * 2000}
        assert all((spent[name] > pilot[name] + 100) == more for name in spent)   # both tasks share it
        assert sum(spent.values()) <= budget + 6 * 1031 + 6 * 2031          # at most one sample per problem over


def test_max_n_alone_is_an_error(tmp_path, capsys):
    assert cli.main(["run", "--backend", "reference", "--tasks", "aime24", "--max-n", "8",
                     "--out", str(tmp_path / "x")]) == 2
    assert "--max-n limits adaptive sampling" in capsys.readouterr().err


def test_a_task_without_problems_in_the_run_is_left_out_of_the_plan_or_a_one_line_error(replay_file, data_dir,
                                                                                         tmp_path, capsys):
    # --shard 2/2 of a one-problem task holds none of aime25's problems (or of aime24's): nothing to plan there.
    for shard in ("1/2", "2/2"):
        out = tmp_path / shard.replace("/", "of")
        args = adaptive_args(out, replay_file, data_dir, "--shard", shard)
        args[args.index("aime24")] = "aime24,aime25"
        args[args.index("--limit") + 1] = "1"
        assert cli.main(args) == 0
        assert set(read_run_meta(out)["adaptive"]["stopped_by_task"]) == {r["task"] for r in iter_records(out)}
    args = adaptive_args(tmp_path / "none", replay_file, data_dir)
    args[args.index("--limit") + 1] = "0"
    assert cli.main(args) == 2
    assert "adaptive sampling: this run selects no problems" in capsys.readouterr().err
