"""AIME: integer answers 0-999, graded on the answer segment only."""
from __future__ import annotations

from typing import Any

from kateval.mathgrade import is_integer_answer, matches_integer, math_verify_answer, read_answer
from kateval.tasks.base import DataSource, TaskAdapter, load_hub_rows
from kateval.types import Completion, Executor, Grade, ParsedOutput, Problem


class AimeAdapter(TaskAdapter):
    def rows_from_hub(self) -> tuple[list[dict[str, Any]], DataSource]:
        """MathArena publishes a year as one dataset (problem_idx 1..30 = I-1..II-15) or as one per contest
        (`hub_parts`, problem_idx 1..15 each)."""
        parts = self.card.data.get("hub_parts") or [{"id": self.card.data["hub_id"]}]
        rows, sources = [], []
        for part in parts:
            part_rows, source = load_hub_rows(part["id"], None, self.card.data.get("hub_split", "train"),
                                              part.get("revision"))
            rows += [self._normalize_hub_row(i, row, part.get("contest")) for i, row in enumerate(part_rows)]
            sources.append(source)
        return rows, DataSource("hub", ",".join(s.location for s in sources), None,
                                ",".join(str(s.sha256) for s in sources))

    def _normalize_hub_row(self, index: int, row: dict[str, Any], contest: str | None) -> dict[str, Any]:
        number = int(row.get("problem_idx", index + 1))
        if contest is None:
            contest, number = ("I", number) if number <= 15 else ("II", number - 15)
        year = int(self.card.params["year"])
        return {"id": f"{year}-{contest}-{number}", "year": year, "contest": contest, "number": number,
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
        return grade_integer_answer(parsed.answer, problem.fields["answer"],
                                    cut=completion.finish_reason == "length" and not parsed.answer_closed)


def grade_integer_answer(answer_text: str, gold: int, cut: bool) -> Grade:
    """kateval's reading of the final answer decides when it is explicit (boxed or stated) and an integer; where
    it is not (no statement, a last-number fallback, an expression), math-verify's own reading of the text may
    also credit it: each is right where the other fails. A hedge or an unfinished statement is never credited,
    whatever math-verify finds in it."""
    reading = read_answer(answer_text, cut)
    details = {"answer_source": reading.source}
    if reading.problem == "hedge":
        return Grade(False, "no_answer", None, {**details, "hedge": list(reading.alternatives)})
    if reading.problem == "unfinished" or (cut and reading.answer is None):
        return Grade(False, "truncated" if cut else "no_answer", None, {**details, "unfinished": True})
    if reading.answer is not None and matches_integer(reading.answer, gold):
        return Grade(True, "correct", reading.answer, details)
    explicit = reading.source in ("boxed", "stated") and is_integer_answer(reading.answer or "")
    if not explicit and not cut:
        verified = math_verify_answer(answer_text)
        if verified is not None and matches_integer(verified, gold):
            return Grade(True, "correct", verified, {**details, "answer_source": "math_verify"})
    if reading.answer is None:
        return Grade(False, "no_answer", None, details)
    return Grade(False, "wrong_answer", reading.answer, details)
