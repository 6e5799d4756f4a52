"""Adaptive sampling against fixed n, by simulation: estimator bias, 95% coverage and tokens at the same half-width.

Each replication draws a task: per-problem success rates p_i and mean token costs c_i from a scenario, then samples
(Bernoulli(p_i) outcomes; per-sample tokens log-normal around c_i, sigma 0.6, capped at 32,768). The adaptive arm is
kateval's own planner (kateval.adaptive_plan.decide, the function `kateval run --target-ci` calls), thousands of
replications at once; its estimate is the mean over problems of each problem's weighted mean (round weights fixed
before the round's outcomes, see kateval/adaptive_plan.py) with the interval of metrics.weighted_sampling_interval.
"Plain mean" is the mean of per-problem plain means on the very same samples: what the first version reported.
"The truth" is the mean of the replication's own p_i (the accuracy on these problems, which the interval is about).

Fixed n: the same interval construction (metrics.sampling_interval: v_i at (c+1/2)/(n+1), problems held fixed) on
its own samples; its tokens at a half-width are interpolated between the two integer n around it (a fixed-n user can
split problems between n and n+1), which is the baseline's most favourable reading. Tokens are compared at the target
(what a user asking for +-H pays) and at the adaptive runs' realized mean half-width.

Bounds: "oracle" knows every p_i and c_i and allocates n_i ~ s_i / sqrt(c_i) with no first round, judged on the true
variance ((sum s_i sqrt(c_i))^2 / (sum s_i^2 sum c_i), s_i = sqrt(p_i (1 - p_i))); "honest oracle" knows every p_i
too but must meet the target on the interval kateval reports (the expected variance estimate, which does not take a
problem seen n/n as certain), against fixed n on the same criterion. No method reporting that interval beats it.

    .venv/bin/python benchmarks/bench_adaptive.py                       # make bench: 200 replications, +-2 points
    .venv/bin/python benchmarks/bench_adaptive.py --reps 1000 --targets 0.02,0.01   # the table in RESULTS.md
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kateval.adaptive import MAX_REOPENS, AdaptiveSettings
from kateval.adaptive_plan import Problems, after_round, decide, pilot_weight, variance_goal
from kateval.report.metrics import normal_quantile, problem_variances

MAX_TOKENS = 32768
TOKEN_SIGMA = 0.6
FIXED_SEED = 2024
Z = normal_quantile(0.95)


def aime_like(rng: np.random.Generator, shape: tuple[int, ...], exact: bool = False) -> np.ndarray:
    """A strong reasoning model on AIME: most problems solved in (nearly) every sample or in (nearly) none
    (45% and 20%), the rest anywhere in between. exact: the first two groups exactly 1 and 0."""
    kind = rng.choice(3, shape, p=[0.45, 0.20, 0.35])
    solved = np.ones(shape) if exact else rng.beta(30, 0.3, shape)
    unsolved = np.zeros(shape) if exact else rng.beta(0.3, 30, shape)
    return np.where(kind == 0, solved, np.where(kind == 1, unsolved, rng.beta(1.2, 1.2, shape)))


@dataclass(frozen=True)
class Scenario:
    name: str
    problems: int
    rates: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
    description: str
    cost_slope: float = 1.2     # log mean tokens rise by this per unit of (1 - p): unsolved problems run longer
    fixed: bool = False         # one draw of rates and costs held by every replication (a user's one problem set)

    def draw(self, rng: np.random.Generator, reps: int) -> tuple[np.ndarray, np.ndarray]:
        """Rates and mean token costs, replications x problems."""
        if self.fixed:
            own = np.random.default_rng(FIXED_SEED)
            rates = self.rates(own, (1, self.problems))
            return np.repeat(rates, reps, axis=0), np.repeat(mean_tokens(own, rates, self.cost_slope), reps, axis=0)
        rates = self.rates(rng, (reps, self.problems))
        return rates, mean_tokens(rng, rates, self.cost_slope)


SCENARIOS = {s.name: s for s in (
    Scenario("aime", 30, aime_like, "AIME-like, strong model: 45% near 1, 20% near 0, 35% Beta(1.2,1.2)"),
    Scenario("aime_exact", 30, lambda rng, shape: aime_like(rng, shape, exact=True),
             "as aime, the near-certain problems exactly 1 or 0"),
    Scenario("aime_p15", 15, aime_like, "as aime, 15 problems"),
    Scenario("lcb", 200, aime_like, "as aime, 200 problems (LiveCodeBench-sized)"),
    Scenario("aime_p400", 400, aime_like, "as aime, 400 problems"),
    Scenario("aime_cost_anti", 30, aime_like, "as aime, solved problems the longest", cost_slope=-1.2),
    Scenario("aime_cost_flat", 30, aime_like, "as aime, cost unrelated to difficulty", cost_slope=0.0),
    Scenario("uniform", 30, lambda rng, shape: rng.random(shape), "p uniform on [0, 1]"),
    Scenario("high", 30, lambda rng, shape: rng.beta(8, 1, shape), "Beta(8,1): most problems at 0.8-1.0"),
    Scenario("high_p100", 100, lambda rng, shape: rng.beta(8, 1, shape), "as high, 100 problems"),
    Scenario("low_p100", 100, lambda rng, shape: rng.beta(1, 8, shape), "Beta(1,8), 100 problems: mostly low"),
    Scenario("ushape", 30, lambda rng, shape: rng.beta(0.3, 0.3, shape), "Beta(0.3,0.3): U-shaped"),
    Scenario("nearone", 30, lambda rng, shape: rng.beta(30, 1, shape), "Beta(30,1): nearly all at 0.93-1"),
    Scenario("aime_fixed", 30, aime_like, "one aime draw held fixed (the truth is the same in every replication)",
             fixed=True),
    Scenario("high_fixed", 30, lambda rng, shape: rng.beta(8, 1, shape), "one high draw held fixed", fixed=True),
)}
QUICK = ("aime", "aime_exact", "lcb", "high", "high_p100", "low_p100", "uniform")


def mean_tokens(rng: np.random.Generator, rates: np.ndarray, slope: float) -> np.ndarray:
    """Per-problem mean completion tokens: log-normal around 5,000 x e^(slope (1/2 - p)) (sigma 0.5), capped."""
    return np.minimum(np.exp(rng.normal(np.log(5000) + slope * (0.5 - rates), 0.5)), MAX_TOKENS)


def draw(rng: np.random.Generator, rates: np.ndarray, costs: np.ndarray, counts: np.ndarray):
    """Correct samples and token sums of `counts` more samples of each problem."""
    correct = rng.binomial(counts, rates)
    width = int(counts.max(initial=0))
    if width == 0:
        return correct, np.zeros(rates.shape)
    per_sample = np.exp(rng.normal(np.log(costs)[:, None] - TOKEN_SIGMA ** 2 / 2, TOKEN_SIGMA, (rates.size, width)))
    taken = np.arange(width) < counts[:, None]
    return correct, (np.minimum(per_sample, MAX_TOKENS) * taken).sum(axis=1)


def simulate(rng: np.random.Generator, rates: np.ndarray, costs: np.ndarray, settings: AdaptiveSettings) -> dict:
    """One adaptive run per row of `rates` (replications x problems), all rows planned at once as separate tasks."""
    reps, size = rates.shape
    p, c = rates.ravel(), costs.ravel()
    task = np.repeat(np.arange(reps), size)
    first = np.full(p.size, settings.initial_n)
    correct, tokens = draw(rng, p, c, first)
    alpha = pilot_weight(settings.initial_n, settings.max_n, settings.target_ci, size, settings.level)
    state = Problems(task, first.astype(float), correct.astype(float), np.maximum(tokens / first, 1.0),
                     np.full(p.size, alpha ** 2 / settings.initial_n), np.full(p.size, 1.0 - alpha))
    estimate = alpha * correct / settings.initial_n
    goals = np.full(reps, variance_goal(settings.target_ci, settings.level))
    reopens, rounds, after_pilot = np.zeros(reps), np.ones(reps), True
    while True:
        decision = decide(state, goals, max_n=settings.max_n, growth=settings.growth, margin=settings.plan_margin,
                          room=np.inf, after_pilot=after_pilot, reopen=reopens < MAX_REOPENS)
        reopens += (decision.scale < 1) & ~after_pilot
        state, estimate, after_pilot = decision.problems, estimate * decision.scale[task], False
        if decision.plan is None:
            break
        plan = decision.plan
        new_correct, new_tokens = draw(rng, p, c, plan.step)
        estimate = estimate + np.where(plan.step > 0, plan.weight * new_correct / np.maximum(plan.step, 1), 0.0)
        tokens = tokens + new_tokens
        state = after_round(state, plan, new_correct)
        state = Problems(state.task, state.samples, state.correct, np.maximum(tokens / state.samples, 1.0),
                         state.spread, state.remaining)
        rounds += np.bincount(task, plan.step > 0, minlength=reps) > 0
    truth = rates.mean(axis=1)
    variance = problem_variances(state.correct, state.samples)
    weighted = _arm(estimate.reshape(reps, size).mean(axis=1), (variance * state.spread).reshape(reps, size), truth)
    plain = _arm((state.correct / state.samples).reshape(reps, size).mean(axis=1),
                 (variance / state.samples).reshape(reps, size), truth)
    return {"weighted": weighted, "plain": plain, "tokens": tokens.reshape(reps, size).sum(axis=1),
            "rounds": rounds, "reopened": reopens > 0}


def _arm(value: np.ndarray, variance: np.ndarray, truth: np.ndarray) -> dict:
    half = Z * np.sqrt(variance.sum(axis=1)) / variance.shape[1]
    return {"error": value - truth, "half": half, "covered": np.abs(value - truth) <= half}


def fixed_n(rng: np.random.Generator, rates: np.ndarray, max_n: int) -> np.ndarray:
    """Per n = 1..max_n: mean half-width and coverage of fixed n (nested samples: n+1 adds one to n)."""
    correct = np.zeros(rates.shape)
    rows = []
    for n in range(1, max_n + 1):
        correct += rng.random(rates.shape) < rates
        arm = _arm(correct.mean(axis=1) / n, problem_variances(correct, n) / n, rates.mean(axis=1))
        rows.append((arm["half"].mean(), arm["covered"].mean()))
    return np.array(rows)


def fixed_at(curve: np.ndarray, width: float) -> tuple[int, float, float]:
    """Fixed n at mean half-width `width`: the smallest integer n reaching it, the coverage there, and the fractional
    n interpolated between n - 1 and n in 1/width^2 (which grows like n): the most favourable reading of fixed n,
    as if problems were split between two sample counts."""
    reached = np.flatnonzero(curve[:, 0] <= width)
    if not reached.size:
        return 0, float("nan"), float("nan")
    k = int(reached[0])
    if k == 0:
        return 1, float(curve[0, 1]), 1.0
    low, high = 1 / curve[k - 1, 0] ** 2, 1 / curve[k, 0] ** 2
    return k + 1, float(curve[k, 1]), k + (1 / width ** 2 - low) / (high - low)


def oracle_ratio(rates: np.ndarray, costs: np.ndarray) -> float:
    spread = np.sqrt(rates * (1 - rates))
    return float(((spread * np.sqrt(costs)).sum(axis=1) ** 2).mean() / ((spread ** 2).sum(axis=1) * costs.sum(axis=1)).mean())


def honest_oracle_ratio(rates: np.ndarray, costs: np.ndarray, target: float, max_n: int) -> float:
    """Tokens of the cheapest n_i (knowing every p_i) whose EXPECTED reported variance meets the target, over fixed
    n's on the same criterion. The expected estimate E[v(S, n)] / n of S ~ Bin(n, p), v = r(1-r), r = (S+1/2)/(n+1)."""
    ns = np.arange(1, max_n + 1, dtype=float)
    mean = (ns * rates[..., None] + 0.5) / (ns + 1)
    expected = (mean * (1 - mean) - ns * rates[..., None] * (1 - rates[..., None]) / (ns + 1) ** 2) / ns
    goal = variance_goal(target) * rates.shape[1] ** 2
    spend = costs[..., None] * ns
    low, high = np.full(rates.shape[0], -60.0), np.full(rates.shape[0], 60.0)
    for _ in range(60):                      # price per unit of variance, per replication, by bisection
        middle = (low + high) / 2
        pick = np.argmin(spend + np.exp(middle)[:, None, None] * expected, axis=-1)
        meets = np.take_along_axis(expected, pick[..., None], -1)[..., 0].sum(axis=1) <= goal
        low, high = np.where(meets, low, middle), np.where(meets, middle, high)
    pick = np.argmin(spend + np.exp(high)[:, None, None] * expected, axis=-1)
    adaptive = np.take_along_axis(spend, pick[..., None], -1)[..., 0].sum(axis=1)
    totals = expected.sum(axis=1)                                      # replications x n, decreasing in n
    fixed = np.array([np.interp(goal, row[::-1], ns[::-1]) for row in totals]) * costs.sum(axis=1)
    return float(adaptive.mean() / fixed.mean())


def run(scenario: Scenario, target: float, reps: int, seed: int, initial_n: int) -> dict:
    max_n = 64 if target >= 0.02 else 256
    settings = AdaptiveSettings(target_ci=target, max_n=max_n, initial_n=initial_n)
    rng = np.random.default_rng(seed)
    rates, costs = scenario.draw(rng, reps)
    result = simulate(rng, rates, costs, settings)
    curve = fixed_n(np.random.default_rng(seed + 1), rates, max_n)
    weighted, plain = result["weighted"], result["plain"]
    width = weighted["half"].mean()
    per_sample = costs.sum(axis=1).mean()
    n_target, coverage_target, fraction_target = fixed_at(curve, target)
    _, _, fraction_width = fixed_at(curve, width)
    return {
        "scenario": scenario.name, "problems": scenario.problems, "target": target, "reps": reps,
        "coverage": weighted["covered"].mean(), "bias": weighted["error"].mean(), "bias_se": _se(weighted["error"]),
        "width": width, "rounds": result["rounds"].mean(), "reopened": result["reopened"].mean(),
        "plain_coverage": plain["covered"].mean(), "plain_bias": plain["error"].mean(), "plain_se": _se(plain["error"]),
        "fixed_n": n_target, "fixed_coverage": coverage_target,
        "ratio_target": result["tokens"].mean() / (n_target * per_sample),
        "ratio_fraction": result["tokens"].mean() / (fraction_target * per_sample),
        "ratio_width": result["tokens"].mean() / (fraction_width * per_sample),
        "oracle": oracle_ratio(rates, costs), "honest_oracle": honest_oracle_ratio(rates, costs, target, max_n)}


def _se(errors: np.ndarray) -> float:
    return float(errors.std(ddof=1) / np.sqrt(errors.size))


def table(rows: list[dict]) -> str:
    header = ("| scenario | P | H | adaptive: coverage, bias (+- MC s.e.), half-width, rounds | plain mean, same "
              "samples: coverage, bias | fixed n reaching H: n, coverage | tokens / fixed n's: at H (n; fractional "
              "n), at adaptive's half-width | honest oracle | oracle |")
    lines = [header, "|---|---:|---:|---|---|---|---|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['problems']} | {r['target']} | {r['coverage']:.3f}, {r['bias']:+.4f} "
            f"(+-{r['bias_se']:.4f}), {r['width']:.4f}, {r['rounds']:.1f} | {r['plain_coverage']:.3f}, "
            f"{r['plain_bias']:+.4f} (+-{r['plain_se']:.4f}) | {r['fixed_n']}, {r['fixed_coverage']:.3f} | "
            f"{r['ratio_target']:.3f}; {r['ratio_fraction']:.3f}, {r['ratio_width']:.3f} | {r['honest_oracle']:.3f} "
            f"| {r['oracle']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="replications per row (default 200; RESULTS.md: 1000)")
    parser.add_argument("--scenarios", default=",".join(QUICK), help=f"comma-separated, of: {', '.join(SCENARIOS)}; "
                        "or 'all'")
    parser.add_argument("--targets", default="0.02")
    parser.add_argument("--initial-n", type=int, default=2, help="the first round (kateval run's --n)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    for name in names:
        print(f"{name}: {SCENARIOS[name].description}")
    rows = []
    for target in (float(t) for t in args.targets.split(",")):
        for name in names:
            started = time.monotonic()
            rows.append(run(SCENARIOS[name], target, args.reps, args.seed, args.initial_n))
            print(f"  {name} at +-{target}: {args.reps} replications in {time.monotonic() - started:.0f} s", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
