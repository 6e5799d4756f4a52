"""LiveCodeBench code generation (code_generation_lite format), graded as its official evaluator
(lcb_runner/evaluation/testing_util.py) grades: the program runs after LCB's import preamble; stdin problems
compare stdout line by line after stripping (numbers as Decimals when a line differs); functional (LeetCode)
problems call `Solution().<func_name>` with the JSON-decoded arguments and compare to the JSON-decoded output.

A card picks a release (`release_v1`..`release_v6`, cumulative) and optionally a contest-date window."""
from __future__ import annotations

import base64
import datetime
import json
import pickle
import re
import zlib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kateval.codegrade import outcome_status, result_failure, short
from kateval.tasks.base import DataSource, fill_template, read_json_rows, sha256_of
from kateval.tasks.code import CodeAdapter
from kateval.types import ExecJob, ExecResult, Grade, KatevalError, Problem

# The official preamble; `from builtins import *` after `from math import *` restores three-argument pow.
IMPORT_PREAMBLE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n")

# Each release adds one file of the hub dataset to the previous ones.
RELEASE_FILES = {f"release_v{n}": tuple(["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, n + 1)])
                 for n in range(1, 7)}


def decode_tests(raw: str | list | None) -> list[dict[str, Any]]:
    """Test cases are a JSON list, or (private ones) base64 of zlib of a pickled JSON string."""
    if not raw:
        return []
    if isinstance(raw, list):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return json.loads(pickle.loads(zlib.decompress(base64.b64decode(raw.encode("utf-8")))))


def parse_window(spec: str) -> tuple[datetime.date, datetime.date]:
    """`2408-2502` (months, end month excluded, the common LCB notation) or `2024-08-01..2025-01-31`
    (days, both included); returns [start, end)."""
    months = re.fullmatch(r"(\d{2})(\d{2})-(\d{2})(\d{2})", spec)
    if months:
        y1, m1, y2, m2 = (int(g) for g in months.groups())
        return datetime.date(2000 + y1, m1, 1), datetime.date(2000 + y2, m2, 1)
    days = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", spec)
    if days:
        start, end = (datetime.date.fromisoformat(d) for d in days.groups())
        return start, end + datetime.timedelta(days=1)
    raise KatevalError(f"contest-date window '{spec}': use YYMM-YYMM (e.g. 2408-2502) or "
                       "YYYY-MM-DD..YYYY-MM-DD")


def lines_match(output: str, expected: str) -> bool:
    """LCB's stdio check: same number of stripped lines; each equal, or equal as lists of Decimals."""
    got, want = _stripped_lines(output), _stripped_lines(expected)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g != w:
            got_numbers, want_numbers = _decimals(g), _decimals(w)
            if got_numbers is None or want_numbers is None or got_numbers != want_numbers:
                return False
    return True


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except InvalidOperation:
        return None


def value_matches(value: Any, expected: Any) -> bool:
    """LCB's functional check: a returned tuple counts as a list, then plain equality."""
    if isinstance(value, tuple):
        value = list(value)
    return value == expected


class LiveCodeBenchAdapter(CodeAdapter):
    def rows_from_dir(self, data_dir: Path) -> tuple[list[dict[str, Any]], DataSource]:
        path = data_dir / self.card.data["local"]
        if not path.exists():
            raise KatevalError(f"task {self.card.name}: data file {path} not found (is --data-dir right?)")
        local_release = self.card.data["local_release"]
        if self.card.params["release"] != local_release:
            raise KatevalError(f"task {self.card.name}: the local data holds {local_release} only, not "
                               f"{self.card.params['release']}; load it from the hub (no --data-dir)")
        rows = read_json_rows(path)
        return rows, DataSource("local", str(path), local_release, sha256_of(path), self._flags(rows))

    def rows_from_hub(self) -> tuple[list[dict[str, Any]], DataSource]:
        """The hub dataset is one JSONL file per release step (its loading script is not run: the files are
        read directly, which also works where `datasets` no longer runs scripts)."""
        from huggingface_hub import hf_hub_download

        spec, release = self.card.data, self.card.params["release"]
        if release not in RELEASE_FILES:
            raise KatevalError(f"task {self.card.name}: unknown release '{release}' ({', '.join(RELEASE_FILES)})")
        rows = []
        for name in RELEASE_FILES[release]:
            rows += read_json_rows(Path(hf_hub_download(spec["hub_id"], name, repo_type="dataset",
                                                        revision=spec.get("hub_revision"))))
        return rows, DataSource("hub", spec["hub_id"], spec.get("hub_revision"), None, self._flags(rows))

    def _flags(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        public_only = not any(row.get("private_test_cases") for row in rows)
        return {"release": self.card.params["release"], "window": self.card.params.get("window"),
                "public_tests_only": public_only}

    def to_problem(self, row: dict[str, Any]) -> Problem:
        public = decode_tests(row["public_test_cases"])
        tests = public + decode_tests(row.get("private_test_cases"))
        metadata = json.loads(row.get("metadata") or "{}")
        return Problem(task=self.card.name, problem_id=row["question_id"], difficulty=row["difficulty"], fields={
            "question_title": row["question_title"], "question_content": row["question_content"],
            "platform": row["platform"], "contest_date": row["contest_date"], "starter_code": row["starter_code"],
            "func_name": metadata.get("func_name"), "inputs": [t["input"] for t in tests],
            "outputs": [t["output"] for t in tests], "functional": bool(tests) and tests[0]["testtype"] == "functional",
            "public_tests": len(public)})

    def select(self, problems: list[Problem]) -> list[Problem]:
        window = self.card.params.get("window")
        if not window:
            return problems
        start, end = parse_window(window)
        return [p for p in problems if start <= datetime.date.fromisoformat(p.fields["contest_date"][:10]) < end]

    def template_values(self, problem: Problem) -> dict[str, Any]:
        params, fields = self.card.params, problem.fields
        section = params["format_starter"] if fields["starter_code"] else params["format_stdin"]
        return {**fields, "format": fill_template(section, fields)}

    def reference_program(self, problem: Problem) -> None:
        return None

    def job(self, problem: Problem, program: str) -> ExecJob:
        fields = problem.fields
        code = IMPORT_PREAMBLE + "\n" + program
        if not fields["functional"]:
            return ExecJob("stdio", code, tuple(fields["inputs"]))
        # Like lcb_runner's compile_code: a `Solution` class is instantiated, else the function is module-level.
        entry = f"Solution.{fields['func_name']}" if "class Solution" in program else fields["func_name"]
        args = tuple(tuple(json.loads(line) for line in raw.split("\n")) for raw in fields["inputs"])
        return ExecJob("call", code, args, entry_point=entry)

    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        fields = problem.fields
        details: dict[str, Any] = {"tests": len(fields["inputs"]), "public_tests": fields["public_tests"]}
        for index, expected in enumerate(fields["outputs"]):
            if index >= len(result.tests):
                status = result_failure(result) or "sandbox_error"
                return Grade(False, status, program, details | {"failed_test": index,
                                                                "error": short(result.error or "")})
            outcome = result.tests[index]
            if outcome.status != "ok":
                return Grade(False, outcome_status(outcome), program,
                             details | {"failed_test": index, "error": short(outcome.error or outcome.status)})
            if not self._matches(fields, outcome.value, expected):
                return Grade(False, "wrong_answer", program, details | {
                    "failed_test": index, "got": short(outcome.value), "expected": short(expected)})
        return Grade(True, "passed", program, details)

    @staticmethod
    def _matches(fields: dict[str, Any], value: Any, expected: str) -> bool:
        """A comparison that raises (a signalling NaN among Decimals, an array's truth value) is a mismatch, as
        the official grader's crashed comparison is a failed test."""
        try:
            if fields["functional"]:
                return bool(value_matches(value, json.loads(expected)))
            return isinstance(value, str) and lines_match(value, expected)
        except Exception:  # noqa: BLE001 - see above
            return False


def official_outputs_to_rows(path: Path, task: str = "livecodebench") -> list[dict[str, Any]]:
    """An LCB leaderboard file (`*_eval_all.json[.gz]`) as `kateval score` lines, each keeping the official
    verdict (graded_list) so the two gradings can be compared."""
    problems = read_json_rows(path)
    return [{"task": task, "problem_id": item["question_id"], "sample_index": index, "completion": output,
             "official_correct": bool(item["graded_list"][index])}
            for item in problems for index, output in enumerate(item["output_list"])]
