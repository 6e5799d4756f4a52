"""`kateval score`: grade completions produced elsewhere into a run directory."""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from kateval import __version__, runinfo
from kateval.completions_io import good_completions
from kateval.grading import Tokenizer, grade_completions
from kateval.progress import progress_bar
from kateval.store import RunStore
from kateval.tasks import LoadedTask, available_cards, load_task
from kateval.tasks.base import sha256_of
from kateval.types import Completion, ExecLimits

BATCH = 256


def score_file(samples_path: Path, out: Path, data_dir: str | None = None, tokenizer: Tokenizer | None = None,
               tokenizer_name: str | None = None, workers: int | None = None,
               exec_limits: ExecLimits | None = None, show_progress: bool = True,
               task_map: dict[str, str] | None = None) -> tuple[Path, int]:
    """Returns the run directory and the number of bad lines."""
    samples_path = Path(samples_path)
    readable, bad = good_completions(samples_path, task_map)
    good: dict[str, list[Completion]] = defaultdict(list)
    for completion in readable:
        good[completion.task].append(completion)
    known_tasks = available_cards()
    for name in [n for n in good if n not in known_tasks and not n.startswith("lm_eval:")]:
        skipped = good.pop(name)
        bad += len(skipped)
        print(f"kateval: {samples_path}: unknown task '{name}'; its {len(skipped)} line(s) skipped", file=sys.stderr)
    tasks = {name: load_task(name, data_dir) for name in sorted(good)}
    store = RunStore(out)
    done = store.open(
        {"source": str(samples_path.resolve()), "source_sha256": sha256_of(samples_path), "tokenizer": tokenizer_name,
         "task_map": task_map or {}},
        {"kateval_version": __version__, "git_commit": runinfo.git_commit(), "started": runinfo.now(),
         "machine": runinfo.machine(), "backend": {"backend": "score", "source": str(samples_path)},
         "tasks": runinfo.task_facts(list(tasks.values()), None)})
    todo = {name: [c for c in items if (c.task, c.problem_id, c.sample_index) not in done]
            for name, items in good.items()}
    executor = _executor_for(tasks.values(), workers, exec_limits or ExecLimits())
    try:
        if executor is not None:
            store.update_meta(executor=executor.describe())
        with progress_bar(sum(map(len, todo.values())), "samples", enabled=show_progress) as bar:
            for name, completions in todo.items():
                bad += _score_task(tasks[name], completions, tokenizer, executor, store, bar)
    finally:
        if executor is not None:
            executor.close()
    store.update_meta(ended=runinfo.now(), bad_lines=bad)
    return out, bad


def _score_task(task: LoadedTask, completions: list[Completion], tokenizer, executor, store, bar) -> int:
    known = task.by_id
    unknown = [c for c in completions if c.problem_id not in known]
    for completion in unknown:
        print(f"kateval: task {task.name} has no problem '{completion.problem_id}'; skipped", file=sys.stderr)
    completions = [c for c in completions if c.problem_id in known]
    for start in range(0, len(completions), BATCH):
        batch = completions[start:start + BATCH]
        # the completions came from elsewhere: what the browser can show is the task's own prompt, marked as such
        store.add_prompts(((task.name, c.problem_id, task.adapter.prompt(known[c.problem_id])) for c in batch),
                          origin="task")
        store.append(grade_completions(task, batch, tokenizer, executor))
        bar.update(len(batch))
    return len(unknown)


def _executor_for(tasks, workers, limits):
    if not any(task.adapter.needs_executor for task in tasks):
        return None
    from kateval.sandbox import make_executor

    return make_executor(workers=workers, limits=limits)
