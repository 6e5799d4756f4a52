"""A kateval run written in lm-evaluation-harness's output layout, so tools that read lm-eval output read it.

As lm-eval's EvaluationTracker does, it writes `<out>/<model>/results_<date>.json` (results, configs, versions,
n-shot, higher_is_better, n-samples, config ...) and one `samples_<task>_<date>.jsonl` per task, a line per
document and filter (doc_id, doc, target, arguments, resps, filtered_resps, filter, metrics, hashes, metric
values). kateval's accounting rides along: a top-level `kateval` block in the results (the run summary per task)
and a `kateval` field on each sample line (mode and token counts of every sample).

`lm_eval:` tasks keep lm-eval's filters and metrics (graded on the answer segment). Other tasks get one filter,
"none", and one metric: pass@1 for code tasks, exact_match otherwise. With n samples per problem a document's
metric is the mean over its samples, its `resps` holds all n and `filtered_resps` one value per sample; a sample
cut off before its answer scores 0. The date in the file names is the run's start, so exports are repeatable.
"""
from __future__ import annotations

import datetime
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from kateval import __version__
from kateval.report.summary import summarize
from kateval.store import iter_records, json_text, read_run_meta
from kateval.types import KatevalError

ACCOUNTING = ("sample_index", "mode", "well_formed", "finish_reason", "truncated", "status", "correct",
              "extracted_answer", "prompt_tokens", "cached_prompt_tokens", "completion_tokens", "judge_tokens",
              "think_tokens", "answer_tokens", "other_tokens")
CODE_STATUSES = frozenset({"passed", "runtime_error", "timeout", "memory", "no_code", "sandbox_error"})
BOOTSTRAP_ITERS = 1000   # only for metrics without a closed-form standard error (lm-eval's bleu, f1 ...)


def export_lm_eval(run_dir: Path, out: Path) -> list[Path]:
    """Writes the files and returns their paths (results first)."""
    from lm_eval.utils import sanitize_model_name

    meta = read_run_meta(run_dir)
    tasks = _records_by_task(run_dir)
    if not tasks:
        raise KatevalError(f"{run_dir}: no samples stored yet; nothing to export")
    model = _model_name(meta)
    folder = Path(out) / sanitize_model_name(model)
    folder.mkdir(parents=True, exist_ok=True)
    date_id = _date_id(meta)
    results: dict[str, Any] = {key: {} for key in ("results", "group_subtasks", "configs", "versions", "n-shot",
                                                   "higher_is_better", "n-samples")}
    views = {name: TaskView(name, meta.get("tasks", {}).get(name, {}), docs) for name, docs in tasks.items()}
    written, hashes = [], {}
    for view in views.values():
        lines = [line for pid, records in view.docs.items() for line in view.sample_lines(pid, records)]
        path = folder / f"samples_{view.lm_name}_{date_id}.jsonl"
        path.write_text("".join(json_text(line) + "\n" for line in lines), encoding="utf-8")
        written.append(path)
        hashes[view.lm_name] = _hash("".join(ln["doc_hash"] + ln["prompt_hash"] + ln["target_hash"] for ln in lines))
        view.add_results(results)
    results.update(_run_block(meta, model, hashes))
    results["kateval"] = _accounting(run_dir, {name: view.lm_name for name, view in views.items()})
    results_path = folder / f"results_{date_id}.json"
    results_path.write_text(json_text(results, indent=2) + "\n", encoding="utf-8")
    return [results_path, *written]


def _records_by_task(run_dir: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """task -> problem id (in order of first appearance) -> records by sample index."""
    tasks: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in iter_records(run_dir):
        tasks[record["task"]][record["problem_id"]].append(record)
    for docs in tasks.values():
        for records in docs.values():
            records.sort(key=lambda r: r["sample_index"])
    return tasks


class TaskView:
    """One task as lm-eval would name, configure and score it, from run.json's facts about it."""

    def __init__(self, name: str, facts: dict[str, Any], docs: dict[str, list[dict[str, Any]]]):
        self.name, self.facts, self.docs = name, facts, docs
        self.params = facts.get("params") or {}
        self.native = not name.startswith("lm_eval:")
        self.lm_name = name if self.native else self.params.get("lm_eval_task", name.split(":", 1)[1])
        self.doc_ids = {pid: index for index, pid in enumerate(docs)}
        graded = [r["grade_details"]["lm_eval"] for records in docs.values() for r in records
                  if "lm_eval" in (r.get("grade_details") or {})]
        self.metrics = self._metric_names(docs, graded)

    def _metric_names(self, docs, graded) -> dict[str, list[str]]:
        """filter -> metric names, in lm-eval's order."""
        if self.native:
            statuses = {r.get("status") for records in docs.values() for r in records}
            return {"none": ["pass@1" if statuses & CODE_STATUSES else "exact_match"]}
        names: dict[str, list[str]] = {}
        for per_filter in graded:
            for filter_name, values in per_filter.items():
                known = names.setdefault(filter_name, [])
                known.extend(m for m in values if m not in known)
        if names:
            return names
        filters = [f["name"] for f in (self.params.get("config") or {}).get("filter_list") or []] or ["none"]
        return {f: list(self.params.get("aggregation") or {}) for f in filters}

    def sample_values(self, record: dict[str, Any], filter_name: str, metric: str) -> Any:
        if self.native:
            return float(bool(record["correct"]))
        return (record.get("grade_details") or {}).get("lm_eval", {}).get(filter_name, {}).get(metric, 0.0)

    def sample_lines(self, problem_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from lm_eval.utils import handle_non_serializable, hash_string

        details = next((r["grade_details"] for r in records if "doc" in (r.get("grade_details") or {})), {})
        doc = details.get("doc", {"task": self.name, "problem_id": problem_id})
        target = str(details.get("target", ""))
        context = details.get("context", "")
        doc_id = details.get("doc_id", int(problem_id) if not self.native else self.doc_ids[problem_id])
        common = {
            "doc_id": doc_id, "doc": doc, "target": target,
            "arguments": {"gen_args_0": {"arg_0": context, "arg_1": self.params.get("generation_kwargs", {})}},
            "resps": [[r.get("completion") for r in records]],
        }
        hashes = {"doc_hash": hash_string(json.dumps(doc, indent=2, default=handle_non_serializable,
                                                     ensure_ascii=False)),
                  "prompt_hash": hash_string(context), "target_hash": hash_string(target)}
        extra = {"kateval": {"task": self.name, "problem_id": problem_id,
                             "samples": [{key: r.get(key) for key in ACCOUNTING} for r in records]}}
        return [{**common, "filtered_resps": [self._filtered(r, filter_name) for r in records],
                 "filter": filter_name, "metrics": metrics, **hashes,
                 **{m: _doc_value([self.sample_values(r, filter_name, m) for r in records]) for m in metrics},
                 **extra}
                for filter_name, metrics in self.metrics.items()]

    def _filtered(self, record: dict[str, Any], filter_name: str) -> Any:
        if self.native:
            return record.get("extracted_answer") or ""
        return (record.get("grade_details") or {}).get("filtered_resps", {}).get(filter_name, "")

    def add_results(self, results: dict[str, Any]) -> None:
        name = self.lm_name
        entry: dict[str, Any] = {"name": name, "alias": name, "sample_len": len(self.docs)}
        aggregation = self.params.get("aggregation") or {}
        for filter_name, metrics in self.metrics.items():
            for metric in metrics:
                # every sample weighs once, so a corpus-level aggregation (bleu ...) sees them all
                values = [self.sample_values(r, filter_name, metric) for records in self.docs.values() for r in records]
                entry[f"{metric},{filter_name}"], entry[f"{metric}_stderr,{filter_name}"] = _aggregate(
                    aggregation.get(metric, "mean"), values)
        results["results"][name] = entry
        results["group_subtasks"][name] = []
        results["configs"][name] = self.params.get("config") or {"task": name, "kateval_task": self.name, **{
            k: v for k, v in self.facts.items() if k != "params"}, "params": self.params}
        results["versions"][name] = _version(self.facts.get("version"))
        results["n-shot"][name] = self.params.get("num_fewshot", 0)
        results["higher_is_better"][name] = self.params.get("higher_is_better") or {
            m: True for metrics in self.metrics.values() for m in metrics}
        results["n-samples"][name] = {"original": self.facts.get("problems", entry["sample_len"]),
                                      "effective": entry["sample_len"]}


def _doc_value(values: list[Any]) -> Any:
    """A document's metric: the mean over its samples (the value itself for one sample, or for non-numbers)."""
    if len(values) == 1 or not all(isinstance(v, (int, float)) for v in values):
        return values[0]
    return sum(values) / len(values)


def _aggregate(name: str, values: list[Any]) -> tuple[Any, Any]:
    from lm_eval.api.metrics import mean, stderr_for_metric
    from lm_eval.api.registry import get_aggregation

    if not values:
        return "N/A", "N/A"
    try:
        function = get_aggregation(name) or mean
    except (KeyError, ValueError):
        function = mean
    stderr = stderr_for_metric(function, BOOTSTRAP_ITERS)
    return function(values), (stderr(values) if stderr and len(values) > 1 else "N/A")


def _version(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _model_name(meta: dict[str, Any]) -> str:
    backend = meta.get("backend") or {}
    return str(backend.get("model") or (meta.get("backend_config") or {}).get("model") or backend.get("backend")
               or "kateval")


def _start(meta: dict[str, Any]) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(meta["started"])
    except (KeyError, TypeError, ValueError):
        raise KatevalError("run.json has no valid 'started' time; is this a kateval run directory?") from None


def _date_id(meta: dict[str, Any]) -> str:
    """lm-eval's file-name date: datetime.isoformat() with ':' replaced."""
    return _start(meta).replace(tzinfo=None).isoformat(timespec="microseconds").replace(":", "-")


def _hash(text: str) -> str:
    from lm_eval.utils import hash_string

    return hash_string(text)


def _run_block(meta: dict[str, Any], model: str, hashes: dict[str, str]) -> dict[str, Any]:
    import lm_eval
    from lm_eval.utils import sanitize_model_name

    sampling = meta.get("sampling") or {}
    lm_eval_tasks = [facts for name, facts in (meta.get("tasks") or {}).items() if name.startswith("lm_eval:")]
    started = _start(meta)
    try:
        elapsed = str((datetime.datetime.fromisoformat(meta["ended"]) - started).total_seconds())
    except (KeyError, TypeError, ValueError):
        elapsed = None
    return {
        "config": {"model": f"kateval-{(meta.get('backend') or {}).get('backend', 'run')}", "model_args": model,
                   "batch_size": None, "batch_sizes": [], "device": None, "use_cache": None,
                   "limit": (meta.get("identity") or {}).get("limit"), "bootstrap_iters": BOOTSTRAP_ITERS,
                   "gen_kwargs": sampling or None, "random_seed": sampling.get("seed"), "numpy_seed": None,
                   "torch_seed": None,
                   "fewshot_seed": lm_eval_tasks[0]["params"].get("fewshot_seed") if lm_eval_tasks else None},
        "git_hash": (meta.get("git_commit") or "")[:7] or None, "date": started.timestamp(),
        "lm_eval_version": lm_eval.__version__, "task_hashes": hashes, "model_source": "kateval",
        "model_name": model, "model_name_sanitized": sanitize_model_name(model),
        "system_instruction": None, "system_instruction_sha": None,
        "fewshot_as_multiturn": (meta.get("backend_config") or {}).get("prompt_style", "chat") == "chat",
        "chat_template": None, "chat_template_sha": None, "total_evaluation_time_seconds": elapsed,
    }


def _accounting(run_dir: Path, lm_names: dict[str, str]) -> dict[str, Any]:
    summary = summarize(run_dir)
    return {"run_dir": str(run_dir), "kateval_version": __version__,
            "tasks": {lm_names.get(name, name): facts for name, facts in (summary.get("tasks") or {}).items()}}
