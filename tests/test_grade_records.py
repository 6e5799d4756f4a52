"""Whole records from `kateval score`: mode, well_formed, truncated, status, correct and the extracted answer for
KAT, Qwen3, R1 and plain outputs, finished and cut (gold of 2024-I-1 is 204)."""
import json

import pytest

from kateval.cli import main
from kateval.store import iter_records

J = "<judge>\n"
FIELDS = ("mode", "well_formed", "truncated", "status", "correct", "extracted_answer")


def grade_lines(tmp_path, data_dir, lines):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"task": "aime24", "problem_id": "2024-I-1", **line}) + "\n" for line in lines))
    assert main(["score", str(src), "--out", str(tmp_path / "run"), "--data-dir", str(data_dir), "--no-progress"]) == 0
    return sorted(iter_records(tmp_path / "run"), key=lambda r: r["sample_index"])


CASES = [
    # KAT, finished
    ({"completion": "Hard.</judge><think_on><think>t</think><answer>So \\boxed{204}.</answer>", "prefix": J,
      "finish_reason": "stop"}, ("on", True, False, "correct", True, "204")),
    ({"completion": "Easy.</judge><think_off><answer>**Answer:** **204**</answer>", "prefix": J,
      "finish_reason": "stop"}, ("off", True, False, "correct", True, "204")),
    # KAT: text after <think_off> with no <answer> block is not the answer
    ({"completion": "Easy.</judge><think_off>\nThe answer is \\boxed{204}.", "prefix": J, "finish_reason": "stop"},
     ("off", False, False, "no_answer", False, None)),
    # ... and a cut there is truncated, a half-written tag included
    ({"completion": "Easy.</judge><think_off>\nLet me see", "prefix": J, "finish_reason": "length"},
     ("off", False, True, "truncated", False, None)),
    ({"completion": "Hard.</judge><think_on><think>t</think>\n<ans", "prefix": J, "finish_reason": "length"},
     ("on", False, True, "truncated", False, None)),
    # KAT: cut inside <answer> before a final answer: truncated, nothing made up from the working
    ({"completion": "Hard.</judge><think_on><think>t</think><answer>Since x = \\tfrac13, we", "prefix": J,
      "finish_reason": "length"}, ("on", False, True, "truncated", False, None)),
    ({"completion": "Hard.</judge><think_on><think>t</think><answer>The answer is \\boxed{20", "prefix": J,
      "finish_reason": "length"}, ("on", False, True, "truncated", False, None)),
    # KAT: the answer closed before the cut is whole
    ({"completion": "Hard.</judge><think_on><think>t</think><answer>Answer: 204</answer>\n\nExtra", "prefix": J,
      "finish_reason": "length"}, ("on", False, True, "correct", True, "204")),
    # KAT: malformed structures, still graded on the answer block
    ({"completion": "Hard <think_off><answer>\\boxed{204}</answer>", "prefix": J, "finish_reason": "stop"},
     ("off", False, False, "correct", True, "204")),
    ({"completion": "a</judge><judge>b</judge><think_off><answer>\\boxed{204}</answer>", "prefix": J,
      "finish_reason": "stop"}, ("off", False, False, "correct", True, "204")),
    ({"completion": "a</judge><think_on>\nthought</think><answer>\\boxed{204}</answer>", "prefix": J,
      "finish_reason": "stop"}, ("on", False, False, "correct", True, "204")),
    # Qwen3
    ({"completion": "<think>\nwork\n</think>\n\nThe answer is 204.", "finish_reason": "stop"},
     ("on", True, False, "correct", True, "204")),
    ({"completion": "<think>\nwork\n</think>\n\nThe answer is 20", "finish_reason": "length"},
     ("on", True, True, "truncated", False, None)),
    ({"completion": "<think>\nwork, still working", "finish_reason": "length"},
     ("on", False, True, "truncated", False, None)),
    ({"completion": "<think>\nwork\n</think>\n\nEither \\boxed{204} or \\boxed{205}.", "finish_reason": "stop"},
     ("on", True, False, "no_answer", False, None)),
    # R1: the prompt opened the thought
    ({"completion": "work\n</think>\n\n**Final Answer**\n\\boxed{204}", "prefix": "<think>\n",
      "finish_reason": "stop"}, ("on", True, False, "correct", True, "204")),
    ({"completion": "work\n</think>\n\nThe final answer is \\boxed{205}", "prefix": "<think>\n",
      "finish_reason": "stop"}, ("on", True, False, "wrong_answer", False, "205")),
    # plain
    ({"completion": "We get 3 apples and 5 pears, so 204 in all.", "finish_reason": "stop"},
     ("none", True, False, "correct", True, "204")),
    ({"completion": "We get 3 apples and 5 pears, so 204", "finish_reason": "length"},
     ("none", True, True, "truncated", False, None)),
]


@pytest.fixture(scope="module")
def records(tmp_path_factory, data_dir):
    lines = [{**line, "sample_index": i} for i, (line, _) in enumerate(CASES)]
    return grade_lines(tmp_path_factory.mktemp("grade"), data_dir, lines)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_record_fields(records, index):
    record = records[index]
    assert tuple(record[field] for field in FIELDS) == CASES[index][1], CASES[index][0]["completion"]
