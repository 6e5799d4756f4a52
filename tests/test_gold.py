"""Ground truth through the real sandbox: reference solutions pass their own graders, and LiveCodeBench's
officially correct leaderboard samples pass our public-test grading. Subsets here; the whole sets are `slow`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kateval.gold import run_gold
from kateval.grading import grade_completions
from kateval.tasks import load_task
from kateval.tasks.livecodebench import official_outputs_to_rows
from kateval.types import Completion

SUBMISSIONS = "outputs/livecodebench_submissions"
O1_MINI = "O1-Mini-2024-09-12_N1_Scenario.codegeneration_1_0.2_eval_all.json.gz"
O1_PREVIEW = "O1-Preview-2024-09-12_N1_Scenario.codegeneration_1_0.2_eval_all.json.gz"


@pytest.fixture(scope="module")
def executor():
    from kateval.sandbox import make_executor

    executor = make_executor(workers=2)
    yield executor
    executor.close()


def _subset(task, ids):
    problems = tuple(p for p in task.problems if p.problem_id in ids)
    assert len(problems) == len(ids)
    return dataclasses.replace(task, problems=problems)


# MBPP 126 (`sum` shadows a builtin), 367/927 (setup code builds the program's objects), 11 and 16 (challenge)
SUBSETS = {
    "humaneval": {f"HumanEval/{i}" for i in (0, 10, 32, 38, 50, 163)},
    "mbpp": {"16", "126", "367", "927", "11", "510"},
    "mbpp_sanitized": {"126", "11", "17", "737"},
    "humaneval_plus": {"HumanEval/2", "HumanEval/32", "HumanEval/53"},
    "mbpp_plus": {"Mbpp/2", "Mbpp/88", "Mbpp/124", "Mbpp/581", "Mbpp/603"},
}


@pytest.mark.parametrize("name", sorted(SUBSETS))
def test_reference_solutions_pass_their_grader(name, data_dir, executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    report = run_gold(_subset(load_task(name, data_dir), SUBSETS[name]), executor, show_progress=False)
    assert report.ok and report.passed == len(SUBSETS[name]), report.failures
    if name == "mbpp":
        assert report.challenge_total == 2 and report.challenge_passed == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SUBSETS))
def test_every_reference_solution_passes(name, data_dir, executor):
    report = run_gold(load_task(name, data_dir), executor, show_progress=False)
    assert report.ok, [(r.problem_id, r.status, r.grade_details) for r in report.failures]


def _official(data_dir: Path, name: str, window: bool) -> tuple[object, list[Completion]]:
    task = load_task("livecodebench_v5_2408_2502" if window else "livecodebench", data_dir)
    selected = {p.problem_id for p in task.selected}
    rows = [r for r in official_outputs_to_rows(data_dir / SUBMISSIONS / name, task.name)
            if r["official_correct"] and r["problem_id"] in selected]
    return task, [Completion(task.name, r["problem_id"], r["sample_index"], r["completion"], None, "stop")
                  for r in rows]


def test_officially_correct_lcb_samples_pass_public_tests_in_a_window(data_dir, executor):
    task, completions = _official(data_dir, O1_MINI, window=True)
    assert len(completions) > 100
    failed = [r for r in grade_completions(task, completions, None, executor) if not r.correct]
    assert not failed, [(r.problem_id, r.status, r.grade_details) for r in failed]


@pytest.mark.slow
@pytest.mark.parametrize("outputs", [O1_MINI, O1_PREVIEW])
def test_every_officially_correct_lcb_sample_passes_public_tests(outputs, data_dir, executor):
    task, completions = _official(data_dir, outputs, window=False)
    failed = [r for r in grade_completions(task, completions, None, executor) if not r.correct]
    assert not failed, [(r.problem_id, r.status, r.grade_details) for r in failed]


def test_a_program_that_shadows_builtins_check_uses_is_not_passed(data_dir, executor):
    """HumanEval's check() runs with the harness's builtins, not the program's: `abs = lambda x: 0` plus a
    wrong mean_absolute_deviation would pass a check defined beside the program."""
    task = load_task("humaneval", data_dir)
    code = "```python\nabs = lambda x: 0\ndef mean_absolute_deviation(numbers):\n    return 0.0\n```"
    record, = grade_completions(task, [Completion("humaneval", "HumanEval/4", 0, code, None, "stop")], None, executor)
    assert not record.correct and record.status == "wrong_answer"


FORGED_PROOF = '''
import json, os, struct, sys
frames = [sys._getframe(n).f_locals for n in range(1, 8) if sys._getframe(n)]   # whatever its callers hold
def report(kind, body):
    data = kind + json.dumps(body).encode()
    os.write(4, struct.pack(">I", len(data)) + data)
report(b"l", {"ok": True})
for _ in range(10):
    report(b"v", True)
os._exit(0)
'''


def test_mbpp_asserts_cannot_be_forged_from_inside_the_program(data_dir, executor):
    """A program that looks through its callers and writes "loaded" and an answer for every test: whatever it
    writes is only its answers, decoded and compared outside its process, so it still fails (both for plain
    asserts, compared in the parent, and for the others, run in the judge)."""
    task = load_task("mbpp", data_dir)
    assert task.by_id["2"].fields["calls"] is not None and task.by_id["367"].fields["calls"] is None
    records = grade_completions(task, [Completion("mbpp", pid, 0, f"```python\n{FORGED_PROOF}\n```", None, "stop")
                                       for pid in ("2", "367")], None, executor)
    assert not any(record.correct for record in records), records
