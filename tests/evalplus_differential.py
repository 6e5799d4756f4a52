"""HumanEval+ / MBPP+ differential: mutants of the canonical solutions graded by kateval and by evalplus (the PyPI
package) on the same local data files, so every verdict the two disagree on can be looked at.

    python tests/evalplus_differential.py [--per-problem 4] [--problems all] [--out DIR]   (the full run)

The mutants are made here, deterministically (a seeded choice of sites per problem), by small AST edits of the
entry function: comparison and arithmetic operators, integer constants +-1, float constants nudged by one part in
a billion (inside evalplus's tolerance), `/` and `//` swapped (ints where floats were expected), `and`/`or`,
`not` dropped, a statement dropped, a boolean constant flipped. evalplus runs in a subprocess with
HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH pointing at the local files and its cache in a temporary folder,
so nothing is downloaded; its expected outputs come from its own `trusted_exec` of the same canonical solutions.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DATA_FILES = {"humaneval": "evalplus/HumanEvalPlus-v0.1.10.jsonl.gz", "mbpp": "evalplus/MbppPlus-v0.2.0.jsonl.gz"}
TASKS = {"humaneval": "humaneval_plus", "mbpp": "mbpp_plus"}
SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
         ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.Add: ast.Sub,
         ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Div: ast.FloorDiv, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
         ast.Pow: ast.Mult, ast.And: ast.Or, ast.Or: ast.And, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
         ast.BitXor: ast.BitOr}
CALL_SWAPS = {"min": "max", "max": "min", "tuple": "list", "list": "tuple", "int": "float", "float": "int",
              "any": "all", "all": "any", "sum": "len", "round": "int"}
# Whole-output mutants: the canonical function's value with every int made a float (equal under ==), or every
# float nudged by one part in a billion (inside evalplus's tolerance where it applies one).
WRAPPERS = {
    "as_floats": "float(value) if type(value) is int else value",
    "nudged": "value * (1 + 1e-9) if type(value) is float else value",
}
WRAPPER_CODE = """

def _mutant_map(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_mutant_map(item) for item in value)
    return {expression}


def {entry}(*args):
    return _mutant_map({original}(*args))
"""


# ---------------------------------------------------------------- mutants
def mutation_sites(function: ast.FunctionDef) -> list[tuple[str, ast.AST, object]]:
    """Every place one edit can go: (kind, node, detail)."""
    sites: list[tuple[str, ast.AST, object]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            sites += [("compare", node, i) for i, op in enumerate(node.ops) if type(op) in SWAPS]
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAPS or isinstance(node, ast.BoolOp):
            sites.append(("operator", node, None))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append(("drop_not", node, None))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            sites.append(("constant", node, None))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in CALL_SWAPS:
            sites.append(("call", node, None))
        for field in ("body", "orelse"):
            body = getattr(node, field, None)
            if isinstance(body, list) and len(body) > 1:
                sites += [("drop_statement", node, (field, i)) for i, stmt in enumerate(body)
                          if not isinstance(stmt, (ast.Return, ast.FunctionDef)) and not _is_docstring(stmt, i)]
    return sites


def _is_docstring(stmt: ast.stmt, index: int) -> bool:
    return index == 0 and isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant)


def apply_mutation(site: tuple[str, ast.AST, object]) -> None:
    """Edits the node in place (`drop_not` is done by _DropNot, which replaces the node)."""
    kind, node, detail = site
    if kind == "compare":
        node.ops[detail] = SWAPS[type(node.ops[detail])]()
    elif kind == "operator":
        node.op = SWAPS[type(node.op)]()
    elif kind == "constant":
        value = node.value
        node.value = (not value) if isinstance(value, bool) else value + 1 if isinstance(value, int) else value * (
            1 + 1e-9)
    elif kind == "call":
        node.func = ast.Name(CALL_SWAPS[node.func.id], ast.Load())
    elif kind == "drop_statement":
        field, index = detail
        getattr(node, field)[index] = ast.Pass()


class _DropNot(ast.NodeTransformer):
    def __init__(self, target: ast.AST):
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        return node.operand if node is self.target else self.generic_visit(node)


def mutants(program: str, entry_point: str, count: int, seed: str) -> list[str]:
    """Up to `count` distinct programs, each one edit away from `program` inside `entry_point`."""
    tree = ast.parse(program)
    original = ast.unparse(tree)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry_point]
    if not functions:
        return []
    site_count = len(mutation_sites(functions[0]))
    rng = random.Random(seed)
    out: list[str] = []
    for index in rng.sample(range(site_count), k=site_count):
        copy_tree = copy.deepcopy(tree)
        function = next(n for n in ast.walk(copy_tree) if isinstance(n, ast.FunctionDef) and n.name == entry_point)
        site = mutation_sites(function)[index]
        if site[0] == "drop_not":
            copy_tree = _DropNot(site[1]).visit(copy_tree)
        else:
            apply_mutation(site)
        text = ast.unparse(ast.fix_missing_locations(copy_tree))
        if text != original and text not in out:
            out.append(text)
        if len(out) == count:
            break
    return out


def wrapped(program: str, entry_point: str, expression: str) -> str:
    """`program` with its entry function renamed and called through a wrapper that maps the value it returns."""
    original = f"_canonical_{entry_point}"
    tree = ast.parse(program)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            node.name = original
        elif isinstance(node, ast.Name) and node.id == entry_point:
            node.id = original
    return ast.unparse(tree) + WRAPPER_CODE.format(expression=expression, entry=entry_point, original=original)


def read_problems(data_dir: Path, dataset: str) -> dict[str, dict]:
    import gzip
    with gzip.open(data_dir / DATA_FILES[dataset], "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {row["task_id"]: row for row in rows}


def programs(data_dir: Path, dataset: str, task_ids: list[str], per_problem: int,
             wrappers: bool = True) -> Iterator[dict]:
    """The canonical solution of each problem, then its mutants (with `wrappers`, the whole-output ones too)."""
    problems = read_problems(data_dir, dataset)
    for task_id in task_ids:
        row = problems[task_id]
        canonical = row["prompt"] + row["canonical_solution"]
        yield {"dataset": dataset, "task_id": task_id, "kind": "canonical", "program": canonical}
        for index, text in enumerate(mutants(canonical, row["entry_point"], per_problem, f"{task_id}:mutants")):
            yield {"dataset": dataset, "task_id": task_id, "kind": f"mutant{index}", "program": text}
        for name, expression in WRAPPERS.items() if wrappers else ():
            yield {"dataset": dataset, "task_id": task_id, "kind": name,
                   "program": wrapped(canonical, row["entry_point"], expression)}


# ---------------------------------------------------------------- kateval's verdicts
def kateval_verdicts(data_dir: Path, items: list[dict], workers: int = 2) -> list[bool]:
    from kateval.grading import grade_completions
    from kateval.sandbox import make_executor
    from kateval.tasks import load_task
    from kateval.types import Completion

    verdicts: dict[int, bool] = {}
    executor = make_executor(workers=workers)
    try:
        for dataset, task_name in TASKS.items():
            mine = [(i, item) for i, item in enumerate(items) if item["dataset"] == dataset]
            if not mine:
                continue
            task = load_task(task_name, str(data_dir))
            completions = [Completion(task_name, item["task_id"], i, f"```python\n{item['program']}\n```", None,
                                      "stop") for i, item in mine]
            for (i, _), record in zip(mine, grade_completions(task, completions, None, executor)):
                verdicts[i] = record.status == "passed"
    finally:
        executor.close()
    return [verdicts[i] for i in range(len(items))]


# ---------------------------------------------------------------- evalplus's verdicts (in its own process)
def program_key(item: dict) -> str:
    return hashlib.sha256(json.dumps([item["dataset"], item["task_id"], item["program"]]).encode()).hexdigest()


def evalplus_verdicts(data_dir: Path, items: list[dict], timeout_s: float | None = 3600,
                      cache: Path | None = None, time_limits: dict[str, float] | None = None) -> list[bool]:
    """evalplus's verdicts; with `cache` (a JSON file of program key -> verdict) only the missing ones are run.
    `time_limits`: evalplus's min_time_limit / gt_time_limit_factor (its defaults: 1 s, 4x)."""
    known = json.loads(cache.read_text()) if cache and cache.exists() else {}
    todo = [item for item in items if program_key(item) not in known]
    if todo:
        for item, verdict in zip(todo, _run_evalplus(data_dir, todo, timeout_s, time_limits or {})):
            known[program_key(item)] = verdict
        if cache:
            cache.write_text(json.dumps(known))
    return [known[program_key(item)] for item in items]


def _run_evalplus(data_dir: Path, items: list[dict], timeout_s: float | None,
                  time_limits: dict[str, float]) -> list[bool]:
    if not items:
        return []
    with tempfile.TemporaryDirectory() as scratch:
        request, reply = Path(scratch) / "request.json", Path(scratch) / "reply.json"
        request.write_text(json.dumps({"items": items, "time_limits": time_limits}))
        env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(data_dir / DATA_FILES["humaneval"]),
               "MBPP_OVERRIDE_PATH": str(data_dir / DATA_FILES["mbpp"]), "XDG_CACHE_HOME": scratch,
               "TOKENIZERS_PARALLELISM": "false"}
        subprocess.run([sys.executable, __file__, "--evalplus-side", str(request), str(reply)], env=env, check=True,
                       timeout=timeout_s)
        return json.loads(reply.read_text())


def _evalplus_side(request: Path, reply: Path) -> None:
    """Runs with evalplus imported: its own expected outputs (trusted_exec) and its own check_correctness."""
    from evalplus.data import get_human_eval_plus, get_mbpp_plus
    from evalplus.eval import PASS
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.evaluate import check_correctness
    from evalplus.gen.util import trusted_exec

    asked = json.loads(request.read_text())
    items, time_limits = asked["items"], dict(asked["time_limits"])
    task_cap_s = time_limits.pop("task_cap_s", None)
    if task_cap_s is not None:
        # evalplus caps a task's whole run at EVALPLUS_TIMEOUT_PER_TASK (60 s) of wall clock, and setting that
        # variable breaks it (it compares the string with a float): give it the number it expects. Its 4 GB
        # address-space limit goes too (-1: none), so only a wrong value can fail a program here.
        environment_value = os.getenv
        os.getenv = lambda key, *default: (task_cap_s if key == "EVALPLUS_TIMEOUT_PER_TASK"
                                           else environment_value(key, *default))
        os.environ["EVALPLUS_MAX_MEMORY_BYTES"] = "-1"
    problems = {"humaneval": get_human_eval_plus(), "mbpp": get_mbpp_plus()}
    expected: dict[tuple[str, str], dict] = {}
    verdicts = []
    for index, item in enumerate(items):
        problem = problems[item["dataset"]][item["task_id"]]
        key = (item["dataset"], item["task_id"])
        if key not in expected:
            not_none = item["dataset"] == "mbpp" and problem["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
            code = problem["prompt"] + problem["canonical_solution"]
            oracle = {}
            for split in ("base", "plus"):
                oracle[split], oracle[f"{split}_time"] = trusted_exec(
                    code, problem[f"{split}_input"], problem["entry_point"], record_time=True,
                    output_not_none=not_none)
            expected[key] = oracle
        result = check_correctness(item["dataset"], index, problem, item["program"], expected[key], **time_limits)
        verdicts.append(result["base"][0] == PASS and result["plus"][0] == PASS)
    reply.write_text(json.dumps(verdicts))


# ---------------------------------------------------------------- the comparison
GENEROUS_TIME = {"min_time_limit": 30.0, "gt_time_limit_factor": 50.0, "task_cap_s": 3600.0}


def disagreements(data_dir: Path, items: list[dict], workers: int = 2,
                  evalplus_cache: Path | None = None) -> tuple[list[dict], dict[str, float]]:
    """Programs the two grade differently. One evalplus failed and kateval passed is graded by evalplus again with
    generous limits (`evalplus_generous`): evalplus times each input against the wall clock, so a busy machine
    fails programs that are only slow there, and it limits address space to 4 GB, which a right program that
    copies a big output can pass."""
    started = time.perf_counter()
    ours = kateval_verdicts(data_dir, items, workers)
    kateval_s = time.perf_counter() - started
    theirs = evalplus_verdicts(data_dir, items, None, evalplus_cache)
    evalplus_s = time.perf_counter() - started - kateval_s
    differing = [{**item, "kateval_passed": mine, "evalplus_passed": other}
                 for item, mine, other in zip(items, ours, theirs) if mine != other]
    slow = [row for row in differing if row["kateval_passed"]]
    for row, passed in zip(slow, evalplus_verdicts(data_dir, slow, None, None, GENEROUS_TIME)):
        row["evalplus_generous"] = passed
    return differing, {"kateval_s": kateval_s, "evalplus_s": evalplus_s, "programs": len(items),
                       "kateval_passed": sum(ours), "evalplus_passed": sum(theirs),
                       "evalplus_limits": sum(bool(row.get("evalplus_generous")) for row in differing)}


def unexplained(rows: list[dict], evalplus_fails: dict[str, str]) -> list[dict]:
    """Disagreements that neither evalplus's wall clock nor a task where evalplus fails right programs
    (`evalplus_fails`: task id -> why, README) accounts for."""
    return [row for row in rows if not row.get("evalplus_generous")
            and not (row["kateval_passed"] and row["task_id"] in evalplus_fails)]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--evalplus-side"]:
        _evalplus_side(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--per-problem", type=int, default=4)
    parser.add_argument("--datasets", default="humaneval,mbpp")
    parser.add_argument("--problems", default="all", help="all, or comma-separated task ids")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="write every disagreement (with its program) to OUT.json")
    parser.add_argument("--evalplus-cache", help="JSON file keeping evalplus's verdicts between runs")
    parser.add_argument("--evalplus-only", action="store_true", help="only fill the evalplus cache")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    items = []
    for dataset in args.datasets.split(","):
        ids = list(read_problems(data_dir, dataset)) if args.problems == "all" else [
            t for t in args.problems.split(",") if t in read_problems(data_dir, dataset)]
        items += list(programs(data_dir, dataset, ids, args.per_problem))
    cache = Path(args.evalplus_cache) if args.evalplus_cache else None
    if args.evalplus_only:
        verdicts = evalplus_verdicts(data_dir, items, None, cache)
        print(json.dumps({"programs": len(items), "evalplus_passed": sum(verdicts)}))
        return 0
    differing, facts = disagreements(data_dir, items, args.workers, cache)
    print(json.dumps(facts))
    for row in differing:
        print(f"{row['task_id']} {row['kind']}: kateval {'pass' if row['kateval_passed'] else 'fail'}, "
              f"evalplus {'pass' if row['evalplus_passed'] else 'fail'}"
              + ("" if "evalplus_generous" not in row else
                 f" (with generous limits: {'pass' if row['evalplus_generous'] else 'fail'})"))
    if args.out:
        Path(args.out).write_text(json.dumps({"facts": facts, "disagreements": differing}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
