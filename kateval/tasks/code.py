"""The shape every code task shares: take the program from the answer segment, build one execution job per
sample, hand a whole batch to the executor at once (its workers run in parallel), then judge each result in
the trusted parent. Adapters say how a program is assembled, what job tests it, and how outcomes are judged.

Time limits are calibrated per problem from the data's reference solution (kateval.tasks.reference): a program
gets a multiple of the CPU time the reference takes on the same tests, so a looping program costs little and a
reference-speed right one is never cut off. Tasks without references use the executor's (the user's) limits."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Any

from kateval.codegrade import extract_code
from kateval.parse import TAG_RE
from kateval.tasks.base import TaskAdapter
from kateval.tasks.reference import Calibration, ReferenceCache, caching_allowed, source_key
from kateval.types import (
    Completion,
    ExecJob,
    ExecLimits,
    ExecResult,
    Executor,
    Grade,
    KatevalError,
    ParsedOutput,
    Problem,
)


@dataclass(frozen=True)
class Plan:
    """What to do with one sample: run `job` on `program`, or nothing when `grade` is already known."""
    program: str | None
    job: ExecJob | None = None
    grade: Grade | None = None


def raw_answer(parsed: ParsedOutput, completion: Completion) -> str:
    """The answer segment as generated (tags removed, indentation kept: a completion may continue a function
    body, whose first line the parser's stripped `answer` would lose)."""
    pieces = [completion.text[s.start:s.end] for s in parsed.segments if s.kind == "answer"]
    return TAG_RE.sub("", "".join(pieces)) if pieces else parsed.answer


def _reference_run(cached: Any) -> ReferenceRun | None:
    if type(cached) is not dict or type(cached.get("cpu_s")) is not list:
        return None
    expected, plan = cached.get("expected"), cached.get("plan")
    plan = tuple(plan) if type(plan) is list and all(type(call) is str for call in plan) else None
    return ReferenceRun(tuple(float(x) for x in cached["cpu_s"]), float(cached.get("total_cpu_s") or 0.0),
                        None if expected is None else tuple(expected), plan)


def _plan(recorded: ExecResult) -> tuple[str, ...] | None:
    """The calls a trusted run of the reference recorded (the same in each outcome), when all its tests passed."""
    if recorded.status != "completed" or not recorded.tests or any(t.status != "ok" for t in recorded.tests):
        return None
    plan = recorded.tests[0].value
    return tuple(plan) if type(plan) in (list, tuple) and all(type(call) is str for call in plan) else None


def executor_limits(executor: Executor) -> ExecLimits:
    """The limits the executor applies to jobs that set none (the user's), read from its description."""
    described = executor.describe().get("limits") or {}
    return ExecLimits(**{k: v for k, v in described.items() if k in ExecLimits.__dataclass_fields__})


# Generous limits for running a reference solution once (its own time is what is being measured).
REFERENCE_LIMITS = ExecLimits(timeout_per_test_s=120.0, timeout_total_s=1200.0, memory_mb=8192,
                              output_bytes=256 << 20)
CALIBRATION = Calibration()


@dataclass(frozen=True)
class ReferenceRun:
    """What the reference solution did on a problem's tests."""
    cpu_s: tuple[float, ...]       # per test
    total_cpu_s: float
    expected: tuple[Any, ...] | None = None   # its return values, where the task compares against them
    plan: tuple[str, ...] | None = None       # check jobs: the calls its tests made of it (ExecJob.plan)


class CodeAdapter(TaskAdapter):
    needs_executor = True
    calibration = CALIBRATION

    def __init__(self, card):
        super().__init__(card)
        self._references: dict[str, ReferenceRun | None] = {}   # problem id -> its reference run (None: failed)
        self._user_limits = ExecLimits()
        self.applied_limits: dict[str, tuple[float, float]] = {}  # problem id -> (per test, per job) CPU s

    # -- what each task says
    def program(self, problem: Problem, code: str, fenced: bool) -> str:
        """The program to run, from the extracted code (e.g. a completion appended to its prompt)."""
        return code

    @abstractmethod
    def job(self, problem: Problem, program: str) -> ExecJob:
        """The execution job that tests `program`."""

    @abstractmethod
    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        """The grade, from the executor's plain-data result."""

    @abstractmethod
    def reference_program(self, problem: Problem) -> str | None:
        """The data's own solution, as a complete program (None when the data has none)."""

    # -- shared
    def reference_answer(self, problem: Problem) -> str | None:
        program = self.reference_program(problem)
        return None if program is None else f"```python\n{program.rstrip()}\n```"

    def grade(self, problem: Problem, parsed: ParsedOutput, completion: Completion,
              executor: Executor | None) -> Grade:
        return self.grade_batch([(problem, parsed, completion)], executor)[0]

    def grade_batch(self, items: list[tuple[Problem, ParsedOutput, Completion]],
                    executor: Executor | None) -> list[Grade]:
        if executor is None:
            raise KatevalError(f"task {self.card.name} runs code and needs an executor")
        plans = [self.plan(problem, parsed, completion) for problem, parsed, completion in items]
        self.prepare([problem for plan, (problem, _, _) in zip(plans, items) if plan.grade is None], executor)
        jobs = [self.limited(problem, plan.job) for plan, (problem, _, _) in zip(plans, items) if plan.grade is None]
        results = iter(executor.run(jobs) if jobs else [])
        return [plan.grade or self.judge(problem, plan.program, next(results))
                for plan, (problem, _, _) in zip(plans, items)]

    # -- reference runs and the time limits they calibrate
    def prepare(self, problems: list[Problem], executor: Executor) -> None:
        """Run the reference solution of every problem of the batch not seen yet (or read it from the cache)."""
        self._user_limits = executor_limits(executor)
        todo = {p.problem_id: p for p in problems
                if p.problem_id not in self._references and self.reference_program(p) is not None}
        if not todo or not self.uses_references():
            return
        cache = ReferenceCache(self.reference_kind(), caching_allowed(executor))
        interpreter = executor.describe().get("server_python")
        keys = {pid: source_key(self.reference_source(problem), interpreter) for pid, problem in todo.items()}
        missing = []
        for pid, problem in todo.items():
            cached = cache.get(keys[pid])
            if cached is not None and (run := _reference_run(cached)) is not None:
                self._references[pid] = run
            else:
                missing.append(problem)
        for problem, run in zip(missing, self.run_references(missing, executor) if missing else []):
            self._references[problem.problem_id] = run
            if run is not None:
                cache.put(keys[problem.problem_id], {
                    "cpu_s": list(run.cpu_s), "total_cpu_s": run.total_cpu_s, "plan": run.plan and list(run.plan),
                    "expected": None if run.expected is None else list(run.expected)})

    def uses_references(self) -> bool:
        """Reference runs calibrate time limits and give check jobs their plans (with fixed limits, too)."""
        return True

    def reference_kind(self) -> str:
        """The cache folder of this task's reference runs."""
        return "calibration"

    def reference_source(self, problem: Problem) -> Any:
        """Everything a reference run depends on (its cache key)."""
        job = self.job(problem, self.reference_program(problem) or "")
        return [job.kind, job.code, [repr(t) for t in job.tests], job.entry_point, job.trusted_code, job.names]

    def run_references(self, problems: list[Problem], executor: Executor) -> list[ReferenceRun | None]:
        """The reference solutions graded as a program would be: their CPU times (None where one failed), and for
        check jobs the plan of calls their tests make (recorded by a trusted run in the judge)."""
        jobs = [replace(self.job(problem, self.reference_program(problem)), limits=REFERENCE_LIMITS)
                for problem in problems]
        plans = [replace(job, trusted=True) for job in jobs if job.kind == "check"]
        results = executor.run(jobs + plans)
        recorded = iter(results[len(jobs):])
        runs: list[ReferenceRun | None] = []
        for problem, job, result in zip(problems, jobs, results):
            plan = _plan(next(recorded)) if job.kind == "check" else None
            if not self.judge(problem, job.code, result).correct:
                runs.append(None)
            elif job.kind == "check":   # the judge tells tests apart; the program's CPU is one sum
                runs.append(ReferenceRun((result.cpu_s,), result.cpu_s, plan=plan))
            else:
                runs.append(ReferenceRun(tuple(t.cpu_s for t in result.tests), result.cpu_s))
        return runs

    def reference(self, problem: Problem) -> ReferenceRun | None:
        return self._references.get(problem.problem_id)

    def base_limits(self, problem: Problem) -> ExecLimits:
        """The limits a problem's programs get before calibration: the user's (an adapter may widen some)."""
        return self._user_limits

    def limited(self, problem: Problem, job: ExecJob) -> ExecJob:
        """The job with its problem's limits (calibrated from the reference run when there is one) and, for a
        check job, the plan of calls its tests make."""
        if job.limits != ExecLimits():
            return job
        limits, run = self.base_limits(problem), self.reference(problem)
        if run is not None and self._user_limits.calibrate:
            limits = self.calibration.limits(limits, run.cpu_s, run.total_cpu_s)
            self.applied_limits[problem.problem_id] = (limits.timeout_per_test_s, limits.timeout_total_s)
        plan = run.plan if run is not None and job.kind == "check" else None
        return replace(job, limits=limits, plan=plan)

    def time_limits(self) -> dict[str, Any]:
        """What run.json records: how limits were chosen and the ones each graded problem got."""
        if not self._user_limits.calibrate:
            return {"mode": "fixed"}
        return {**self.calibration.describe(), "problems": dict(sorted(self.applied_limits.items()))}

    def plan(self, problem: Problem, parsed: ParsedOutput, completion: Completion) -> Plan:
        extracted = extract_code(raw_answer(parsed, completion))
        cut_off = completion.finish_reason == "length"
        if extracted.code is None:
            return Plan(None, grade=Grade(False, "truncated" if cut_off else "no_code", None))
        program = self.program(problem, extracted.code, extracted.fenced)
        if cut_off and not extracted.closed:
            return Plan(program, grade=Grade(False, "truncated", program))
        return Plan(program, job=self.job(problem, program))
