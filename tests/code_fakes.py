"""Helpers for the code-task tests: an in-process executor for fixtures the tests write themselves (never for
model code), and building a task's adapter and problems from its real card without the data folder."""
from __future__ import annotations

import contextlib
import io
import sys
from typing import Any

from kateval.parse import parse_output
from kateval.tasks import make_adapter
from kateval.tasks.base import CARDS_DIR, TaskCard
from kateval.types import Completion, ExecJob, ExecResult, Grade, TestOutcome


class InProcessExecutor:
    """Runs trusted test fixtures in this process, with the ExecJob semantics of kateval.types."""

    def __init__(self) -> None:
        self.calls: list[list[ExecJob]] = []

    def run(self, jobs):
        self.calls.append(list(jobs))
        return [self._run(job) for job in jobs]

    def describe(self) -> dict[str, Any]:
        return {"isolation": "none (test fixtures)", "limits": {}}

    def close(self) -> None:
        pass

    def _run(self, job: ExecJob) -> ExecResult:
        namespace: dict[str, Any] = {"__name__": "solution"}
        if job.kind != "stdio":
            try:
                exec(compile(job.code, "<solution>", "exec"), namespace)  # noqa: S102 - trusted fixtures only
            except Exception as exc:  # noqa: BLE001 - the program's own failure is its verdict
                return ExecResult("runtime_error", (), f"{type(exc).__name__}: {exc}")
        if job.kind == "check":   # the tests in a namespace of their own, seeing the program's names
            program = {name: namespace[name] for name in (job.entry_point, *job.names) if name in namespace}
            namespace = {**program}
            exec(compile(job.trusted_code, "<tests>", "exec"), namespace)  # noqa: S102
            namespace.update(program)
        outcomes = []
        for test in job.tests:
            outcome = self._test(job, namespace, test)
            outcomes.append(outcome)
            if outcome.status != "ok" and job.stop_on_failure:
                break
        return ExecResult("completed", tuple(outcomes))

    @staticmethod
    def _test(job: ExecJob, namespace: dict[str, Any], test: Any) -> TestOutcome:
        try:
            if job.kind == "check":
                exec(compile(test, "<test>", "exec"), namespace)  # noqa: S102
                return TestOutcome("ok")
            if job.kind == "call":
                owner, _, method = job.entry_point.rpartition(".")
                function = getattr(namespace[owner](), method) if owner else namespace[job.entry_point]
                return TestOutcome("ok", function(*test))
            out = io.StringIO()
            old_stdin = sys.stdin
            sys.stdin = io.StringIO(test)
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(job.code, "<solution>", "exec"), {"__name__": "__main__"})  # noqa: S102
            finally:
                sys.stdin = old_stdin
            return TestOutcome("ok", out.getvalue())
        except Exception as exc:  # noqa: BLE001 - any failure is the test's verdict
            return TestOutcome("error", error=f"{type(exc).__name__}: {exc}")


def adapter_for(task: str):
    return make_adapter(TaskCard.load(CARDS_DIR / f"{task}.toml"))


def grade_text(adapter, problem, text: str, executor, finish_reason: str = "stop") -> Grade:
    completion = Completion(adapter.card.name, problem.problem_id, 0, text, None, finish_reason)
    return adapter.grade(problem, parse_output(text), completion, executor)


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\nDone."
