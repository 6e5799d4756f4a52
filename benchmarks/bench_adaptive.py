"""Adaptive sampling against fixed n, by simulation: estimator bias, 95% coverage and tokens at the same half-width.

Each replication draws a task: per-problem success rates p_i and mean token costs from a scenario's distribution,
then 256 samples per problem (Bernoulli(p_i) outcomes, long-tailed token counts capped at 32,768). The adaptive
run is kateval's own planner (kateval.adaptive.plan_round) fed those samples round by round; fixed n takes the
first n samples of every problem. Both report the same estimator (the mean over problems of each problem's mean)
and the same interval (kateval.report.metrics.sampling_interval), and "the truth" is the mean of the replication's
own p_i (the accuracy on these problems, the quantity the interval is about). Fixed n is the smallest n whose mean
half-width is at most the adaptive runs' mean half-width; both arms see the same samples (common random numbers).

Also printed: the oracle bound, the token ratio of the best allocation knowing every p_i and cost exactly
((sum s_i sqrt(c_i))^2 / (sum s_i^2 sum c_i), s_i = sqrt(p_i (1 - p_i)), no pilot round): no allocation rule,
adaptive or not, gets under it on that distribution.

    .venv/bin/python benchmarks/bench_adaptive.py [--reps 1000] [--scenarios aime,aime_exact,...] [--quick]
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kateval.adaptive import AdaptiveSettings, Tally, plan_round
from kateval.report.metrics import sampling_interval

MAX_TOKENS = 32768
POOL = 256   # samples drawn per problem; enough for every arm


def aime_like(rng: np.random.Generator, size: int, exact: bool = False) -> np.ndarray:
    """A strong reasoning model on AIME: most problems solved in (nearly) every sample or in (nearly) none
    (45% and 20%), the rest anywhere in between. exact: the first two groups exactly 1 and 0."""
    kind = rng.choice(3, size, p=[0.45, 0.20, 0.35])
    solved = np.ones(size) if exact else rng.beta(30, 0.3, size)
    unsolved = np.zeros(size) if exact else rng.beta(0.3, 30, size)
    return np.where(kind == 0, solved, np.where(kind == 1, unsolved, rng.beta(1.2, 1.2, size)))


@dataclass(frozen=True)
class Scenario:
    name: str
    problems: int
    rates: Callable[[np.random.Generator, int], np.ndarray]
    description: str


SCENARIOS = {s.name: s for s in (
    Scenario("aime", 30, aime_like, "AIME-like, strong model: 45% near 1, 20% near 0, 35% Beta(1.2,1.2)"),
    Scenario("aime_exact", 30, lambda rng, size: aime_like(rng, size, exact=True),
             "as aime, the near-certain problems exactly 1 or 0"),
    Scenario("lcb", 200, aime_like, "as aime, 200 problems (LiveCodeBench-sized)"),
    Scenario("uniform", 30, lambda rng, size: rng.random(size), "p uniform on [0, 1]"),
    Scenario("high", 30, lambda rng, size: rng.beta(8, 1, size),
             "Beta(8,1): most problems at 0.8-1.0 (a strong model on an easy benchmark)"),
)}


def mean_tokens(rng: np.random.Generator, rates: np.ndarray) -> np.ndarray:
    """Per-problem mean completion tokens: log-normal around 5,000 x e^(1.2 (1 - p) - 0.6), so a problem the model
    never solves runs ~3.3 times as long as one it always solves; capped at the limit."""
    return np.minimum(np.exp(rng.normal(np.log(5000) + 1.2 * (1 - rates) - 0.6, 0.5)), MAX_TOKENS)


def replicate(rng: np.random.Generator, scenario: Scenario, settings: AdaptiveSettings) -> dict:
    p = scenario.rates(rng, scenario.problems)
    costs = mean_tokens(rng, p)
    outcomes = np.cumsum(rng.random((p.size, POOL)) < p[:, None], axis=1)
    tokens = np.cumsum(np.minimum(np.exp(rng.normal(np.log(costs)[:, None], 0.6, (p.size, POOL))), MAX_TOKENS),
                       axis=1)
    rows = np.arange(p.size)
    n = np.full(p.size, settings.initial_n)
    rounds = 0
    while True:
        rounds += 1
        correct, spent = outcomes[rows, n - 1], tokens[rows, n - 1]
        plan = plan_round([Tally("t", str(i), int(n[i]), int(correct[i]), float(spent[i] / n[i]))
                           for i in range(p.size)], settings, float(spent.sum()))
        if plan.stop:
            break
        n = np.array([plan.targets[("t", str(i))] for i in range(p.size)])
    truth = float(p.mean())
    adaptive = _arm(correct, n, truth) + (float(spent.sum()), rounds)
    fixed = np.array([_arm(outcomes[:, k - 1], np.full(p.size, k), truth) + (float(tokens[:, k - 1].sum()), 1)
                      for k in range(1, settings.max_n + 1)])
    spread = np.sqrt(p * (1 - p))
    oracle = (float((spread * np.sqrt(costs)).sum() ** 2), float((spread ** 2).sum() * costs.sum()))
    return {"adaptive": adaptive, "fixed": fixed, "oracle": oracle}


def _arm(correct: np.ndarray, samples: np.ndarray, truth: float) -> tuple[float, float, float]:
    estimate = sampling_interval(correct, samples)
    low, high = estimate.interval
    return estimate.value - truth, high - estimate.value, float(low <= truth <= high)


def run(scenario: Scenario, target: float, max_n: int, reps: int, seed: int) -> dict:
    settings = AdaptiveSettings(target_ci=target, max_n=max_n, initial_n=4)
    rng = np.random.default_rng(seed)
    results = [replicate(rng, scenario, settings) for _ in range(reps)]
    adaptive = np.array([r["adaptive"] for r in results])                  # bias, half-width, covered, tokens, rounds
    fixed = np.array([r["fixed"] for r in results])                        # reps x n x same
    oracle = np.array([r["oracle"] for r in results])
    width = adaptive[:, 1].mean()
    k = next((k for k in range(max_n) if fixed[:, k, 1].mean() <= width), max_n - 1)
    return {"scenario": scenario.name, "problems": scenario.problems, "target": target, "reps": reps,
            "bias": adaptive[:, 0].mean(), "bias_se": adaptive[:, 0].std(ddof=1) / np.sqrt(reps),
            "width": width, "coverage": adaptive[:, 2].mean(), "tokens": adaptive[:, 3].mean(),
            "rounds": adaptive[:, 4].mean(), "fixed_n": k + 1, "fixed_width": fixed[:, k, 1].mean(),
            "fixed_coverage": fixed[:, k, 2].mean(), "fixed_bias": fixed[:, k, 0].mean(),
            "fixed_bias_se": fixed[:, k, 0].std(ddof=1) / np.sqrt(reps), "fixed_tokens": fixed[:, k, 3].mean(),
            "oracle": oracle[:, 0].mean() / oracle[:, 1].mean()}


def table(rows: list[dict]) -> str:
    header = ("| scenario | P | target | adaptive: half-width, coverage, bias (+- MC s.e.), rounds | fixed n at that "
              "half-width: n, coverage, bias | tokens adaptive / fixed | oracle bound |")
    lines = [header, "|---|---:|---:|---|---|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['problems']} | {r['target']} | {r['width']:.4f}, {r['coverage']:.3f}, "
            f"{r['bias']:+.4f} (+-{r['bias_se']:.4f}), {r['rounds']:.1f} | {r['fixed_n']}, "
            f"{r['fixed_coverage']:.3f}, {r['fixed_bias']:+.4f} (+-{r['fixed_bias_se']:.4f}) | "
            f"{r['tokens'] / r['fixed_tokens']:.3f} | {r['oracle']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=300, help="replications per row (the lcb rows use a third)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--targets", default="0.02,0.01")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="60 replications, target 0.02 only (make bench)")
    args = parser.parse_args()
    reps, targets = (60, [0.02]) if args.quick else (args.reps, [float(t) for t in args.targets.split(",")])
    for name in args.scenarios.split(","):
        print(f"{name}: {SCENARIOS[name].description}")
    rows = []
    for target in targets:
        for name in args.scenarios.split(","):
            scenario = SCENARIOS[name]
            started = time.monotonic()
            count = max(reps // 3, 20) if scenario.problems > 100 else reps
            rows.append(run(scenario, target, 64 if target >= 0.02 else 256, count, args.seed))
            print(f"  {name} target {target}: {count} replications in {time.monotonic() - started:.0f} s", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
