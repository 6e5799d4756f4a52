"""The shape every code task shares: take the program from the answer segment, build one execution job per
sample, hand a whole batch to the executor at once (its workers run in parallel), then judge each result in
the trusted parent. Adapters say how a program is assembled, what job tests it, and how outcomes are judged."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from kateval.codegrade import extract_code
from kateval.parse import TAG_RE
from kateval.tasks.base import TaskAdapter
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


def executor_limits(executor: Executor) -> ExecLimits:
    """The limits the executor applies to jobs that set none (the user's), read from its description."""
    described = executor.describe().get("limits") or {}
    return ExecLimits(**{k: v for k, v in described.items() if k in ExecLimits.__dataclass_fields__})


class CodeAdapter(TaskAdapter):
    needs_executor = True

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
        self.prepare([problem for problem, _, _ in items], executor)
        plans = [self.plan(problem, parsed, completion) for problem, parsed, completion in items]
        jobs = [plan.job for plan in plans if plan.grade is None]
        results = iter(executor.run(jobs) if jobs else [])
        return [plan.grade or self.judge(problem, plan.program, next(results))
                for plan, (problem, _, _) in zip(plans, items)]

    def prepare(self, problems: list[Problem], executor: Executor) -> None:
        """Work a batch needs before its programs run (e.g. expected outputs from the reference solution)."""

    def plan(self, problem: Problem, parsed: ParsedOutput, completion: Completion) -> Plan:
        extracted = extract_code(raw_answer(parsed, completion))
        cut_off = completion.finish_reason == "length"
        if extracted.code is None:
            return Plan(None, grade=Grade(False, "truncated" if cut_off else "no_code", None))
        program = self.program(problem, extracted.code, extracted.fenced)
        if cut_off and not extracted.closed:
            return Plan(program, grade=Grade(False, "truncated", program))
        return Plan(program, job=self.job(problem, program))
