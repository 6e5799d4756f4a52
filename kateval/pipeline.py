"""One evaluation run: tasks -> requests -> backend -> completions -> grade -> store.

The stages are shared by every driver: `Stages` holds one loaded backend and one sandbox and moves any number of
request lists through generate -> grade -> store; `open_run`/`build_requests`/`finish_run` are a run directory's
edges. `run_evaluation` is the fixed-n driver; kateval.sweep (many cells in one engine queue) and kateval.adaptive
(rounds) are others, built on the same pieces.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from kateval import __version__, runinfo
from kateval.backends.base import Backend, BackendConfig
from kateval.grading import grade_completions
from kateval.progress import progress_bar
from kateval.scale import make_run_backend, make_run_executor
from kateval.scale.shard import Shard, in_shard
from kateval.store import RunStore, SampleKey, read_run_meta
from kateval.tasks import LoadedTask, load_task, time_limits
from kateval.types import Completion, ExecLimits, Executor, KatevalError, Problem, Request, SamplingConfig

MAX_PENDING_BATCHES = 32  # generation may run ahead of grading by this many batches (bounds memory)

Route = Callable[[Completion], RunStore]            # which run directory a completion's record goes to
Wanted = Callable[[LoadedTask, Problem], range]     # the sample indices a problem should end up with


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
        # How to reach the model or how many engines (and sequences per engine) share the work, not what it computes.
        volatile = {"base_url", "api_key", "concurrency", "data_parallel_size", "replica_capacity", "max_num_seqs"}
        return {
            **({"shard": str(self.shard)} if self.shard else {}),
            "tasks": list(self.tasks), "limit": self.limit, "backend": self.backend.name,
            "model": self.backend.model, "profile": self.backend.profile, "mode": self.backend.mode,
            "prompt_style": self.backend.prompt_style, "sampling": self.sampling.as_dict(),
            "backend_options": {k: v for k, v in sorted(self.backend.options.items()) if k not in volatile},
        }


def request_seed(base_seed: int, task: str, problem_id: str) -> int:
    """Stable per-request seed: a resumed run regenerates exactly the samples that were missing."""
    digest = hashlib.sha256(f"{base_seed}/{task}/{problem_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# ---------------------------------------------------------------- a run directory's edges
def load_tasks(config: RunConfig) -> list[LoadedTask]:
    if config.sampling.n < 1 or config.sampling.max_tokens < 1:
        raise KatevalError("--n and --max-tokens must be at least 1")
    return [load_task(name, config.data_dir) for name in config.tasks]


def open_run(config: RunConfig, tasks: list[LoadedTask], identity: dict[str, Any] | None = None,
             **meta: Any) -> tuple[RunStore, set[SampleKey]]:
    """Create or resume config.out; returns the store and the keys of the samples it already holds.
    A driver adds what else must match on resume to `identity` and what it wants recorded to `meta`."""
    store = RunStore(config.out)
    if config.shard:   # which problems this shard holds, so that `kateval merge` can name missing samples
        meta["shard"] = {"index": config.shard.index, "count": config.shard.count, "problems": {
            task.name: [problem.problem_id for problem in selected_problems(task, config)] for task in tasks}}
    done = store.open(identity or config.identity(), {
        "kateval_version": __version__, "git_commit": runinfo.git_commit(), "started": runinfo.now(),
        "machine": runinfo.machine(), "tasks": runinfo.task_facts(tasks, config.limit),
        "sampling": config.sampling.as_dict(), "backend_config": asdict(config.backend), **meta})
    return store, done


def selected_problems(task: LoadedTask, config: RunConfig) -> tuple[Problem, ...]:
    """The problems a run of `config` covers: the first `limit` of the task's selection (of its shard, if any)."""
    problems = task.selected[: config.limit]
    return in_shard(task.name, problems, config.shard) if config.shard else problems


def build_requests(tasks: list[LoadedTask], config: RunConfig, done: set[SampleKey], wanted: Wanted | None = None,
                   mode: str | None = None, thinking_budget: int | None = None) -> list[Request]:
    """One request per problem that misses some of its wanted samples (default: range(n)). `mode` and
    `thinking_budget` are per-request overrides of the backend's settings (a sweep's cell); without them the run's
    own are written into every request, so a request always says what it asks for and the backend's echo on its
    completions equals it (a completion is matched to its request through these fields)."""
    if mode is None:
        mode = config.backend.mode
    if thinking_budget is None and config.backend.options.get("thinking_budget") is not None:
        thinking_budget = int(config.backend.options["thinking_budget"])
    requests = []
    for task in tasks:
        for problem in selected_problems(task, config):
            indices = wanted(task, problem) if wanted else range(config.sampling.n)
            missing = tuple(i for i in indices if (task.name, problem.problem_id, i) not in done)
            if missing:
                requests.append(Request(
                    task=task.name, problem_id=problem.problem_id,
                    prompt=task.adapter.prompt(problem, config.backend.prompt_style),
                    seed=request_seed(config.sampling.seed, task.name, problem.problem_id),
                    sample_indices=missing, reference_answer=task.adapter.reference_answer(problem),
                    mode=mode, thinking_budget=thinking_budget))
    return requests


def finish_run(store: RunStore, **meta: Any) -> None:
    store.update_meta(ended=runinfo.now(), **meta)


# ---------------------------------------------------------------- the stages
class Stages:
    """generate -> parse -> grade -> store over one backend and one sandbox, for any number of request lists.

    The backend is loaded on the first `run` (a driver with nothing left to do never loads a model) and kept until
    `close`, so rounds and cells share one model load and one engine queue per call."""

    def __init__(self, tasks: Sequence[LoadedTask], backend: BackendConfig, workers: int | None = None,
                 exec_limits: ExecLimits | None = None, show_progress: bool = True, ray_address: str | None = None):
        self._tasks = {task.name: task for task in tasks}
        self._backend_config = backend
        self._ray_address = ray_address
        self._workers = workers
        self._exec_limits = exec_limits or ExecLimits()
        self._show_progress = show_progress
        self._backend: Backend | None = None
        self._executor: Executor | None = None

    @classmethod
    def for_run(cls, tasks: Sequence[LoadedTask], config: RunConfig) -> Stages:
        return cls(tasks, config.backend, config.workers, config.exec_limits, config.show_progress,
                   config.ray_address)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def load(self) -> Self:
        if self._backend is None:
            # One engine here, or replicas and sandbox workers spread out (kateval.scale).
            if any(task.adapter.needs_executor for task in self._tasks.values()):
                self._executor = make_run_executor(self._backend_config, self._workers, self._exec_limits,
                                                   self._ray_address)
            self._backend = make_run_backend(self._backend_config, self._ray_address)
        return self

    def described(self) -> dict[str, Any]:
        """What run.json records about the backend and the sandbox (after `load`)."""
        return {"backend": self._backend.describe() if self._backend else None,
                "executor": self._executor.describe() if self._executor else None}

    def record_facts(self, stores: Sequence[RunStore], **extra: Any) -> None:
        """Write `described()` into each store's run.json, with the time limits each code problem was graded with
        (added to those the store recorded before: a resumed run's earlier problems), plus `extra`. Every driver
        records through here, so none forgets a resume's limits; the backend is described once for all stores
        (replicas answer over a round trip each)."""
        described = self.described()
        for store in stores:
            recorded = read_run_meta(store.run_dir).get("time_limits")
            store.update_meta(**described, **extra,
                              time_limits=time_limits(self._tasks.values(), recorded))

    def run(self, requests: Sequence[Request], sampling: SamplingConfig, route: Route, unit: str = "samples") -> float:
        """Generate every request in one backend call; records are graded and appended (to `route(completion)`)
        on a background thread as batches finish, so a GPU never waits for the sandbox. Returns the seconds."""
        total = sum(len(request.sample_indices) for request in requests)
        if not total:
            return 0.0
        backend = self.load()._backend
        started = time.monotonic()
        by_problem = {(request.task, request.problem_id): request for request in requests}

        def grade_and_store(batch: list[Completion]) -> None:
            groups: dict[tuple[int, str], list[Completion]] = defaultdict(list)
            stores: dict[int, RunStore] = {}
            for completion in batch:
                store = route(completion)
                stores[id(store)] = store
                groups[(id(store), completion.task)].append(completion)
            for (store_id, name), completions in groups.items():
                stores[store_id].add_prompts((c.task, c.problem_id, by_problem[(c.task, c.problem_id)].prompt)
                                             for c in completions)
                stores[store_id].append(grade_completions(self._tasks[name], completions, backend.decoder(),
                                                          self._executor))
            bar.update(len(batch), tokens=sum(len(c.token_ids or ()) for c in batch))

        with progress_bar(total, unit, enabled=self._show_progress) as bar, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="kateval-grade",
                                   initializer=_lower_thread_priority) as grader:
            pending: deque[Future] = deque()
            for batch in backend.generate(requests, sampling):
                pending.append(grader.submit(grade_and_store, batch))
                while pending and (pending[0].done() or len(pending) > MAX_PENDING_BATCHES):
                    pending.popleft().result()  # re-raises a grading error here
            while pending:
                pending.popleft().result()
        return time.monotonic() - started

    def close(self) -> None:
        backend, executor, self._backend, self._executor = self._backend, self._executor, None, None
        try:
            if backend is not None:
                backend.close()
        finally:
            if executor is not None:
                executor.close()


def _lower_thread_priority() -> None:
    """Where the engine runs on the same CPU cores (vLLM on a CPU), grading must not slow generation down."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: grading just competes as it is
        pass


# ---------------------------------------------------------------- the fixed-n driver
def run_evaluation(config: RunConfig) -> Path:
    tasks = load_tasks(config)
    store, done = open_run(config, tasks)
    requests = build_requests(tasks, config, done)
    if requests:
        with Stages.for_run(tasks, config) as stages:
            stages.load().record_facts([store])
            seconds = stages.run(requests, config.sampling, lambda _completion: store)
            stages.record_facts([store], generate_and_grade_s=round(seconds, 3))
    finish_run(store, samples_expected=sum(len(selected_problems(t, config)) for t in tasks) * config.sampling.n)
    return config.out
