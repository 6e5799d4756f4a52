"""MBPP (Austin et al. 2021), full file and sanitized subset: each assert of `test_list` is a test;
`challenge_test_list` (11 problems of the full file) is reported apart. Runs evaluate the test split (task ids
11-510); `kateval score` and `kateval gold` see every problem.

No assert runs beside the program. Plain `assert f(literals) == literal` lines (most problems) become a call job
whose returned values are compared here; every other kind (math.isclose, set(...) ==, truth tests, asserts with a
message, setup code that builds objects of the program's classes) runs with its setup code in the sandbox's
judge, where the program's functions and classes are handles that pass plain data both ways."""
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
    failed assert. `==` here is Python's, as in the original asserts, on plain data the program cannot control;
    a comparison that raises (a numpy array's truth value) fails the assert, as it would there."""
    return replace(result, tests=tuple(_asserted(outcome, expected)
                                       for outcome, (_, expected) in zip(result.tests, calls)))


def _asserted(outcome: TestOutcome, expected: Any) -> TestOutcome:
    if outcome.status != "ok":
        return outcome
    try:
        equal = bool(outcome.value == expected)
    except Exception as exc:  # noqa: BLE001 - the assert itself would have raised
        return TestOutcome("error", None, f"{type(exc).__name__}: {short(str(exc))}")
    return outcome if equal else TestOutcome("error", None, f"AssertionError: returned {short(outcome.value)}")


def test_context(code: str, setup: str, tests: list[str], entry: str | None) -> tuple[str, tuple[str, ...]]:
    """What the asserts and setup use from the reference program: the imports among them (run in the judge: the
    same modules, the data's own copy) and the other names it defines (classes the setup builds, helpers),
    which become handles into the program."""
    try:
        program = ast.parse(code)
        used = [ast.parse(text.strip()) for text in [setup, *tests]]
    except SyntaxError:
        return setup, ()
    imports, defined = {}, set()
    for node in program.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                single = type(node)(**{**{f: getattr(node, f) for f in node._fields}, "names": [alias]})
                imports[(alias.asname or alias.name).split(".")[0]] = ast.unparse(single)
    bound = {n.id for tree in used for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    free = {n.id for tree in used for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    free -= bound
    needed_imports = "\n".join(imports[name] for name in sorted(free & imports.keys()))
    return (needed_imports + "\n" + setup).strip("\n"), tuple(sorted((free & defined) - {entry}))


# The three MBPP+ problems whose reference returns an re.Match (evalplus compares only whether it is None).
RETURNS_MATCH = ("check_str", "text_match_three", "text_starta_endb")


class MbppAdapter(CodeAdapter):
    def to_problem(self, row: dict[str, Any]) -> Problem:
        fields = normalize_row(row)
        fields["entry_point"] = tested_function(fields["code"], fields["tests"])
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
        fields = problem.fields
        if fields["calls"] is not None:
            return ExecJob("call", program, tuple(args for args, _ in fields["calls"]), entry_point=fields["entry_point"])
        tests = fields["tests"] + fields["challenge_tests"]
        trusted_code, names = test_context(fields["code"], fields["setup"], tests, fields["entry_point"])
        return ExecJob("check", program, tuple(test.strip() for test in tests), entry_point=fields["entry_point"],
                       trusted_code=trusted_code, names=names)

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
