"""MBPP (Austin et al. 2021), full file and sanitized subset: the program runs with the data's setup code,
then each assert of `test_list`; `challenge_test_list` (11 problems of the full file) is reported apart.
Runs evaluate the test split (task ids 11-510); `kateval score` and `kateval gold` see every problem."""
from __future__ import annotations

import ast
import re
from typing import Any

from kateval.codegrade import cut_at_stops, first_failure, short
from kateval.tasks.code import CodeAdapter
from kateval.types import ExecJob, ExecResult, Grade, Problem


def normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    """The full file (`text`, `test_setup_code`) and the sanitized one (`prompt`, `test_imports`) as one shape."""
    setup = row.get("test_setup_code")
    if setup is None:
        setup = "\n".join(row.get("test_imports") or [])
    return {"task_id": int(row["task_id"]), "text": row.get("text", row.get("prompt")),
            "code": row["code"].replace("\r\n", "\n"), "setup": setup, "tests": list(row["test_list"]),
            "challenge_tests": list(row.get("challenge_test_list") or [])}


def tested_function(code: str, tests: list[str]) -> str | None:
    """The function the asserts call that the reference solution defines (the sandbox lets that name shadow
    a builtin, as MBPP's own `sum` does)."""
    defined = set(re.findall(r"^(?:def|class)\s+(\w+)", code, re.MULTILINE))
    for test in tests:
        try:
            tree = ast.parse(test.strip())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defined:
                return node.func.id
    return None


# These return an re.Match that the asserts only test for truth; the sandbox sends a named entry point's values
# back as plain data, which a Match is not, so they run unnamed (the same three evalplus special-cases).
RETURNS_MATCH = ("check_str", "text_match_three", "text_starta_endb")


class MbppAdapter(CodeAdapter):
    def to_problem(self, row: dict[str, Any]) -> Problem:
        fields = normalize_row(row)
        entry = tested_function(fields["code"], fields["tests"])
        fields["entry_point"] = None if entry in RETURNS_MATCH else entry
        return Problem(task=self.card.name, problem_id=str(fields["task_id"]), fields=fields)

    def select(self, problems: list[Problem]) -> list[Problem]:
        low, high = self.card.params["test_ids"]
        return [p for p in problems if low <= p.fields["task_id"] <= high]

    def template_values(self, problem: Problem) -> dict[str, Any]:
        return {"text": problem.fields["text"], "tests": "\n".join(t.strip() for t in problem.fields["tests"])}

    def program(self, problem: Problem, code: str, fenced: bool) -> str:
        """A base-model completion ends at the few-shot format's `[DONE]`."""
        return code if fenced else cut_at_stops(code, self.card.params.get("completion_stop", []))

    def reference_program(self, problem: Problem) -> str:
        return problem.fields["code"]

    def job(self, problem: Problem, program: str) -> ExecJob:
        setup = problem.fields["setup"]   # after the program: it may build objects of the program's classes
        return ExecJob("script", f"{program}\n{setup}" if setup else program,
                       tuple(problem.fields["tests"] + problem.fields["challenge_tests"]),
                       entry_point=problem.fields["entry_point"])

    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        count, challenge = len(problem.fields["tests"]), len(problem.fields["challenge_tests"])
        failure = first_failure(result, count + challenge, assert_means_wrong=True)
        details: dict[str, Any] = {"tests": count}
        if challenge:
            ran_ok = sum(o.status == "ok" for o in result.tests[count:])
            details["challenge"] = {"total": challenge, "passed": ran_ok}
        if failure is None or failure[0] >= count:
            return Grade(True, "passed", program, details)
        index, status = failure
        error = result.tests[index].error if index < len(result.tests) else result.error
        details.update(failed_test=problem.fields["tests"][index], error=short(error or ""))
        return Grade(False, status, program, details)
