"""Pure metric functions over per-problem and per-sample arrays. No I/O, no run-store knowledge."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
MULTINOMIAL_MAX_UNITS = 256       # distinct units below which resamples are drawn as multinomial counts
RESAMPLE_CHUNK_CELLS = 1 << 22
LOG_BINS_SPAN = 50
DIFFICULTY_WORDS = {"easy": 0, "medium": 1, "hard": 2}


@dataclass(frozen=True)
class Estimate:
    """A mean over problems and its percentile-bootstrap interval (None when there is no problem)."""
    value: float | None
    interval: list[float] | None
    problems: int


def problem_mean(per_problem: Sequence[float] | np.ndarray) -> float | None:
    """The plain mean of per-problem values; the one arithmetic path behind accuracy and pass@1, so the two
    are the same float and print the same."""
    values = np.asarray(per_problem, dtype=float)
    return float(values.mean()) if values.size else None


def mean_over_problems(per_problem: Sequence[float] | np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> Estimate:
    """THE estimator behind every accuracy kateval prints (report, compare, leaderboard, audit, adaptive rounds):
    each problem weighs the same whatever its number of samples (a resumed, partial, merged or adaptive run
    gives problems different counts), and the bootstrap resamples problems, the same units as the mean.
    For a paired comparison pass the per-problem differences."""
    values = np.asarray(per_problem, dtype=float)
    return Estimate(problem_mean(values), bootstrap_ratio_ci(values, resamples=resamples, seed=seed, level=level),
                    int(values.size))


def accuracy_estimate(correct: Sequence[int] | np.ndarray, samples: Sequence[int] | np.ndarray,
                      resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                      level: float = 0.95) -> Estimate:
    """Accuracy from per-problem counts: the mean over problems of correct_i / samples_i, with its CI. An adaptive
    run passes weighted sums instead (weighted_i / weight_i, see `weighted_sampling_interval`)."""
    return mean_over_problems(per_problem_rates(correct, samples), resamples, seed, level)


def problem_variances(correct: Sequence[int] | np.ndarray, samples: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each problem's Bernoulli variance p(1-p), estimated at p = (correct + 1/2) / (samples + 1): half a success and
    half a failure added, so a problem seen 0/n or n/n keeps a small variance (~1/(2n)) instead of a certain 0, as
    a few samples cannot show that a rate is exactly 0 or 1."""
    rate = (np.asarray(correct, dtype=float) + 0.5) / (np.asarray(samples, dtype=float) + 1.0)
    return rate * (1.0 - rate)


def sampling_interval(correct: Sequence[int] | np.ndarray, samples: Sequence[int] | np.ndarray,
                      level: float = 0.95) -> Estimate:
    """The accuracy (the same mean over problems as `accuracy_estimate`) with the interval of its SAMPLING
    uncertainty, the problems held fixed: var = sum_i v_i / n_i / P^2 (v_i from `problem_variances`), normal.

    It answers "how exactly do the samples pin down the accuracy on THESE problems", which more samples shrink. The
    bootstrap interval of `accuracy_estimate` answers "how would it vary over other problems of the kind": it is
    floored by the spread of per-problem rates, and no number of samples shrinks it."""
    return weighted_sampling_interval(correct, samples, correct, samples, samples, level)


def weighted_sampling_interval(correct: Sequence[int] | np.ndarray, samples: Sequence[int] | np.ndarray,
                               weighted: Sequence[float] | np.ndarray, weight: Sequence[float] | np.ndarray,
                               weight_sq: Sequence[float] | np.ndarray, level: float = 0.95) -> Estimate:
    """`sampling_interval` for per-problem WEIGHTED means (adaptive runs): problem i's estimate is weighted_i /
    weight_i (sum over its samples of u_j x_j, and of u_j), its variance v_i / k_i with v_i from `problem_variances`
    on its counts and k_i = weight_i^2 / weight_sq_i its effective number of samples (Kish: n for equal weights, so
    weights all 1 give `sampling_interval`). Why weights: kateval.adaptive_plan."""
    weight = np.asarray(weight, dtype=float)
    if weight.size == 0:
        return Estimate(None, None, 0)
    value = problem_mean(per_problem_rates(weighted, weight))
    spread = np.asarray(weight_sq, dtype=float) / weight ** 2
    variance = float((problem_variances(correct, samples) * spread).sum()) / weight.size ** 2
    half = normal_quantile(level) * math.sqrt(variance)
    return Estimate(value, [value - half, value + half], int(weight.size))


def normal_quantile(level: float) -> float:
    """z such that a standard normal lies within +-z with probability `level` (1.96 for 0.95)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def per_problem_rates(correct: Sequence[int] | np.ndarray, samples: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(correct, dtype=float) / np.asarray(samples, dtype=float)


def problem_weighted_mean(values: np.ndarray, problem_index: np.ndarray,
                          sample_weights: np.ndarray | None = None) -> float | None:
    """Mean over problems of the per-problem mean of a per-sample quantity (`problem_index[i]`: the problem of
    sample i, 0..P-1): a per-sample rate weighted like accuracy. `sample_weights`: each sample's weight within its
    problem (an adaptive run's, see `weighted_sampling_interval`); None: all alike."""
    if values.size == 0:
        return None
    weights = np.ones(values.size) if sample_weights is None else np.asarray(sample_weights, dtype=float)
    totals = np.bincount(problem_index, weights=weights)
    present = totals > 0
    sums = np.bincount(problem_index, weights=values.astype(float) * weights, minlength=totals.size)
    return problem_mean(sums[present] / totals[present])


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with n samples, c correct (Chen et al. 2021), in the stable product form
    of 1 - C(n-c, k) / C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n (n={n})")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_ks(n: int) -> list[int]:
    """k = 1 and the powers of two up to n."""
    return [1 << i for i in range(n.bit_length()) if 1 << i <= n]


def mean_pass_at_k(samples: Sequence[int], correct: Sequence[int], k: int) -> float:
    """Mean over problems; computed once per distinct (n, c), of which there are few however many problems.
    pass@1 is the accuracy itself, computed by the same path (`problem_mean`) so the two never differ."""
    if k == 1:
        return problem_mean(per_problem_rates(correct, samples))  # type: ignore[return-value]
    pairs = Counter(zip(samples, correct))
    return sum(count * pass_at_k(int(n), int(c), k) for (n, c), count in pairs.items()) / len(samples)


def bootstrap_ratio_ci(numerators: Sequence[float], denominators: Sequence[float] | None = None,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                       level: float = 0.95) -> list[float] | None:
    """Percentile CI of sum(num)/sum(den) when the units (problems) are resampled with replacement."""
    num = np.asarray(numerators, dtype=float)
    den = np.ones_like(num) if denominators is None else np.asarray(denominators, dtype=float)
    if num.size == 0:
        return None
    rng = np.random.default_rng(seed)
    units, counts = np.unique(np.stack([num, den], axis=1), axis=0, return_counts=True)
    if len(units) <= MULTINOMIAL_MAX_UNITS:
        # Identical units pooled, each resample drawn as multinomial counts over the distinct ones: the same
        # distribution as resampling units one by one, at a cost set by the few distinct values (0..n correct).
        draws = rng.multinomial(num.size, counts / num.size, size=resamples).astype(float)
        stats = (draws @ units[:, 0]) / (draws @ units[:, 1])
    else:
        stats = np.concatenate(list(_index_resamples(num, den, resamples, rng)))
    tail = (1.0 - level) / 2
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return [float(low), float(high)]


def _index_resamples(num: np.ndarray, den: np.ndarray, resamples: int, rng: np.random.Generator):
    """Resampled indices, a chunk of resamples at a time so memory stays near RESAMPLE_CHUNK_CELLS indices."""
    chunk = max(1, RESAMPLE_CHUNK_CELLS // num.size)
    for start in range(0, resamples, chunk):
        picks = rng.integers(0, num.size, size=(min(chunk, resamples - start), num.size))
        yield num[picks].sum(axis=1) / den[picks].sum(axis=1)


def binomial_two_sided(successes: int, failures: int) -> float:
    """Exact two-sided binomial test at p = 1/2: McNemar's exact test on discordant pairs, or the sign test on
    non-zero paired differences. p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2)."""
    trials = successes + failures
    if trials == 0:
        return 1.0
    low = min(successes, failures)
    log_half = trials * math.log(0.5)
    terms = [math.lgamma(trials + 1) - math.lgamma(i + 1) - math.lgamma(trials - i + 1) + log_half
             for i in range(low + 1)]
    top = max(terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in terms)
    return min(1.0, 2.0 * tail)


def majority_correct(votes: dict[Hashable, tuple[int, bool]]) -> float:
    """maj@n of one problem from {answer: (count, correct)}, the answers already normalized (equal answers under
    one key). A tie between top answers is scored as the share of correct answers among them (the expected score
    of a random tie-break), so the result does not hang on order: a 2-2 tie of the right answer with a wrong one
    scores 0.5. Samples without an answer do not vote; a problem where none answered scores 0."""
    if not votes:
        return 0.0
    top = max(count for count, _ in votes.values())
    tied = [correct for count, correct in votes.values() if count == top]
    return sum(tied) / len(tied)


def token_stats(tokens: np.ndarray) -> dict[str, float | None]:
    """Mean, median, 90th percentile (linear interpolation) and max of the known token counts."""
    if tokens.size == 0:
        return {"mean": None, "median": None, "p90": None, "max": None}
    return {"mean": float(tokens.mean()), "median": float(np.median(tokens)),
            "p90": float(np.percentile(tokens, 90)), "max": int(tokens.max())}


def budget_grid(tokens: np.ndarray, correct: np.ndarray, max_tokens: int | None = None) -> list[int]:
    """Powers of two from the largest one at or below the shortest correct sample (where the curve leaves zero)
    to the first one at or above the longest sample, plus the run's max_tokens when it lies inside that range."""
    if tokens.size == 0:
        return []
    longest = int(tokens.max())
    solved = tokens[correct.astype(bool)]
    start = int(solved.min()) if solved.size else longest
    low = 1 << max(start, 1).bit_length() - 1
    high = 1 << max(longest - 1, 0).bit_length()
    grid = [low << i for i in range((high // low).bit_length())]
    if max_tokens is not None and low < max_tokens < high:
        grid = sorted({*grid, max_tokens})
    return grid


def budget_curve(tokens: np.ndarray, correct: np.ndarray, budgets: Iterable[int],
                 problem_index: np.ndarray | None = None, sample_weights: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy when every sample longer than B tokens counts as wrong, for each budget B; weighted like accuracy
    (mean over problems, `sample_weights` within them) when `problem_index` gives each sample's problem, so the
    last budget meets the accuracy."""
    if not tokens.size:
        return {}
    if problem_index is not None:
        solved = correct.astype(bool)
        return {str(b): problem_weighted_mean(solved & (tokens <= b), problem_index, sample_weights)
                for b in budgets}
    solved_lengths = np.sort(tokens[correct.astype(bool)])
    return {str(b): float(np.searchsorted(solved_lengths, b, side="right") / tokens.size) for b in budgets}


def histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(values, bins=edges)[0].tolist()


def histogram_edges(values: np.ndarray, bins: int = 30) -> np.ndarray:
    """Log-spaced when lengths span more than LOG_BINS_SPAN (answer-only next to long thinking), else linear."""
    low = max(float(values.min()), 1.0) if values.size else 1.0
    high = max(float(values.max()), low + 1.0) if values.size else 2.0
    if high / low > LOG_BINS_SPAN:
        return np.geomspace(low, high, bins + 1)
    return np.linspace(0.0, high, bins + 1)


def safe_ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def difficulty_order(label: str) -> tuple[int, float, str]:
    """Sort key of difficulty labels: easy < medium < hard (any case), then numbers by value (AIME problem
    numbers), then anything else by name."""
    word = DIFFICULTY_WORDS.get(label.lower())
    if word is not None:
        return (0, word, label)
    try:
        return (1, float(label), label)
    except ValueError:
        return (2, 0.0, label)
