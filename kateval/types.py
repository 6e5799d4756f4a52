"""The typed records that flow through the pipeline, one direction only:

    task -> Request -> backend -> Completion -> ParsedOutput -> Grade -> SampleRecord (store) -> report

Every stage takes and returns these dataclasses; no stage imports a later one.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Mode = Literal["on", "off", "none"]
SegmentKind = Literal["judge", "think", "answer", "other"]
SEGMENT_KINDS: tuple[SegmentKind, ...] = ("judge", "think", "answer", "other")

# Grade statuses. Math tasks use correct/wrong_answer/no_answer; code tasks the execution ones.
STATUSES = (
    "correct", "passed", "wrong_answer", "no_answer", "runtime_error", "timeout", "memory",
    "no_code", "truncated", "sandbox_error",
)


class KatevalError(Exception):
    """A user-facing problem (bad flag, missing data, malformed file): printed as one line, no traceback."""


# ---------------------------------------------------------------- task side
@dataclass(frozen=True)
class Problem:
    task: str
    problem_id: str
    fields: dict[str, Any]             # task-specific row (statement, tests, gold answer, ...)
    difficulty: str | None = None      # "easy"/"medium"/"hard", AIME problem number, ...


@dataclass(frozen=True)
class Prompt:
    """Chat messages for instruct/reasoning models, or raw text for base models (exactly one is set)."""
    messages: tuple[dict[str, str], ...] | None = None
    text: str | None = None


@dataclass(frozen=True)
class SamplingConfig:
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = -1
    min_p: float = 0.0
    max_tokens: int = 32768
    seed: int = 0
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """One prompt; the backend returns the samples listed in sample_indices (all n share one seed)."""
    task: str
    problem_id: str
    prompt: Prompt
    seed: int
    sample_indices: tuple[int, ...]
    reference_answer: str | None = None   # gold answer text, used only by the `reference` backend
    # Per-request overrides of the backend's settings, so that differently configured requests share one engine
    # queue (a sweep's cells): None keeps the backend's own mode / `thinking_budget` option.
    mode: str | None = None               # auto | on | off
    thinking_budget: int | None = None    # most thinking tokens; a longer thought is closed with a forced end tag


# ---------------------------------------------------------------- backend side
@dataclass(frozen=True)
class Completion:
    task: str
    problem_id: str
    sample_index: int
    text: str                          # generated text, special tokens kept
    token_ids: tuple[int, ...] | None  # generated ids (None when the source had text only)
    finish_reason: str | None          # "stop" | "length" | None when unknown
    prefix: str = ""                   # assistant-turn text already in the prompt (e.g. "<judge>\n", a forced prefill)
    stop_reason: str | int | None = None
    prompt_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    completion_tokens: int | None = None   # only when token_ids is None but the source gave a count
    extra: dict[str, Any] = field(default_factory=dict)
    # What the backend applied for this sample (the request's overrides resolved against its own settings).
    requested_mode: str | None = None
    thinking_budget: int | None = None
    think_budget_hit: bool | None = None   # the budget ended a thought (None: unknown, e.g. no token ids)


class TokenDecoder(Protocol):
    def decode(self, ids: Sequence[int]) -> str: ...


# ---------------------------------------------------------------- parse side
@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    start: int   # char offsets into Completion.text
    end: int


@dataclass(frozen=True)
class ParsedOutput:
    mode: Mode
    well_formed: bool
    answer_started: bool
    segments: tuple[Segment, ...]   # cover the completion text, in order, no gaps
    judge: str                      # inner texts, tags removed
    think: str
    answer: str
    answer_closed: bool = False     # the answer ended with its closing tag (</answer>), so a length cut spared it


@dataclass(frozen=True)
class TokenCounts:
    prompt_tokens: int | None
    completion_tokens: int | None
    judge_tokens: int | None
    think_tokens: int | None
    answer_tokens: int | None
    other_tokens: int | None


# ---------------------------------------------------------------- grade side
@dataclass(frozen=True)
class Grade:
    correct: bool
    status: str                     # one of STATUSES
    extracted_answer: str | None    # the answer or code the grader judged
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- execution (code tasks)
@dataclass(frozen=True)
class ExecLimits:
    timeout_per_test_s: float = 6.0
    timeout_total_s: float = 60.0
    memory_mb: int = 2048
    output_bytes: int = 1 << 20


@dataclass(frozen=True)
class ExecJob:
    """A program and its tests. The executor only runs; comparing outputs is the task adapter's job,
    done in the trusted parent on plain data.

    kind="script": `code` then each entry of `tests` (Python statements, e.g. asserts) in one namespace;
                   a test is ok only if it finished (the executor proves completion, not the exit code).
    kind="call":   `code`, then `entry_point(*args)` for each args tuple in `tests`; the return value comes
                   back as plain data (None/bool/int/float/complex/str/bytes/list/tuple/dict/set, exact types).
                   entry_point "Solution.method" instantiates Solution first (LeetCode style).
    kind="stdio":  `code` as __main__ with each string of `tests` on stdin; stdout comes back as text.
    """
    kind: Literal["script", "call", "stdio"]
    code: str
    tests: tuple[Any, ...]
    entry_point: str | None = None
    limits: ExecLimits = ExecLimits()
    stop_on_failure: bool = True


@dataclass(frozen=True)
class TestOutcome:
    status: Literal["ok", "error", "timeout", "memory", "output_limit"]
    value: Any = None          # call: returned plain data; stdio: stdout text; script: None
    error: str | None = None   # exception type and message, or why it was stopped


@dataclass(frozen=True)
class ExecResult:
    status: Literal["completed", "runtime_error", "timeout", "memory", "sandbox_error"]
    tests: tuple[TestOutcome, ...]   # in order; may be shorter than the job's tests when it stopped early
    error: str | None = None         # e.g. the code failed to import, or the sandbox failed
    wall_s: float = 0.0


class Executor(Protocol):
    def run(self, jobs: Sequence[ExecJob]) -> list[ExecResult]: ...
    def describe(self) -> dict[str, Any]: ...   # isolation used and limits, recorded in run.json
    def close(self) -> None: ...


# ---------------------------------------------------------------- store side
@dataclass
class SampleRecord:
    """One line of samples.jsonl. Field names are a public contract: add, never rename."""
    task: str
    problem_id: str
    sample_index: int
    mode: Mode
    well_formed: bool
    finish_reason: str | None
    truncated: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    judge_tokens: int | None
    think_tokens: int | None
    answer_tokens: int | None
    other_tokens: int | None
    extracted_answer: str | None
    correct: bool
    status: str
    completion: str
    difficulty: str | None = None
    prefix: str = ""
    stop_reason: str | int | None = None
    cached_prompt_tokens: int | None = None
    grade_details: dict[str, Any] = field(default_factory=dict)
    thinking_budget: int | None = None     # thinking tokens allowed (None: no budget)
    think_budget_hit: bool | None = False  # the budget cut the thought (a forced end tag, counted as think)
    # the parse the grade was made from: [kind, start, end] over `completion`, in order (what the browser marks)
    segments: list[list[Any]] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)
