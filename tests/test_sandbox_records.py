"""Any sample is a record: odd values from a program or a model (lone surrogates, huge ints, sNaN, bytes that are
not UTF-8, exceptions in a comparison) become that sample's status through `kateval score` and its resume; a
run is never lost to one sample."""
from __future__ import annotations

import json

import pytest
from code_fakes import InProcessExecutor, adapter_for, fenced

from kateval.cli import main
from kateval.grading import grade_completions
from kateval.store import iter_records, read_run_meta, record_line
from kateval.tasks import LoadedTask
from kateval.tasks.base import DataSource
from kateval.tasks.reference import Calibration
from kateval.types import STATUSES, Completion, ExecLimits, Grade


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


ODD_SAMPLES = [
    ("humaneval", "HumanEval/0", "lone surrogate in the text", fence("# \ud800\ndef has_close_elements(n, t):\n"
                                                                     "    return False")),
    ("humaneval", "HumanEval/0", "huge int", fence("def has_close_elements(n, t):\n    return 10 ** 5000")),
    ("humaneval", "HumanEval/0", "surrogate in an exception", fence("def has_close_elements(n, t):\n"
                                                                    "    raise ValueError('\\udcff')")),
    ("humaneval", "HumanEval/0", "surrogate returned", fence("def has_close_elements(n, t):\n    return '\\ud800'")),
    ("mbpp", "11", "surrogate returned to a plain assert", fence("def remove_Occ(s, ch):\n    return '\\udfff'")),
    ("mbpp", "11", "huge int to a plain assert", fence("def remove_Occ(s, ch):\n    return -10 ** 9000")),
    ("livecodebench", "abc301_a", "sNaN printed", fence("print('sNaN')")),
    ("livecodebench", "abc301_a", "surrogates printed", fence("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe')")),
    ("livecodebench", "2777", "NaN returned", fence("class Solution:\n    def distinctDifferenceArray(self, nums):\n"
                                                    "        return [float('nan')] * 5")),
]


@pytest.fixture()
def odd_file(tmp_path):
    path = tmp_path / "odd.jsonl"
    lines = [json.dumps({"task": task, "problem_id": pid, "completion": text, "finish_reason": "stop"})
             for task, pid, _, text in ODD_SAMPLES]
    raw = b'{"task": "humaneval", "problem_id": "HumanEval/2", "completion": "\xff\xfe not utf-8"}'
    path.write_bytes("\n".join(lines).encode("ascii") + b"\n" + raw + b"\n")
    return path


def test_odd_samples_are_graded_and_stored_and_the_run_resumes(odd_file, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["score", str(odd_file), "--out", str(out), "--data-dir", str(data_dir), "--no-progress", "--workers", "1"]
    assert main(args) == 0
    records = list(iter_records(out))
    assert len(records) == len(ODD_SAMPLES) + 1
    assert all(r["status"] in STATUSES and not r["correct"] for r in records), [r["status"] for r in records]
    stored = {(r["task"], r["problem_id"], r["sample_index"]): r for r in records}
    assert "\ud800" in stored[("humaneval", "HumanEval/0", 0)]["completion"]          # kept, never dropped
    assert stored[("humaneval", "HumanEval/2", 0)]["completion"].startswith("\udcff\udcfe")
    assert main(args) == 0                                                                 # the resume, too
    assert len(list(iter_records(out))) == len(records)
    limits = read_run_meta(out)["time_limits"]
    assert limits["humaneval"]["mode"] == "calibrated" and limits["mbpp"]["problems"]["11"][0] >= 0.25
    assert "livecodebench" not in limits or not limits["livecodebench"].get("problems")


def test_a_sample_whose_grading_raises_is_graded_alone_and_fails_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path / "cache"))
    adapter = adapter_for("humaneval")
    problem = adapter.to_problem({"task_id": "HumanEval/900", "entry_point": "add", "canonical_solution": "    return a + b\n",
                                  "prompt": "def add(a, b):\n    \"\"\"a + b\"\"\"\n",
                                  "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"})
    task = LoadedTask(adapter.card, adapter, (problem,), (problem,), DataSource("local", "-", None, None))
    judge = adapter.judge

    def fragile(problem, program, result):
        if "boom" in program:
            raise RuntimeError("a comparison that raises")
        return judge(problem, program, result)

    monkeypatch.setattr(adapter, "judge", fragile)
    texts = [fenced("def add(a, b):\n    return a + b"), fenced("def add(a, b):\n    return a + b  # boom"),
             fenced("def add(a, b):\n    return a - b")]
    completions = [Completion("humaneval", "HumanEval/900", i, text, None, "stop") for i, text in enumerate(texts)]
    records = grade_completions(task, completions, None, InProcessExecutor())
    assert [(r.correct, r.status) for r in records] == [(True, "passed"), (False, "sandbox_error"),
                                                        (False, "wrong_answer")]
    assert "a comparison that raises" in records[1].grade_details["error"]


def test_records_store_any_string_and_read_it_back_exactly():
    record = {"completion": "ok \ud800 \udfff \U0001f600", "grade_details": {"got": "\udcff"}}
    line = record_line(record)
    assert line.encode("utf-8") and json.loads(line) == record
    assert record_line({"completion": "é"}) == '{"completion": "é"}\n'    # plain text stays readable UTF-8


def test_odd_grade_details_do_not_break_a_record(tmp_path):
    grade = Grade(False, "wrong_answer", "x", {"got": 10 ** 5000, "value": float("nan")})
    stored = json.loads(record_line({"grade_details": grade.details}))["grade_details"]["got"]
    assert int(stored.strip("<int >"), 16) == 10 ** 5000


def test_a_cached_reference_is_believed_only_when_its_hashes_match(tmp_path, monkeypatch):
    """The evalplus cache: JSON (never code) read through the plain-data decoder, used only when the hash of its
    source and of its payload match; anything else is recomputed."""
    from kateval.tasks.reference import ReferenceCache, source_key

    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    cache, key = ReferenceCache("evalplus", enabled=True), source_key("reference", "inputs")
    cache.put(key, {"expected": [(1, 2), 10 ** 5000], "cpu_s": [0.1]})
    assert cache.get(key) == {"expected": [(1, 2), 10 ** 5000], "cpu_s": [0.1]}
    path = tmp_path / "evalplus" / f"{key}.json"
    stored = json.loads(path.read_text())
    stored["payload"]["D"][0][1] = [{"T": [1, 3]}]          # an expected value changed, its digest not
    path.write_text(json.dumps(stored))
    assert cache.get(key) is None
    path.write_bytes(b"\x80\x04cos\nsystem\n(S'touch " + str(tmp_path / "ran").encode() + b"'\ntR.")   # a pickle
    assert cache.get(key) is None and not (tmp_path / "ran").exists()
    assert cache.get(source_key("another source")) is None
    (tmp_path / "evalplus").chmod(0o777)                         # writable by others: not used at all
    assert ReferenceCache("evalplus", enabled=True).enabled is False


def test_calibrated_job_limits_are_capped_as_evalplus_caps_them():
    """Per test: the floor or factor x the reference; per job: at most the user's per-job limit (or factor x the
    reference's whole run where that is more), never thousands of floors for a problem with thousands of tests."""
    calibration = Calibration(factor=4.0, floor_s=4.0)
    many = calibration.limits(ExecLimits(timeout_total_s=60.0), [0.001] * 1100, 1.2)
    assert many.timeout_per_test_s == 4.0 and many.timeout_total_s == 60.0
    few = calibration.limits(ExecLimits(timeout_total_s=60.0), [0.001] * 3, 0.003)
    assert few.timeout_total_s == 12.0                                  # under the cap: the sum of allowances
    slow = calibration.limits(ExecLimits(timeout_total_s=60.0), [0.1] * 1000, 100.5)
    assert slow.timeout_total_s == 402.0                                # a slow reference keeps room for its pace


@pytest.mark.slow
def test_a_program_stuck_while_loading_costs_the_per_job_limit_not_its_problems_thousand_floors(
        tmp_path, data_dir, monkeypatch):
    # HumanEval/50 has 1,100 HumanEval+ inputs at 4 CPU s each: before the cap, 4,400 CPU s for one sample.
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path / "cache"))
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task": "humaneval_plus", "problem_id": "HumanEval/50", "finish_reason": "stop",
                                   "completion": fence("while True:\n    pass\n")}) + "\n")
    out = tmp_path / "run"
    assert main(["score", str(samples), "--out", str(out), "--data-dir", str(data_dir), "--no-progress",
                 "--workers", "1", "--problem-timeout", "3"]) == 0
    (record,) = iter_records(out)
    assert record["status"] == "timeout" and not record["correct"]
    per_test, per_job = read_run_meta(out)["time_limits"]["humaneval_plus"]["problems"]["HumanEval/50"]
    assert per_test == 4.0 and per_job == 3.0
