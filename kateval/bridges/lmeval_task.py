"""`lm_eval:NAME`: a generate-until task of lm-evaluation-harness run through kateval's backends.

lm-eval builds the prompts (doc_to_text, few-shot examples drawn with its own seed, description as a system turn)
and scores them (its filters, then process_results). kateval does the rest: the backend gets the chat messages
lm-eval would hand a chat template, the AutoThink parser splits the output, and only the answer segment goes
through lm-eval's scoring, so a model's thinking never reaches its regexes. Per-sample mode and token counts
follow from kateval's pipeline as for any task.

NAME is a task lm-eval knows (its built-in tasks plus the folders listed in $KATEVAL_LM_EVAL_INCLUDE, separated
like PATH) or the path of a task YAML file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from kateval.codegrade import cut_at_stops
from kateval.tasks import LoadedTask
from kateval.tasks.base import DataSource, TaskAdapter, TaskCard
from kateval.types import Completion, Executor, Grade, KatevalError, ParsedOutput, Problem, Prompt

PREFIX = "lm_eval:"
INCLUDE_ENV = "KATEVAL_LM_EVAL_INCLUDE"
INVALID = "[invalid]"   # what lm-eval's regex filter yields when nothing matched


def load_lm_eval_task(name: str) -> LoadedTask:
    spec = name[len(PREFIX):]
    task = build_lm_eval_task(spec)
    card = TaskCard(name=name, adapter=__name__, version=str(task.VERSION),
                    description=f"lm-evaluation-harness task {task.task_name}", data={"lm_eval": spec},
                    prompt={}, params=task_params(task))
    adapter = LmEvalAdapter(card, task)
    rows = build_rows(task)
    problems = tuple(adapter.to_problem(row) for row in rows)
    return LoadedTask(card, adapter, problems, problems, data_source(task, rows))


def build_lm_eval_task(spec: str):
    from lm_eval.tasks import TaskManager

    include = [p for p in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if p]
    try:
        if Path(spec).suffix in (".yaml", ".yml"):
            if not Path(spec).is_file():
                raise KatevalError(f"lm-eval task file {spec} not found")
            loaded = TaskManager(include_path=include or None, include_defaults=False).load([spec])
        else:
            # Indexing lm-eval's own thousands of task files takes seconds: look in the user's folders first.
            manager = TaskManager(include_path=include, include_defaults=False) if include else None
            if manager is None or spec not in manager.all_tasks:
                manager = TaskManager(include_path=include or None)
            if spec not in manager.all_tasks:
                raise KatevalError(f"lm-eval knows no task '{spec}' (add its folder to ${INCLUDE_ENV} "
                                   "or give the path of its YAML file)")
            loaded = manager.load([spec])
    except KatevalError:
        raise
    except Exception as exc:  # dataset download, a broken YAML, a missing !function module
        raise KatevalError(f"lm-eval task '{spec}' could not be loaded ({type(exc).__name__}: {exc})") from exc
    tasks = loaded["tasks"]
    if len(tasks) != 1:
        raise KatevalError(f"lm-eval '{spec}' is a group of {len(tasks)} tasks; name one: {', '.join(sorted(tasks))}")
    task = next(iter(tasks.values()))
    if task.OUTPUT_TYPE != "generate_until":
        raise KatevalError(f"lm-eval task '{spec}' is {task.OUTPUT_TYPE}; kateval runs generate_until tasks only")
    return task


class _MessageCapture:
    """Stands in for lm-eval's chat template: it receives the messages lm-eval built, which the backend then
    renders with the model's own template."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []

    def __call__(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        self.messages = messages
        return ""


def build_rows(task) -> list[dict[str, Any]]:
    """One row per document, in lm-eval's order: the plain-text context and the chat messages. Each form is
    built in its own pass from a freshly seeded sampler, so both draw the same few-shot examples lm-eval would."""
    from lm_eval.defaults import DEFAULT_OTHER_SEED

    docs = list(task.eval_docs)
    shots = task.config.num_fewshot or 0
    forms: dict[str, list[Any]] = {}
    for form in ("text", "chat"):
        task.set_fewshot_seed(seed=DEFAULT_OTHER_SEED)
        capture = _MessageCapture() if form == "chat" else None
        contexts = []
        for doc in docs:
            text = task.fewshot_context(doc=doc, num_fewshot=shots, apply_chat_template=capture is not None,
                                        fewshot_as_multiturn=True, chat_template=capture,
                                        gen_prefix=task.doc_to_prefix(doc))
            contexts.append(capture.messages if capture is not None else text)
        forms[form] = contexts
    return [{"doc_id": i, "doc": plain(doc), "target": plain(task.doc_to_target(doc)), "text": forms["text"][i],
             "chat": forms["chat"][i]} for i, doc in enumerate(docs)]


def task_params(task) -> dict[str, Any]:
    """What run.json records about the task, and what `kateval export` needs to write lm-eval's results."""
    import lm_eval
    from lm_eval.defaults import DEFAULT_OTHER_SEED

    return plain({
        "lm_eval_version": lm_eval.__version__, "lm_eval_task": task.task_name,
        "num_fewshot": task.config.num_fewshot or 0, "fewshot_seed": DEFAULT_OTHER_SEED,
        "generation_kwargs": task.config.generation_kwargs or {},
        "higher_is_better": task.higher_is_better(),
        "aggregation": {metric: getattr(fn, "__name__", str(fn)) for metric, fn in task.aggregation().items()},
        "config": task.dump_config(),
    })


def data_source(task, rows: list[dict[str, Any]]) -> DataSource:
    config = task.config
    location = " ".join(str(part) for part in (config.dataset_path, config.dataset_name) if part)
    data_files = (config.dataset_kwargs or {}).get("data_files")
    if data_files:
        location += f" {json.dumps(plain(data_files))}"
    digest = hashlib.sha256(json.dumps([row["doc"] for row in rows], sort_keys=True).encode()).hexdigest()
    return DataSource("lm_eval", location, (config.dataset_kwargs or {}).get("revision"), digest)


def plain(value: Any) -> Any:
    """JSON-safe copy (numpy numbers, sets, functions named by str), as lm-eval writes its own logs."""
    from lm_eval.utils import handle_non_serializable

    return json.loads(json.dumps(value, default=handle_non_serializable))


class LmEvalAdapter(TaskAdapter):
    def __init__(self, card: TaskCard, task):
        super().__init__(card)
        self.task = task
        until = (task.config.generation_kwargs or {}).get("until") or []
        self.stops = [until] if isinstance(until, str) else list(until)

    def to_problem(self, row: dict[str, Any]) -> Problem:
        return Problem(task=self.card.name, problem_id=str(row["doc_id"]), fields=row)

    def prompt(self, problem: Problem, style: str = "chat") -> Prompt:
        if style == "chat":
            return Prompt(messages=tuple(problem.fields["chat"]))
        return Prompt(text=problem.fields["text"])

    def reference_answer(self, problem: Problem) -> str:
        target = problem.fields["target"]
        return str(target[0] if isinstance(target, list) else target)

    def grade(self, problem: Problem, parsed: ParsedOutput, completion: Completion,
              executor: Executor | None) -> Grade:
        return self.grade_batch([(problem, parsed, completion)], executor)[0]

    def grade_batch(self, items: list[tuple[Problem, ParsedOutput, Completion]],
                    executor: Executor | None) -> list[Grade]:
        from lm_eval.api.instance import Instance

        instances = [Instance("generate_until", problem.fields["doc"], (problem.fields["text"], {}), 0,
                              metadata=(self.task.task_name, problem.fields["doc_id"], 1),
                              # lm-eval ends a generation at its first `until` string; only the answer is cut here
                              resps=[cut_at_stops(parsed.answer, self.stops)])
                     for problem, parsed, _ in items]
        # lm-eval's filters run over a task's whole instance list, as its evaluator does after generation.
        self.task._instances = instances
        self.task.apply_filters()
        return [self._grade(problem, instance) for (problem, _, _), instance in zip(items, instances)]

    def _grade(self, problem: Problem, instance) -> Grade:
        doc = problem.fields["doc"]
        metrics = {name: plain(self.task.process_results(doc, [resp]))
                   for name, resp in instance.filtered_resps.items()}
        filtered = plain(instance.filtered_resps)
        first_filter = next(iter(metrics))
        first_metric = next(iter(metrics[first_filter]), None)
        correct = first_metric is not None and full_marks(metrics[first_filter][first_metric])
        extracted = filtered[first_filter]
        extracted = str(extracted[0] if isinstance(extracted, list) and extracted else extracted)
        status = "correct" if correct else ("no_answer" if extracted in ("", INVALID) else "wrong_answer")
        return Grade(correct, status, extracted, {
            "lm_eval": metrics, "filtered_resps": filtered, "doc_id": problem.fields["doc_id"], "doc": doc,
            "target": problem.fields["target"], "context": problem.fields["text"]})


def full_marks(value: Any) -> bool:
    """A sample is correct when the task's first metric reaches 1 (exact_match, acc, pass@1 ...)."""
    return not isinstance(value, (list, dict, str)) and value is not None and float(value) >= 1.0
