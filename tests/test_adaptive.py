"""Adaptive sampling: the planner on hand-made tallies, the sampling interval, and the driver on deterministic
backends (reference; replay of a file with known per-problem success rates): rounds, stopping, resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kateval import cli
from kateval.adaptive import AdaptiveSettings, Tally, plan_round
from kateval.report import metrics
from kateval.store import iter_records, read_run_meta
from kateval.tasks import load_task
from kateval.types import KatevalError


def tallies(*rows, task="t"):
    """rows of (samples, correct, mean tokens)."""
    return [Tally(task, f"p{i}", n, c, tokens) for i, (n, c, tokens) in enumerate(rows)]


# ---------------------------------------------------------------- the interval
def test_sampling_interval_is_the_mean_of_problem_means_with_the_variance_of_these_problems():
    correct, samples = [0, 2, 8], [4, 4, 16]
    estimate = metrics.sampling_interval(correct, samples)
    assert estimate.value == pytest.approx((0 + 0.5 + 0.5) / 3) == metrics.accuracy_estimate(correct, samples).value
    # v_i at (c + 1/2) / (n + 1): 0.1 (1 - 0.1), 0.5 * 0.5, 8.5/17 * 8.5/17
    variance = (0.09 / 4 + 0.25 / 4 + 0.25 / 16) / 9
    assert estimate.interval[1] - estimate.value == pytest.approx(1.959964 * variance ** 0.5, rel=1e-5)


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


# ---------------------------------------------------------------- the planner
SETTINGS = AdaptiveSettings(target_ci=0.05, max_n=64, initial_n=4)


def test_round_goes_where_variance_per_token_is_largest():
    plan = plan_round(tallies((4, 0, 1000), (4, 2, 1000), (4, 4, 1000), (4, 2, 8000)), SETTINGS, 0)
    added = {key[1]: n - 4 for key, n in plan.targets.items()}
    assert plan.stop is None
    assert added["p1"] >= added["p0"] and added["p1"] >= added["p2"]      # 2/4 is the most uncertain
    assert added["p1"] >= added["p3"]                                        # ... and cheaper than its twin p3
    assert all(n <= 8 for n in plan.targets.values())                        # at most doubles in one round


def test_planner_is_deterministic_and_stops_on_target_max_n_and_budget():
    rows = tallies((8, 0, 500), (8, 3, 700), (8, 8, 300))
    assert plan_round(rows, SETTINGS, 0) == plan_round(rows, SETTINGS, 0)
    settled = tallies(*[(64, 64, 100)] * 40)
    assert plan_round(settled, SETTINGS, 0).stop == "target"
    capped = tallies((4, 2, 100), (4, 1, 100))
    assert plan_round(capped, AdaptiveSettings(target_ci=0.001, max_n=4, initial_n=4), 0).stop == "max_n"
    budget = AdaptiveSettings(target_ci=0.001, max_n=64, initial_n=4, token_budget=10_000)
    assert plan_round(capped, budget, 10_000).stop == "token_budget"
    plan = plan_round(capped, budget, 9_000)                                 # room for ten 100-token samples
    assert plan.stop is None and sum(plan.targets.values()) - 8 == 8       # growth caps each at 8


def test_a_task_already_precise_gets_nothing_more():
    rows = tallies(*[(64, 64, 100)] * 40, task="done") + tallies((4, 2, 100), (4, 1, 100), task="open")
    plan = plan_round(rows, SETTINGS, 0)
    assert all(n == 64 for (task, _), n in plan.targets.items() if task == "done")
    assert any(n > 4 for (task, _), n in plan.targets.items() if task == "open")


def test_a_token_budget_is_shared_by_the_tasks_not_spent_by_the_first():
    rows = tallies((4, 2, 100), (4, 1, 100), task="a") + tallies((4, 2, 100), (4, 3, 100), task="b")
    settings = AdaptiveSettings(target_ci=None, token_budget=1_000, max_n=64, initial_n=4)
    plan = plan_round(rows, settings, 0)
    added = {task: sum(n - 4 for (name, _), n in plan.targets.items() if name == task) for task in ("a", "b")}
    assert added["a"] > 0 and added["b"] > 0 and sum(added.values()) * 100 <= 1_000


@pytest.mark.parametrize("kwargs, message", [
    ({"target_ci": None}, "needs --target-ci or --token-budget"),
    ({"target_ci": 2.0}, "half-width on the 0-1 accuracy scale"),
    ({"target_ci": 0.02, "max_n": 2, "initial_n": 4}, "must be at least --n"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(KatevalError, match=message):
        AdaptiveSettings(**kwargs)


# ---------------------------------------------------------------- the driver
RATES = (0.0, 0.25, 0.5, 0.9, 1.0, 0.6)   # per-problem success rates of the replayed "model"


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory, data_dir) -> Path:
    """32 samples of each of the first six aime24 problems, right with a known rate, all of about the same cost."""
    task = load_task("aime24", data_dir)
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("replay") / "completions.jsonl"
    with path.open("w") as handle:
        for problem, rate in zip(task.selected[: len(RATES)], RATES):
            gold = task.adapter.reference_answer(problem)   # AIME answers are 0-999: 1000 is always wrong
            for index in range(32):
                answer = gold if rng.random() < rate else "The answer is $\\boxed{1000}$."
                handle.write(json.dumps({
                    "task": "aime24", "problem_id": problem.problem_id, "sample_index": index,
                    "completion": f"<think>\nwork\n</think>\n{answer}", "finish_reason": "stop",
                    "completion_tokens": 1000 + index}) + "\n")
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


def test_rounds_sample_the_uncertain_problems_more(adaptive_run):
    meta = read_run_meta(adaptive_run)
    rounds = meta["adaptive"]["rounds"]
    assert len(rounds) >= 2 and meta["adaptive"]["stopped"] in ("target", "max_n")
    per_problem: dict[str, list[int]] = {}
    for pid, index in records(adaptive_run):
        per_problem.setdefault(pid, []).append(index)
    for indices in per_problem.values():
        assert sorted(indices) == list(range(len(indices)))   # each problem: samples 0..n-1, none twice
    counts = [len(per_problem[pid]) for pid in sorted(per_problem, key=lambda p: list(records(adaptive_run)).index(
        (p, 0)))]
    by_rate = dict(zip(RATES, counts))
    assert by_rate[0.5] > by_rate[0.0] and by_rate[0.5] > by_rate[1.0]
    assert rounds[-1]["samples"] == sum(counts) == meta["samples_expected"]
    summary = json.loads((adaptive_run / "summary.json").read_text())["tasks"]["aime24"]
    assert isinstance(summary["samples_per_problem"], list)
    assert summary["accuracy"] == pytest.approx(np.mean([
        np.mean([r["correct"] for (p, _), r in records(adaptive_run).items() if p == pid]) for pid in per_problem]))


def test_the_report_says_the_samples_differ(adaptive_run):
    assert cli.main(["report", str(adaptive_run)]) == 0
    report = (adaptive_run / "report.md").read_text()
    assert "adaptive sampling" in report and "different numbers of samples" in report


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
        assert read_run_meta(out)["adaptive"]["rounds"] == read_run_meta(adaptive_run)["adaptive"]["rounds"]


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
    # Rounds are planned on expected costs (each problem's mean so far): they stop when no further sample fits.
    assert 30000 - 1100 <= spent <= 30000 * 1.05


def test_max_n_alone_is_an_error(tmp_path, capsys):
    assert cli.main(["run", "--backend", "reference", "--tasks", "aime24", "--max-n", "8",
                     "--out", str(tmp_path / "x")]) == 2
    assert "--max-n limits adaptive sampling" in capsys.readouterr().err
