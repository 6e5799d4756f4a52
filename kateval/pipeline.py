"""One evaluation run: tasks -> requests -> backend -> completions -> grade -> store."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kateval import __version__, runinfo
from kateval.backends.base import BackendConfig
from kateval.grading import grade_completions
from kateval.progress import progress_bar
from kateval.scale import make_run_backend, make_run_executor
from kateval.scale.shard import Shard, shard_problems
from kateval.store import RunStore
from kateval.tasks import LoadedTask, load_task
from kateval.types import Completion, ExecLimits, KatevalError, Request, SamplingConfig

MAX_PENDING_BATCHES = 32  # generation may run ahead of grading by this many batches (bounds memory)


@dataclass(frozen=True)
class RunConfig:
    tasks: tuple[str, ...]
    backend: BackendConfig
    sampling: SamplingConfig
    out: Path
    limit: int | None = None
    data_dir: str | None = None
    workers: int | None = None
    exec_limits: ExecLimits = field(default_factory=ExecLimits)
    show_progress: bool = True
    shard: Shard | None = None          # --shard I/K: only this shard's problems
    ray_address: str | None = None      # --ray-address: replicas and sandbox workers on a Ray cluster

    def identity(self) -> dict[str, Any]:
        """What must be equal for a run directory to be resumed."""
        # How to reach the model or how many engines share the work, not what it computes.
        volatile = {"base_url", "api_key", "concurrency", "data_parallel_size", "replica_capacity"}
        shard = {"shard": str(self.shard)} if self.shard else {}
        return {**shard,
            "tasks": list(self.tasks), "limit": self.limit, "backend": self.backend.name,
            "model": self.backend.model, "profile": self.backend.profile, "mode": self.backend.mode,
            "prompt_style": self.backend.prompt_style, "sampling": self.sampling.as_dict(),
            "backend_options": {k: v for k, v in sorted(self.backend.options.items()) if k not in volatile},
        }


def request_seed(base_seed: int, task: str, problem_id: str) -> int:
    """Stable per-request seed: a resumed run regenerates exactly the samples that were missing."""
    digest = hashlib.sha256(f"{base_seed}/{task}/{problem_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def build_requests(tasks: list[LoadedTask], config: RunConfig, done: set[tuple[str, str, int]]) -> list[Request]:
    requests = []
    for task in tasks:
        for problem in task.selected[: config.limit]:
            missing = tuple(i for i in range(config.sampling.n) if (task.name, problem.problem_id, i) not in done)
            if missing:
                requests.append(Request(
                    task=task.name, problem_id=problem.problem_id,
                    prompt=task.adapter.prompt(problem, config.backend.prompt_style),
                    seed=request_seed(config.sampling.seed, task.name, problem.problem_id),
                    sample_indices=missing, reference_answer=task.adapter.reference_answer(problem)))
    return requests


def run_evaluation(config: RunConfig) -> Path:
    if config.sampling.n < 1 or config.sampling.max_tokens < 1:
        raise KatevalError("--n and --max-tokens must be at least 1")
    tasks = [load_task(name, config.data_dir) for name in config.tasks]
    store = RunStore(config.out)
    done = store.open(config.identity(), {
        "kateval_version": __version__, "git_commit": runinfo.git_commit(), "started": runinfo.now(),
        "machine": runinfo.machine(), "tasks": runinfo.task_facts(tasks, config.limit),
        "sampling": config.sampling.as_dict(), "backend_config": asdict(config.backend)})
    requests = build_requests(tasks, config, done)
    problems = sum(len(t.selected[: config.limit]) for t in tasks)
    if config.shard:
        chosen = shard_problems(tasks, config.limit, config.shard)
        in_shard = {(task, problem_id) for task, ids in chosen.items() for problem_id in ids}
        requests = [r for r in requests if (r.task, r.problem_id) in in_shard]
        problems = sum(map(len, chosen.values()))
        store.update_meta(shard={"index": config.shard.index, "count": config.shard.count, "problems": chosen})
    total = sum(len(r.sample_indices) for r in requests)
    if total:
        _generate_and_grade(tasks, requests, config, store, total)
    store.update_meta(ended=runinfo.now(), samples_expected=problems * config.sampling.n)
    return config.out


def _generate_and_grade(tasks: list[LoadedTask], requests: list[Request], config: RunConfig, store: RunStore,
                        total: int) -> None:
    """Grading and storing run on one background thread, so a GPU never waits for the sandbox; batches are
    stored in the order they finished."""
    by_name = {task.name: task for task in tasks}
    executor = None
    if any(task.adapter.needs_executor for task in tasks):
        executor = make_run_executor(config.backend, config.workers, config.exec_limits, config.ray_address)
    backend = make_run_backend(config.backend, config.ray_address)
    started = time.monotonic()

    def grade_and_store(batch: list[Completion]) -> None:
        grouped: dict[str, list[Completion]] = defaultdict(list)
        for completion in batch:
            grouped[completion.task].append(completion)
        for name, completions in grouped.items():
            store.append(grade_completions(by_name[name], completions, backend.decoder(), executor))
        bar.update(len(batch), tokens=sum(len(c.token_ids or ()) for c in batch))

    try:
        store.update_meta(backend=backend.describe(), executor=executor.describe() if executor else None)
        with progress_bar(total, "samples", enabled=config.show_progress) as bar, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="kateval-grade",
                                   initializer=_lower_thread_priority) as grader:
            pending: deque[Future] = deque()
            for batch in backend.generate(requests, config.sampling):
                pending.append(grader.submit(grade_and_store, batch))
                while pending and (pending[0].done() or len(pending) > MAX_PENDING_BATCHES):
                    pending.popleft().result()  # re-raises a grading error here
            while pending:
                pending.popleft().result()
        store.update_meta(backend=backend.describe(), generate_and_grade_s=round(time.monotonic() - started, 3))
    finally:
        backend.close()
        if executor is not None:
            executor.close()


def _lower_thread_priority() -> None:
    """Where the engine runs on the same CPU cores (vLLM on a CPU), grading must not slow generation down."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: grading just competes as it is
        pass
