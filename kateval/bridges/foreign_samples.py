"""Sample files written by other tools, read line by line into Completions for `kateval score`.

- lm-eval `--log_samples` output (`samples_<task>_<date>.jsonl`; lines carry doc_id, doc, resps): every response
  of a document becomes one sample (lm-eval writes a document once per filter; the first line is used). The
  lm-eval task is named by the file, and maps to a kateval task by `--task-map`, else to the kateval task of the
  same name (aime24, aime25 ...), else to `lm_eval:<task>`, graded by lm-eval's own scoring. For a kateval task the
  problem id is the document's `problem_id`, `id`, `ID` or `task_id` field; for `lm_eval:` tasks it is doc_id.
- evalplus `samples.jsonl` (task_id "HumanEval/0" or "Mbpp/2", with `solution` or `completion`): the dataset
  half of the task id maps to humaneval_plus or mbpp_plus, or as `--task-map HumanEval=humaneval` says.
Both carry text only: token counts come from the tokenizer given to `kateval score`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kateval.types import Completion, KatevalError

EVALPLUS_TASKS = {"HumanEval": "humaneval_plus", "Mbpp": "mbpp_plus"}
NUMBERED_TASKS = ("mbpp", "mbpp_sanitized")   # the plain MBPP tasks name a problem by its bare number
DOC_ID_FIELDS = ("problem_id", "id", "ID", "task_id")


def parse_task_map(items: Iterable[str]) -> dict[str, str]:
    """`--task-map SOURCE=KATEVAL` options (repeatable, or comma-separated)."""
    mapping = {}
    for item in (part for entry in items for part in entry.split(",") if part.strip()):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise KatevalError(f"--task-map wants SOURCE=KATEVAL_TASK, got '{item}'")
        mapping[source.strip()] = target.strip()
    return mapping


def is_foreign(row: Any) -> bool:
    return isinstance(row, dict) and "task" not in row and (
        ("doc_id" in row and "resps" in row) or ("task_id" in row and ("solution" in row or "completion" in row)))


class ForeignRows:
    """Converts the lines of one file; remembers which documents it has seen and how many samples each has."""

    def __init__(self, file_name: str, task_map: dict[str, str], kateval_tasks: Iterable[str]):
        self.file_name = file_name
        self.task_map = task_map
        self.kateval_tasks = set(kateval_tasks)
        self.seen_docs: set[str] = set()
        self.next_index: dict[tuple[str, str], int] = defaultdict(int)

    def completions(self, row: dict[str, Any]) -> list[Completion]:
        return self._lm_eval(row) if "resps" in row else [self._evalplus(row)]

    def _lm_eval(self, row: dict[str, Any]) -> list[Completion]:
        source = lm_eval_task_of(self.file_name)
        task = self.task_map.get(source) or (source if source in self.kateval_tasks else f"lm_eval:{source}")
        key = str(row["doc_id"])
        if key in self.seen_docs:
            return []   # the same document again, under another filter
        self.seen_docs.add(key)
        doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
        problem_id = key if task.startswith("lm_eval:") else next(
            (str(doc[field]) for field in DOC_ID_FIELDS if doc.get(field) is not None), key)
        responses = row["resps"][0] if row["resps"] and isinstance(row["resps"][0], list) else row["resps"]
        if not all(isinstance(text, str) for text in responses):
            raise TypeError("'resps' must hold generated text (a generate_until task)")
        return [Completion(task, problem_id, index, text, None, None,
                           extra={"source": "lm_eval", "lm_eval_task": source, "doc_id": row["doc_id"]})
                for index, text in enumerate(responses)]

    def _evalplus(self, row: dict[str, Any]) -> Completion:
        task_id = str(row["task_id"])
        dataset, _, number = task_id.partition("/")
        task = self.task_map.get(dataset) or EVALPLUS_TASKS.get(dataset)
        if task is None:
            raise ValueError(f"evalplus task_id '{task_id}' is neither HumanEval/N nor Mbpp/N "
                             "(map its prefix with --task-map PREFIX=TASK)")
        text = row.get("solution") if row.get("solution") is not None else row["completion"]
        if not isinstance(text, str):
            raise TypeError("'solution' / 'completion' must be a string")
        problem_id = number if task in NUMBERED_TASKS else task_id
        index = self.next_index[(task, problem_id)]
        self.next_index[(task, problem_id)] += 1
        return Completion(task, problem_id, index, text, None, None, extra={"source": "evalplus", "task_id": task_id})


def lm_eval_task_of(file_name: str) -> str:
    """lm-eval names its sample files samples_<task>_<date>.jsonl."""
    from lm_eval.utils import get_file_task_name

    if not file_name.startswith("samples_") or file_name.count("_") < 2:
        raise ValueError(f"cannot tell the lm-eval task: keep lm-eval's file name samples_<task>_<date>.jsonl "
                         f"(got {file_name})")
    return get_file_task_name(file_name)
