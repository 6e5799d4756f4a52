"""AIME: integer answers 0-999, graded on the answer segment only."""
from __future__ import annotations

from typing import Any

from kateval.mathgrade import extract_answer, matches_integer
from kateval.tasks.base import DataSource, TaskAdapter
from kateval.types import Completion, Executor, Grade, ParsedOutput, Problem


class AimeAdapter(TaskAdapter):
    def rows_from_hub(self) -> tuple[list[dict[str, Any]], DataSource]:
        rows, source = super().rows_from_hub()
        return [self._normalize_hub_row(i, row) for i, row in enumerate(rows)], source

    def _normalize_hub_row(self, index: int, row: dict[str, Any]) -> dict[str, Any]:
        """MathArena rows carry problem_idx 1..30 (I-1..I-15, II-1..II-15); map them to our ids."""
        number = int(row.get("problem_idx", index + 1))
        contest, within = ("I", number) if number <= 15 else ("II", number - 15)
        year = int(self.card.params["year"])
        return {"id": f"{year}-{contest}-{within}", "year": year, "contest": contest, "number": within,
                "problem": row["problem"], "answer": int(str(row["answer"]).strip())}

    def to_problem(self, row: dict[str, Any]) -> Problem:
        return Problem(task=self.card.name, problem_id=row["id"],
                       fields={"problem": row["problem"], "answer": int(row["answer"]),
                               "solution": row.get("solution")},
                       difficulty=str(row["number"]))

    def reference_answer(self, problem: Problem) -> str:
        return f"The answer is $\\boxed{{{problem.fields['answer']}}}$."

    def grade(self, problem: Problem, parsed: ParsedOutput, completion: Completion,
              executor: Executor | None) -> Grade:
        extracted = extract_answer(parsed.answer)
        if extracted is None:
            return Grade(False, "no_answer", None)
        correct = matches_integer(extracted, problem.fields["answer"])
        return Grade(correct, "correct" if correct else "wrong_answer", extracted)
