"""Ground truth for a task's grader: its reference solutions, graded exactly as model answers are
(reference answer -> parser -> adapter.grade_batch -> record). Every problem of the whole data is checked,
not only the ones a run selects."""
from __future__ import annotations

from dataclasses import dataclass

from kateval.grading import grade_completions
from kateval.progress import progress_bar
from kateval.tasks import LoadedTask
from kateval.types import Completion, Executor, KatevalError, SampleRecord

BATCH = 64


@dataclass(frozen=True)
class GoldReport:
    task: str
    total: int
    passed: int
    failures: tuple[SampleRecord, ...]      # not correct, or a challenge test that failed
    challenge_total: int                    # problems with challenge tests (MBPP), and how many passed them
    challenge_passed: int

    @property
    def ok(self) -> bool:
        return self.passed == self.total and self.challenge_passed == self.challenge_total


def reference_completions(task: LoadedTask) -> list[Completion]:
    completions = []
    for problem in task.problems:
        answer = task.adapter.reference_answer(problem)
        if answer is None:
            raise KatevalError(f"task {task.name} has no reference solutions to check its grader with")
        completions.append(Completion(task.name, problem.problem_id, 0, answer, None, "stop"))
    return completions


def run_gold(task: LoadedTask, executor: Executor | None, show_progress: bool = True) -> GoldReport:
    completions = reference_completions(task)
    records: list[SampleRecord] = []
    with progress_bar(len(completions), "programs", enabled=show_progress) as bar:
        for start in range(0, len(completions), BATCH):
            batch = completions[start:start + BATCH]
            records += grade_completions(task, batch, None, executor)
            bar.update(len(batch))
    challenged = [r for r in records if "challenge" in r.grade_details]
    failures = tuple(r for r in records if not r.correct or not _challenge_passed(r))
    return GoldReport(task.name, len(records), sum(r.correct for r in records), failures, len(challenged),
                      sum(_challenge_passed(r) for r in challenged))


def _challenge_passed(record: SampleRecord) -> bool:
    """Whether the record's challenge tests all passed (True when it has none)."""
    challenge = record.grade_details.get("challenge")
    return challenge is None or challenge["passed"] == challenge["total"]


def format_report(report: GoldReport) -> str:
    lines = [f"{report.task}: {report.passed}/{report.total} reference solutions passed"
             + (f"; challenge tests {report.challenge_passed}/{report.challenge_total}" if report.challenge_total
                else "")]
    for record in report.failures:
        lines.append(f"  FAIL {record.problem_id}: {record.status} {record.grade_details}")
    return "\n".join(lines)
