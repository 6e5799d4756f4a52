"""HumanEval+ and MBPP+ (evalplus): the program's function is called on the base and the extra ("plus")
inputs; its return values come back as plain data and are compared in the trusted parent exactly as
evalplus's `unsafe_execute` compares them (its float tolerance, `atol` per task, its special oracles).
Expected outputs are computed once from the reference solution, in the sandbox's judge (where no program ever
runs), and cached under a hash of their source (kateval.tasks.reference); time limits are calibrated from the
reference's CPU time per input, as evalplus does."""
from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
from dataclasses import replace
from typing import Any

import numpy as np

from kateval.codegrade import outcome_status, result_failure, short
from kateval.sandbox import protocol
from kateval.tasks.base import DataSource, load_hub_rows
from kateval.tasks.code import REFERENCE_LIMITS, CodeAdapter, ReferenceRun
from kateval.tasks.humaneval import completion_program
from kateval.tasks.mbpp import RETURNS_MATCH as MBPP_OUTPUT_NOT_NONE_TASKS
from kateval.tasks.reference import Calibration
from kateval.types import ExecJob, ExecLimits, ExecResult, Executor, Grade, Problem, TestOutcome

# evalplus/eval/_special_oracle.py (its MBPP_OUTPUT_NOT_NONE_TASKS are the MBPP tasks that return a Match)
MBPP_OUTPUT_SET_EQ_TASKS = ("similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                            "larg_nnum", "intersection_array", "find_dissimilar", "Diff")
ENTRY_WRAPPER = "_kateval_entry"
DIGEST_OVER = 50_000
DIGEST_TAG = "kateval-digest"
ENTRY_WRAPPER_CODE = """

{helpers}

def {name}(*args):
    out = {entry}(*args)
    out = {value}
    if {long} is not None and isinstance(out, (list, tuple)) and len(out) > {long} and not holds_float(out):
        return sequence_digest(out)
    return out
"""
GT_TIME_LIMIT_FACTOR = 4.0          # evalplus: a program gets 4x the reference solution's time on each input,
MIN_TIME_LIMIT_S = 4.0              # and never less than evalplus's minimal time limit
MEMORY_MB = 4096                    # evalplus's own limit
OUTPUT_FACTOR = 4                   # a program's answer may be this many times the reference's largest one,
WHOLE_OUTPUT_BYTES = 256 << 20      # or this large where the reference's came back as a digest: a program's
                                    # answer holding a float comes back whole (several MB: HumanEval/100, Mbpp/630)


def _surface_area(base_edge, height):   # Mbpp/581 oracle
    slant_height = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_nums(num1, num2):   # Mbpp/558 oracle
    left, right = str(num1), str(num2)
    width = max(len(left), len(right))
    return sum(abs(int(a) - int(b)) for a, b in zip(left.zfill(width), right.zfill(width)))


def _poly(xs, x):                        # HumanEval/32 oracle
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def canonical(value) -> str:
    """A text two values share exactly when they are == (what evalplus compares): an int, a bool and a whole float
    alike, a list and a tuple apart, dicts and sets in any order (a str is its repr, so the text is unambiguous;
    a sequence of plain items is exactly its repr).
    Self-contained, with fast paths for the plain types: its source also runs in the sandbox (ENTRY_WRAPPER_CODE)."""
    kind = type(value)
    if kind is str or kind is bytes or kind is int or value is None:
        return repr(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    if kind is tuple or kind is list:
        if set(map(type, value)) <= {str, int, bytes, type(None)}:
            return repr(value)   # the fast path (C speed); the same text as the general one below
        inner = ", ".join(map(canonical, value))
        return "(" + inner + ("," if len(value) == 1 else "") + ")" if kind is tuple else "[" + inner + "]"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(canonical(k) + ":" + canonical(v) for k, v in value.items())) + "}"
    if isinstance(value, (set, frozenset)):
        return "set{" + ",".join(sorted(map(canonical, value))) + "}"
    import numbers
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return canonical(float(value))
    if isinstance(value, numbers.Complex):
        if value.imag == 0:
            return canonical(value.real)
        return "complex(" + canonical(float(value.real)) + "," + canonical(float(value.imag)) + ")"
    if isinstance(value, (list, tuple)):
        return canonical(list(value) if isinstance(value, list) else tuple(value))
    return "<" + type(value).__name__ + ">" + repr(value)


def holds_float(value) -> bool:
    """Whether a float (or complex) is anywhere in `value`: evalplus may compare it with a tolerance."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is bytes or value is None:
        return False
    if kind is float or kind is complex:
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        kinds = set(map(type, value))
        if kinds <= {str, int, bool, bytes, type(None)}:
            return False   # the fast path
        return float in kinds or complex in kinds or any(map(holds_float, value))
    if isinstance(value, dict):
        return any(holds_float(k) or holds_float(v) for k, v in value.items())
    import numbers
    return isinstance(value, numbers.Number) and not isinstance(value, numbers.Integral)


def sequence_digest(sequence):
    """A long list or tuple as (tag, kind, length, sha256 of its items' canonical texts): two digests are equal
    exactly when the sequences are ==. Used for long outputs without floats (Mbpp/255 returns 1.7M tuples)."""
    import hashlib
    digest = hashlib.sha256()
    for item in sequence:
        digest.update(canonical(item).encode("utf-8", "surrogatepass") + b"\0")
    return ("kateval-digest", "list" if isinstance(sequence, list) else "tuple", len(sequence), digest.hexdigest())


def is_digest(value) -> bool:
    return isinstance(value, tuple) and len(value) == 4 and value[0] == DIGEST_TAG


# Cached expected outputs are what the wrapper returned: the cache key is the job's source, wrapper included.
WRAPPER_HELPERS = "\n\n".join(inspect.getsource(f) for f in (canonical, holds_float, sequence_digest))


def is_floats(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return isinstance(x, np.ndarray) and x.dtype in (np.float64, np.float32)


def evalplus_equal(dataset: str, entry_point: str, inp: tuple, out: Any, exp: Any, atol: float) -> tuple[bool, float]:
    """One comparison of evalplus's `unsafe_execute`; returns (ok, atol) because evalplus keeps a raised atol
    for the rest of the inputs. A long output that came back as a digest is compared as a digest: exact, which is
    evalplus's comparison there (a digest is only made of outputs without floats, for tasks without atol)."""
    if is_digest(out) or is_digest(exp):
        matched = (out if is_digest(out) else _digest_of(out)) == (exp if is_digest(exp) else _digest_of(exp))
        return matched, 1e-6 if atol == 0 and is_floats(exp) else atol
    try:
        exact = out == exp
        if dataset == "mbpp":
            if entry_point == "are_equivalent":
                exact = True
            elif entry_point == "sum_div":
                exact = exact or out == 0
            elif entry_point == "surface_Area":
                exact = exact or abs(out - _surface_area(*inp)) <= atol
            elif entry_point == "digit_distance_nums":
                exact = exact or out == _digit_distance_nums(*inp)
            elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
                exact = set(out) == set(exp)
        if dataset == "humaneval" and entry_point == "find_zero":
            return abs(_poly(*inp, out)) <= atol, atol
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if not exact and atol != 0:
            same_shape = type(out) is type(exp) and (not isinstance(exp, (list, tuple)) or len(out) == len(exp))
            return bool(same_shape and np.allclose(out, exp, rtol=1e-07, atol=atol)), atol
        return bool(exact), atol
    except Exception:  # noqa: BLE001 - evalplus counts any exception while comparing as a failed test
        return False, atol


def _digest_of(value: Any) -> Any:
    return sequence_digest(value) if isinstance(value, (list, tuple)) else value


def compare_split(dataset: str, entry_point: str, inputs: list, expected: list, outcomes: tuple[TestOutcome, ...],
                  atol: float, stopped: str | None) -> tuple[int, str] | None:
    """(index, status) of the first failing input of one split (base or plus), or None when all pass."""
    for index, (inp, exp) in enumerate(zip(inputs, expected)):
        if index >= len(outcomes):
            return index, stopped or "sandbox_error"
        outcome = outcomes[index]
        if outcome.status != "ok":
            return index, outcome_status(outcome)
        ok, atol = evalplus_equal(dataset, entry_point, inp, outcome.value, exp, atol)
        if not ok:
            return index, "wrong_answer"
    return None


# ---------------------------------------------------------------- data
def mbpp_deserialize_inputs(task_id: str, inputs: list) -> list:
    """evalplus/data/mbpp.py: JSON cannot hold tuples, sets or complex numbers; MBPP+ restores them per task."""
    number = int(task_id.split("/")[-1])
    if number in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
                  740, 744, 809):
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if number in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if number in (75, 413, 444, 753):
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if number in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if number == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if number == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if number in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if number in (259, 401, 445):
        nested = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in nested]
    if number == 278:
        nested = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in nested]
    if number == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if number == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if number == 252:
        return [[complex(inp[0])] for inp in inputs]
    if number in (580, 615, 791):
        return [_all_tuples(inp) for inp in inputs]
    return inputs


def _all_tuples(value):
    return tuple(_all_tuples(item) for item in value) if isinstance(value, list) else value


def row_from_hub(row: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The hub copies keep the inputs inside a generated `test` script; read them (and atol, and MBPP+'s function
    name) from its syntax tree. These inputs are Python literals already, with base and plus merged."""
    inputs, atol, called = _inputs_from_test(row["test"])
    if dataset == "mbpp":
        prompt = f'"""\n{row["prompt"]}\n{row["test_list"][0]}\n"""\n'
        return {"task_id": f"Mbpp/{row['task_id']}", "prompt": prompt, "entry_point": called,
                "canonical_solution": row["code"], "base_input": [], "plus_input": inputs, "atol": atol,
                "literal_inputs": True}
    return {"task_id": row["task_id"], "prompt": row["prompt"], "entry_point": row["entry_point"],
            "canonical_solution": row["canonical_solution"], "base_input": [], "plus_input": inputs, "atol": atol,
            "literal_inputs": True}


def _inputs_from_test(test: str) -> tuple[list, float, str | None]:
    inputs, atol, called = None, 0, None
    for node in ast.walk(ast.parse(test)):
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["inputs"]:
            inputs = _trusted_literal(node.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "assertion" and len(node.args) == 3:
            atol = _trusted_literal(node.args[2])
            called = getattr(getattr(node.args[0], "func", None), "id", None)
    if inputs is None:
        raise ValueError("no `inputs = [...]` in the test script")
    return [list(inp) for inp in inputs], atol, called


def _trusted_literal(node: ast.expr) -> Any:
    """Literals plus the few constructors the generated scripts use (float('inf'), set(), complex(...));
    the script comes from the pinned dataset, never from a model."""
    names = {"float": float, "complex": complex, "set": set, "frozenset": frozenset, "tuple": tuple}
    return eval(compile(ast.Expression(node), "<evalplus data>", "eval"), {"__builtins__": {}}, names)


# ---------------------------------------------------------------- adapter
class EvalPlusAdapter(CodeAdapter):
    calibration = Calibration(factor=GT_TIME_LIMIT_FACTOR, floor_s=MIN_TIME_LIMIT_S)

    def __init__(self, card):
        super().__init__(card)
        self._answer_room: dict[str, int] = {}   # problem id -> bytes its programs' answers may take

    @property
    def dataset(self) -> str:
        return self.card.params["dataset"]   # "humaneval" or "mbpp": selects evalplus's special oracles

    def rows_from_hub(self) -> tuple[list[dict[str, Any]], DataSource]:
        spec = self.card.data
        rows, source = load_hub_rows(spec["hub_id"], spec.get("hub_config"), spec.get("hub_split", "test"),
                                     spec.get("hub_revision"))
        return [row_from_hub(row, self.dataset) for row in rows], source

    def to_problem(self, row: dict[str, Any]) -> Problem:
        base, plus = row["base_input"], row["plus_input"]
        if self.dataset == "mbpp" and not row.get("literal_inputs"):
            base, plus = mbpp_deserialize_inputs(row["task_id"], base), mbpp_deserialize_inputs(row["task_id"], plus)
        raw = json.dumps([row["prompt"], row["canonical_solution"], row["base_input"], row["plus_input"]],
                         sort_keys=True, default=repr)
        return Problem(task=self.card.name, problem_id=row["task_id"], fields={
            "prompt": row["prompt"], "entry_point": row["entry_point"],
            "canonical_solution": row["canonical_solution"], "atol": float(row["atol"] or 0),
            "base_input": [tuple(inp) for inp in base], "plus_input": [tuple(inp) for inp in plus],
            "data_hash": hashlib.sha256(raw.encode()).hexdigest()})

    def template_values(self, problem: Problem) -> dict[str, Any]:
        return {"prompt": problem.fields["prompt"], "prompt_stripped": problem.fields["prompt"].strip()}

    def program(self, problem: Problem, code: str, fenced: bool) -> str:
        if self.dataset != "humaneval":
            return code
        return completion_program(problem.fields["prompt"], problem.fields["entry_point"], code,
                                  self.card.params.get("completion_stop", []))

    def reference_program(self, problem: Problem) -> str:
        return problem.fields["prompt"] + problem.fields["canonical_solution"]

    def job(self, problem: Problem, program: str) -> ExecJob:
        """The function is called through a wrapper that makes its value plain data the way evalplus compares
        it: a dict subclass (Counter) as a dict, for three MBPP+ tasks only whether it is None, and a sequence
        too long to send back quickly (Mbpp/255: 1.7M tuples) as a digest of its items' canonical forms, which
        compares as == does; one holding a float comes back whole, for evalplus's tolerance."""
        entry = problem.fields["entry_point"]
        if self.dataset == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE_TASKS:
            value = "out if isinstance(out, bool) else out is not None"
        else:
            value = "dict(out) if isinstance(out, dict) else out"
        # A task with a tolerance (atol) may see a tolerance on any number: its outputs always come back whole.
        long = DIGEST_OVER if not problem.fields["atol"] else None
        wrapper = ENTRY_WRAPPER_CODE.format(helpers=WRAPPER_HELPERS, name=ENTRY_WRAPPER, entry=entry, value=value,
                                            long=long)
        inputs = problem.fields["base_input"] + problem.fields["plus_input"]
        return ExecJob("call", program + wrapper, tuple(inputs), entry_point=ENTRY_WRAPPER)

    # -- expected outputs: the reference solution's, computed in the judge (where no program runs) and cached
    def reference_kind(self) -> str:
        return "evalplus"

    def run_references(self, problems: list[Problem], executor: Executor) -> list[ReferenceRun | None]:
        jobs = [replace(self.job(problem, self.reference_program(problem)), limits=REFERENCE_LIMITS, trusted=True)
                for problem in problems]
        runs: list[ReferenceRun | None] = []
        for job, result in zip(jobs, executor.run(jobs)):
            complete = len(result.tests) == len(job.tests) and all(o.status == "ok" for o in result.tests)
            runs.append(ReferenceRun(tuple(o.cpu_s for o in result.tests), result.cpu_s,
                                     tuple(o.value for o in result.tests)) if complete else None)
        return runs

    def base_limits(self, problem: Problem) -> ExecLimits:
        """evalplus's memory limit; room for answers as large as the reference's (some are several MB)."""
        limits = self._user_limits
        return replace(limits, memory_mb=max(limits.memory_mb, MEMORY_MB),
                       output_bytes=max(limits.output_bytes, self._room(problem)))

    def _room(self, problem: Problem) -> int:
        """Room for answers as large as the reference's; once per problem, not per sample (it encodes every
        expected value, some several MB)."""
        room = self._answer_room.get(problem.problem_id)
        if room is None:
            run = self.reference(problem)
            room = max((WHOLE_OUTPUT_BYTES if is_digest(value) else OUTPUT_FACTOR * _encoded_size(value)
                        for value in run.expected or ()), default=0) if run else 0
            if run is not None:   # a reference run, once made, never changes
                self._answer_room[problem.problem_id] = room
        return room

    def judge(self, problem: Problem, program: str, result: ExecResult) -> Grade:
        reference = self.reference(problem)
        if reference is None or reference.expected is None:
            return Grade(False, "sandbox_error", program, {"error": "the reference solution failed on these inputs"})
        expected, fields, entry = list(reference.expected), problem.fields, problem.fields["entry_point"]
        base_n = len(fields["base_input"])
        stopped = result_failure(result)
        base = compare_split(self.dataset, entry, fields["base_input"], expected[:base_n], result.tests[:base_n],
                             fields["atol"], stopped)
        plus = compare_split(self.dataset, entry, fields["plus_input"], expected[base_n:], result.tests[base_n:],
                             fields["atol"], stopped)
        details: dict[str, Any] = {"base": _verdict(base, base_n), "plus": _verdict(plus, len(fields["plus_input"]))}
        failure = base or (None if plus is None else (plus[0] + base_n, plus[1]))
        if failure is None:
            return Grade(True, "passed", program, details)
        index, status = failure
        inputs = fields["base_input"] + fields["plus_input"]
        details["failed_input"] = short(inputs[index])
        if index < len(result.tests):
            outcome = result.tests[index]
            details["got"] = short(outcome.error if outcome.status != "ok" else outcome.value)
            details["expected"] = short(expected[index])
        elif result.error:
            details["error"] = short(result.error)
        return Grade(False, status, program, details)


def _encoded_size(value: Any) -> int:
    try:
        return len(protocol.dumps(protocol.encode(value)))
    except (protocol.Unencodable, ValueError):
        return 0


def _verdict(failure: tuple[int, str] | None, count: int) -> dict[str, Any]:
    return {"tests": count, "passed": failure is None} | ({} if failure is None else {"failed_index": failure[0]})
