"""MBPP (Austin et al. 2021), full file and sanitized subset: the program runs with the data's setup code,
then each assert of `test_list`; `challenge_test_list` (11 problems of the full file) is reported apart.
Runs evaluate the test split (task ids 11-510); `kateval score` and `kateval gold` see every problem."""
from __future__ import annotations

import ast
import re
from dataclasses import replace
from typing import Any

from kateval.codegrade import cut_at_stops, first_failure, short
from kateval.tasks.code import CodeAdapter
from kateval.types import ExecJob, ExecResult, Grade, Problem, TestOutcome


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


def literal_calls(tests: list[str], entry: str | None) -> list[tuple[tuple, Any]] | None:
    """(args, expected) for every test when each is `assert entry(literals...) == literal`, else None.

    Such tests run as a "call" job: the sandbox returns plain data and the comparison happens here, outside the
    program's process, so no program can forge the pass (a program sharing a process with its asserts could, in
    principle, find and forge the harness's proof of completion)."""
    if entry is None:
        return None
    calls = []
    for test in tests:
        try:
            statements = ast.parse(test.strip()).body
        except SyntaxError:
            return None
        check = statements[0] if len(statements) == 1 and isinstance(statements[0], ast.Assert) else None
        compare = check.test if check is not None and check.msg is None else None
        if not (isinstance(compare, ast.Compare) and len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq)):
            return None
        call = compare.left
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == entry
                and not call.keywords):
            return None
        try:
            calls.append((tuple(ast.literal_eval(arg) for arg in call.args), ast.literal_eval(compare.comparators[0])))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return calls


def compared(result: ExecResult, calls: list[tuple[tuple, Any]]) -> ExecResult:
    """A call job's result in the shape of an assert job's: a returned value unequal to the expected one is a
    failed assert. `==` here is Python's, as in the original asserts, on plain data the program cannot control."""
    tests = tuple(
        TestOutcome("error", outcome.value, f"AssertionError: returned {short(outcome.value)}")
        if outcome.status == "ok" and outcome.value != expected else outcome
        for outcome, (_, expected) in zip(result.tests, calls))
    return replace(result, tests=tests)


# These return an re.Match that the asserts only test for truth; the sandbox sends a named entry point's values
# back as plain data, which a Match is not, so they run unnamed (the same three evalplus special-cases).
RETURNS_MATCH = ("check_str", "text_match_three", "text_starta_endb")


class MbppAdapter(CodeAdapter):
    def to_problem(self, row: dict[str, Any]) -> Problem:
        fields = normalize_row(row)
        entry = tested_function(fields["code"], fields["tests"])
        fields["entry_point"] = None if entry in RETURNS_MATCH else entry
        fields["calls"] = literal_calls(fields["tests"] + fields["challenge_tests"], fields["entry_point"])
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
        code = f"{program}\n{setup}" if setup else program
        calls = problem.fields["calls"]
        if calls is not None:
            return ExecJob("call", code, tuple(args for args, _ in calls), entry_point=problem.fields["entry_point"])
        return ExecJob("script", code, tuple(problem.fields["tests"] + problem.fields["challenge_tests"]),
                       entry_point=problem.fields["entry_point"])

    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        if problem.fields["calls"] is not None:
            result = compared(result, problem.fields["calls"])
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
