"""Code tasks on fixtures written here: prompts from the cards, code extraction, grading (in-process executor)."""
from __future__ import annotations

import base64
import datetime
import json
import math
import pickle
import zlib

import pytest
from code_fakes import InProcessExecutor, adapter_for, fenced, grade_text

from kateval.codegrade import cut_at_stops, extract_code
from kateval.parse import parse_output
from kateval.tasks.code import raw_answer
from kateval.tasks.evalplus import evalplus_equal, mbpp_deserialize_inputs, row_from_hub
from kateval.tasks.livecodebench import decode_tests, lines_match, parse_window, value_matches
from kateval.types import Completion

ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b.\n    >>> add(1, 2)\n    3\n    """\n'
ADD_TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"


@pytest.fixture()
def executor(tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path / "cache"))   # reference runs are not read from ~/.cache
    return InProcessExecutor()


# ---------------------------------------------------------------- extraction
def test_last_python_block_wins_and_other_languages_are_ignored():
    answer = "```python\nx = 1\n```\ntext\n```\ny = 2\n```\n```bash\nrm -rf /\n```"
    extracted = extract_code(answer)
    assert (extracted.code, extracted.fenced, extracted.closed) == ("y = 2", True, True)


def test_no_fence_means_the_whole_answer_and_only_foreign_fences_mean_no_code():
    assert extract_code("\ndef f():\n    return 1\n").code == "def f():\n    return 1"
    assert extract_code("```cpp\nint main() {}\n```").code is None
    assert extract_code("   \n").code is None


def test_unclosed_fence_runs_to_the_end_and_is_flagged():
    extracted = extract_code("```python\ndef f():\n    return")
    assert extracted.code == "def f():\n    return" and not extracted.closed


def test_stop_sequences_cut_at_the_first_one():
    assert cut_at_stops("    return 1\ndef other():\n    pass\nprint(1)", ["\nprint", "\ndef"]) == "    return 1"


def test_raw_answer_keeps_the_first_line_indentation_that_a_continuation_needs():
    text = "    return a + b\n"
    parsed = parse_output(text)
    assert raw_answer(parsed, Completion("t", "p", 0, text, None, "stop")) == text


def test_code_comes_from_the_answer_segment_only(executor):
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    thought = "<think>\n```python\ndef add(a, b):\n    return a - b\n```\n</think>\n"
    grade = grade_text(adapter, problem, thought + fenced("def add(a, b):\n    return a + b"), executor)
    assert grade.correct and "a - b" not in grade.extracted_answer


# ---------------------------------------------------------------- HumanEval
def _add_problem(adapter):
    return adapter.to_problem({"task_id": "Fixture/0", "prompt": ADD_PROMPT, "entry_point": "add",
                               "canonical_solution": "    return a + b\n", "test": ADD_TEST})


def test_humaneval_prompts_come_from_the_card():
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    assert adapter.prompt(problem, "completion").text == ADD_PROMPT
    chat = adapter.prompt(problem, "chat").messages[0]["content"]
    assert ADD_PROMPT.strip() in chat and "markdown code block" in chat


def test_humaneval_grades_chat_answers_and_completions(executor):
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    assert grade_text(adapter, problem, fenced("def add(a, b):\n    return a + b"), executor).status == "passed"
    wrong = grade_text(adapter, problem, fenced("def add(a, b):\n    return a * b"), executor)
    assert (wrong.correct, wrong.status) == (False, "wrong_answer")
    crash = grade_text(adapter, problem, fenced("def add(a, b):\n    return a + c"), executor)
    assert crash.status == "runtime_error"
    # a base model's continuation is appended to the prompt and cut at the stop sequences
    completion = grade_text(adapter, problem, "    return a + b\n\ndef unused():\n    raise SystemExit\n", executor)
    assert completion.correct and completion.extracted_answer == ADD_PROMPT + "    return a + b\n"


def test_humaneval_no_code_and_truncated(executor):
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    assert grade_text(adapter, problem, "```cpp\nint x;\n```", executor).status == "no_code"
    cut = grade_text(adapter, problem, "```python\ndef add(a, b):\n    return a +", executor, "length")
    assert (cut.correct, cut.status) == (False, "truncated")
    assert executor.calls == []   # nothing worth running


def test_grade_batch_hands_all_programs_to_the_executor_at_once(executor):
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    items = []
    for body in ("a + b", "a - b", "b + a"):
        text = fenced(f"def add(a, b):\n    return {body}")
        items.append((problem, parse_output(text), Completion("humaneval", problem.problem_id, 0, text, None, "stop")))
    grades = adapter.grade_batch(items, executor)
    assert [g.correct for g in grades] == [True, False, True]
    reference_run, programs = executor.calls   # the reference solution first (time limits, plan), then one batch
    assert [job.trusted for job in reference_run] == [False, True] and len(programs) == 3


def test_reference_answer_is_one_fenced_block_that_passes(executor):
    adapter = adapter_for("humaneval")
    problem = _add_problem(adapter)
    answer = adapter.reference_answer(problem)
    assert answer.count("```") == 2 and grade_text(adapter, problem, answer, executor).correct


# ---------------------------------------------------------------- MBPP
MBPP_ROW = {"task_id": 126, "text": "Write a python function to find the sum of common divisors of two numbers.",
            "code": "def sum(a,b):\r\n    s = 0\r\n    for i in range(1, min(a,b)):\r\n        if a % i == 0 and b % i == 0:\r\n"
                    "            s += i\r\n    return s",
            "test_setup_code": "", "test_list": ["assert sum(10,15) == 6", "assert sum(4,6) == 3"],
            "challenge_test_list": ["assert sum(100,150) == 93", "assert sum(7,7) == 8"]}


def test_mbpp_prompts_are_the_papers():
    adapter = adapter_for("mbpp")
    problem = adapter.to_problem(MBPP_ROW)
    shot = adapter.prompt(problem, "completion").text
    assert shot.count("[BEGIN]") == 4 and shot.count("[DONE]") == 3 and shot.endswith("[BEGIN]\n")
    assert "similar_elements" in shot and "is_not_prime" in shot and "heap_queue_largest" in shot
    assert "assert sum(10,15) == 6\nassert sum(4,6) == 3" in shot
    assert "assert sum(4,6) == 3" in adapter.prompt(problem, "chat").messages[0]["content"]


def test_mbpp_selects_the_test_split():
    adapter = adapter_for("mbpp")
    problems = [adapter.to_problem({**MBPP_ROW, "task_id": i}) for i in (1, 10, 11, 510, 511, 974)]
    assert [p.problem_id for p in adapter.select(problems)] == ["11", "510"]


def test_mbpp_challenge_tests_are_reported_apart(executor):
    adapter = adapter_for("mbpp")
    problem = adapter.to_problem(MBPP_ROW)
    assert problem.fields["entry_point"] == "sum"
    grade = grade_text(adapter, problem, fenced(problem.fields["code"]), executor)
    # the reference passes its tests; its range(1, min) misses the divisor 7 of (7, 7): one challenge test fails
    assert grade.correct and grade.details["challenge"] == {"total": 2, "passed": 1}


def test_mbpp_completion_ends_at_done_and_setup_runs_after_the_program(executor):
    adapter = adapter_for("mbpp")
    row = {"task_id": 367, "text": "Check a tree.", "code": "class Node:\n    def __init__(self, v):\n        self.v = v\n"
           "def value(node):\n    return node.v", "test_setup_code": "root = Node(3)",
           "test_list": ["assert value(root) == 3"], "challenge_test_list": []}
    problem = adapter.to_problem(row)
    grade = grade_text(adapter, problem, row["code"] + "\n[DONE]\nYou are an expert ...", executor)
    assert grade.correct and "[DONE]" not in grade.extracted_answer
    wrong = grade_text(adapter, problem, fenced("class Node:\n    def __init__(self, v):\n        self.v = v\n"
                                                "def value(node):\n    return 0"), executor)
    assert wrong.status == "wrong_answer" and wrong.details["failed_test"] == "assert value(root) == 3"


def test_mbpp_sanitized_rows_have_their_own_field_names():
    adapter = adapter_for("mbpp_sanitized")
    problem = adapter.to_problem({"source_file": "x", "task_id": 12, "prompt": "Do it.", "code": "def f():\n  return 1",
                                  "test_imports": ["import math"], "test_list": ["assert f() == 1"]})
    assert (problem.fields["text"], problem.fields["setup"], problem.fields["challenge_tests"]) == \
        ("Do it.", "import math", [])


# ---------------------------------------------------------------- HumanEval+ / MBPP+


def test_evalplus_float_tolerance_follows_evalplus():
    assert evalplus_equal("humaneval", "f", (), 0.1 + 0.2, 0.3, 0) == (True, 1e-6)        # atol forced for floats
    assert evalplus_equal("humaneval", "f", (), 0.30001, 0.3, 0)[0] is False
    assert evalplus_equal("humaneval", "f", (), [1.0, 2.0000001], [1.0, 2.0], 0)[0] is True
    assert evalplus_equal("humaneval", "f", (), (1.0, 2.0), [1.0, 2.0], 1e-6)[0] is False  # types must agree
    assert evalplus_equal("humaneval", "f", (), 3, 3.0, 0)[0] is True                      # == holds
    assert evalplus_equal("mbpp", "f", (), 1.00009, 1.0, 1e-4)[0] is True                  # per-task atol


def test_evalplus_special_oracles():
    assert evalplus_equal("mbpp", "similar_elements", (), (5, 4), (4, 5), 0)[0] is True
    assert evalplus_equal("mbpp", "sum_div", (), 0, 7, 0)[0] is True
    assert evalplus_equal("mbpp", "are_equivalent", (), False, True, 0)[0] is True
    coefficients = [-6, 11, -6, 1]   # (x-1)(x-2)(x-3)
    assert evalplus_equal("humaneval", "find_zero", (coefficients,), 2.0, 1.0, 1e-4)[0] is True
    assert evalplus_equal("humaneval", "find_zero", (coefficients,), 2.5, 1.0, 1e-4)[0] is False
    assert evalplus_equal("mbpp", "similar_elements", (), 5, (5,), 0)[0] is False         # set(5) raises


def test_mbpp_plus_inputs_get_their_tuples_sets_and_complex_numbers_back():
    assert mbpp_deserialize_inputs("Mbpp/2", [[[1, 2], [3]]]) == [[(1, 2), (3,)]]
    assert mbpp_deserialize_inputs("Mbpp/124", [[1, "(1+2j)"]]) == [(1.0, 1 + 2j)]
    assert mbpp_deserialize_inputs("Mbpp/115", [[[[1], []]]]) == [[[{1}, {}]]]
    assert mbpp_deserialize_inputs("Mbpp/580", [[[1, [2, 3]]]]) == [((1, (2, 3)),)]
    assert mbpp_deserialize_inputs("Mbpp/3", [[5]]) == [[5]]


def test_hub_rows_read_inputs_atol_and_function_from_the_generated_test_script():
    test = ("import numpy as np\ndef check(candidate):\n    inputs = [[(1, 2), float('inf')], [set(), 3]]\n"
            "    results = [1, 2]\n    for i, (inp, exp) in enumerate(zip(inputs, results)):\n"
            "        assertion(add_up(*inp), exp, 0.0001)\n")
    row = row_from_hub({"task_id": 7, "prompt": "Add up.", "code": "def add_up(a, b): ...", "test_list": ["assert x"],
                        "test": test, "source_file": "", "test_imports": []}, "mbpp")
    assert row["task_id"] == "Mbpp/7" and row["entry_point"] == "add_up" and row["atol"] == 0.0001
    assert row["plus_input"] == [[(1, 2), math.inf], [set(), 3]] and row["prompt"].startswith('"""\nAdd up.')


def _plus_problem(adapter, **changes):
    row = {"task_id": "Mbpp/900", "prompt": '"""\nDouble it.\n"""\n', "entry_point": "double",
           "canonical_solution": "def double(x):\n    return 2 * x\n", "base_input": [[1], [2]],
           "plus_input": [[0.5], [10 ** 6]], "atol": 0} | changes
    return adapter.to_problem(row)


def test_evalplus_grades_base_and_plus_apart_against_the_reference(executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    adapter = adapter_for("mbpp_plus")
    problem = _plus_problem(adapter)
    assert grade_text(adapter, problem, fenced("def double(x):\n    return x + x"), executor).status == "passed"
    grade = grade_text(adapter, problem, fenced("def double(x):\n    return 2 * int(x)"), executor)
    assert (grade.status, grade.details["base"]["passed"], grade.details["plus"]["failed_index"]) == \
        ("wrong_answer", True, 0)
    assert list(tmp_path.glob("evalplus/*.json")), "expected outputs are cached"


def test_evalplus_expected_outputs_come_from_the_cache_once_computed(executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    problem = _plus_problem(adapter_for("mbpp_plus"))
    grade_text(adapter_for("mbpp_plus"), problem, fenced("def double(x):\n    return 2 * x"), executor)
    fresh = InProcessExecutor()
    assert grade_text(adapter_for("mbpp_plus"), problem, fenced("def double(x):\n    return 2 * x"), fresh).correct
    assert len(fresh.calls) == 1   # only the candidate ran


def test_mbpp_plus_not_none_tasks_compare_only_none_ness(executor, tmp_path, monkeypatch):
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(tmp_path))
    adapter = adapter_for("mbpp_plus")
    problem = _plus_problem(adapter, entry_point="check_str", base_input=[["apple"], ["xyz"]], plus_input=[],
                            canonical_solution="import re\ndef check_str(s):\n    return re.search('^[aeiou]', s)\n")
    good = "def check_str(s):\n    return s[0] in 'aeiou' or None\n"
    assert grade_text(adapter, problem, fenced(good), executor).correct
    assert not grade_text(adapter, problem, fenced("def check_str(s):\n    return 1\n"), executor).correct


# ---------------------------------------------------------------- LiveCodeBench


STDIN_ROW = {"question_id": "abc999_a", "question_title": "Sum", "question_content": "Print A+B.",
             "platform": "atcoder", "contest_id": "abc999", "contest_date": "2024-09-01T00:00:00",
             "starter_code": "", "difficulty": "easy",
             "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
             "private_test_cases": None, "metadata": "{}"}
FUNC_ROW = {"question_id": "3000", "question_title": "pairs", "question_content": "Return pairs.",
            "platform": "leetcode", "contest_id": "weekly-1", "contest_date": "2025-01-10T00:00:00",
            "starter_code": "class Solution:\n    def pairs(self, n: int, xs: List[int]) -> List[int]:\n        ",
            "difficulty": "medium",
            "public_test_cases": json.dumps([{"input": "2\n[1, 2]", "output": "[2, 1, 2]", "testtype": "functional"}]),
            "private_test_cases": None, "metadata": json.dumps({"func_name": "pairs"})}


def test_private_tests_are_base64_zlib_pickled_json():
    cases = [{"input": "5\n", "output": "25\n", "testtype": "stdin"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()
    assert decode_tests(packed) == cases and decode_tests(json.dumps(cases)) == cases and decode_tests(None) == []


def test_stdout_is_compared_line_by_line_after_stripping_with_decimals():
    assert lines_match("3 \n 4\n\n", "3\n4")
    assert lines_match("0.50 1\n", "0.5 1")
    assert not lines_match("3\n4", "3 4")
    assert not lines_match("0.5000001", "0.5")
    assert not lines_match("Yes", "YES")


def test_functional_values_count_tuples_as_lists():
    assert value_matches((1, 2), [1, 2]) and value_matches(2, 2.0) and not value_matches([[1, 2]], [(1, 2)])


def test_windows_in_month_and_day_notation():
    assert parse_window("2408-2502") == (datetime.date(2024, 8, 1), datetime.date(2025, 2, 1))
    assert parse_window("2024-08-01..2025-01-31") == (datetime.date(2024, 8, 1), datetime.date(2025, 2, 1))
    with pytest.raises(Exception, match="window"):
        parse_window("August")


def test_lcb_prompts_use_its_own_formats():
    adapter = adapter_for("livecodebench")
    stdin_prompt = adapter.prompt(adapter.to_problem(STDIN_ROW), "chat").messages[0]["content"]
    assert stdin_prompt.startswith("### Question:\nPrint A+B.") and "Read the inputs from stdin" in stdin_prompt
    func_prompt = adapter.prompt(adapter.to_problem(FUNC_ROW), "chat").messages[0]["content"]
    assert FUNC_ROW["starter_code"] in func_prompt and "starter code" in func_prompt
    assert func_prompt.endswith("### Answer: (use the provided format with backticks)\n\n")


def test_lcb_window_card_selects_by_contest_date():
    adapter = adapter_for("livecodebench_v5_2408_2502")
    old = adapter.to_problem({**STDIN_ROW, "question_id": "old", "contest_date": "2024-07-31T00:00:00"})
    assert [p.problem_id for p in adapter.select([old, adapter.to_problem(STDIN_ROW)])] == ["abc999_a"]


def test_lcb_stdin_grading(executor):
    adapter = adapter_for("livecodebench")
    problem = adapter.to_problem(STDIN_ROW)
    ok = "a, b = map(int, input().split())\nprint(a + b)"
    assert grade_text(adapter, problem, fenced(ok), executor).status == "passed"
    wrong = grade_text(adapter, problem, fenced("print(0)"), executor)
    assert wrong.status == "wrong_answer" and wrong.details["expected"] == "3\n"
    # the official preamble: `from math import *` then `from builtins import *` keeps 3-argument pow
    assert grade_text(adapter, problem, fenced("print(pow(3, 1, 7))"), executor).correct


def test_lcb_functional_grading_calls_solution_with_json_arguments(executor):
    adapter = adapter_for("livecodebench")
    problem = adapter.to_problem(FUNC_ROW)
    good = "class Solution:\n    def pairs(self, n, xs):\n        return (n, *xs)"
    assert grade_text(adapter, problem, fenced(good), executor).correct
    bad = "class Solution:\n    def pairs(self, n, xs):\n        return [n]"
    assert grade_text(adapter, problem, fenced(bad), executor).status == "wrong_answer"
    assert executor.calls[0][0].entry_point == "Solution.pairs" and executor.calls[0][0].tests == ((2, [1, 2]),)


def test_lcb_local_data_is_flagged_public_tests_only(data_dir):
    from kateval.tasks import load_task

    task = load_task("livecodebench", data_dir)
    assert task.source.flags["public_tests_only"] is True and len(task.problems) == 879
    assert len(load_task("livecodebench_v5_2408_2502", data_dir).selected) == 279


def test_mbpp_literal_asserts_become_call_tests():
    from kateval.tasks.mbpp import literal_calls

    assert literal_calls(["assert f((1, 2), 'a') == [1]", "assert f([]) == None"], "f") == [(((1, 2), "a"), [1]),
                                                                                         (([],), None)]
    assert literal_calls(["assert set(f(1)) == {1}"], "f") is None          # not a bare call of the entry point
    assert literal_calls(["assert f(x) == 1"], "f") is None                 # an argument that is not a literal
    assert literal_calls(["assert f(1) == 1, 'msg'"], "f") is None
    assert literal_calls(["assert math.isclose(f(1), 1.0)"], "f") is None
    assert literal_calls(["assert f(1) == 1"], None) is None
