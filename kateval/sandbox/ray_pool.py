"""Sandbox grading across a Ray cluster's CPUs (`--ray-address`): an Executor whose workers are Ray actors, each
holding one local sandbox worker (`make_executor(workers=1)`), spread over the nodes.

Trust: the actors run kateval's own code, as trusted as the driver; model-written programs still run only inside
each actor's sandbox, behind the same boundary as on the driver's machine (kateval.sandbox), so a verdict on a
node is the verdict the driver would have given. Only plain data crosses: pickled ExecJob in, ExecResult out,
and the task adapter compares in the driver as before. A node that dies costs its jobs a second run elsewhere;
a job whose worker is lost twice while it runs alone is a sandbox_error, and the run goes on.
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

from kateval.types import ExecJob, ExecLimits, ExecResult, KatevalError

IN_FLIGHT_PER_ACTOR = 2     # the next chunk waits in the actor while this one runs
MAX_CHUNK = 8               # jobs per call: fewer calls, while a slow job holds back at most this many


class SandboxActor:
    """Runs inside the Ray actor process: one sandbox worker on that node."""

    def __init__(self, limits: ExecLimits):
        from kateval.sandbox import make_executor

        self._executor = make_executor(workers=1, limits=limits)

    def describe(self) -> dict[str, Any]:
        import ray

        return {**self._executor.describe(), "node_id": ray.get_runtime_context().get_node_id(),
                "ip": ray.util.get_node_ip_address()}

    def run(self, jobs: list[ExecJob]) -> list[ExecResult]:
        return self._executor.run(jobs)

    def close(self) -> None:
        self._executor.close()


class RayExecutor:
    """The Executor protocol (kateval.types) over `workers` sandbox actors."""

    def __init__(self, ray, workers: int, limits: ExecLimits):
        from kateval.scale.cluster import wait_placed

        self._ray = ray
        actor_class = ray.remote(SandboxActor)
        self._actors = [actor_class.options(num_cpus=1, scheduling_strategy="SPREAD").remote(limits)
                        for _ in range(workers)]
        try:
            described = [actor.describe.remote() for actor in self._actors]
            wait_placed(ray, described, "sandbox workers")
            self._facts = ray.get(described)
        except ray.exceptions.RayError as exc:
            self.close()
            raise KatevalError(f"sandbox workers did not start on the Ray cluster: {_cause(exc)}") from exc
        except KatevalError:
            self.close()
            raise

    def run(self, jobs: Sequence[ExecJob]) -> list[ExecResult]:
        if jobs and not self._actors:
            raise KatevalError("every sandbox worker on the Ray cluster was lost")
        results: list[ExecResult | None] = [None] * len(jobs)
        size = max(1, min(MAX_CHUNK, len(jobs) // (4 * max(1, len(self._actors)))))
        todo = deque(range(start, min(start + size, len(jobs))) for start in range(0, len(jobs), size))
        running: dict[Any, tuple[Any, range]] = {}
        load = {actor: 0 for actor in self._actors}
        lost_alone: Counter[int] = Counter()   # job -> workers lost while it ran on its own
        while todo or running:
            for actor in [a for a in load for _ in range(IN_FLIGHT_PER_ACTOR - load[a])]:
                if todo:
                    chunk = todo.popleft()
                    running[actor.run.remote([jobs[i] for i in chunk])] = (actor, chunk)
                    load[actor] += 1
            done, _ = self._ray.wait(list(running), num_returns=1)
            actor, chunk = running.pop(done[0])
            if actor in load:   # not when an earlier chunk of a lost actor already dropped it
                load[actor] -= 1
            try:
                for index, result in zip(chunk, self._ray.get(done[0])):
                    results[index] = result
            except self._ray.exceptions.RayActorError as exc:
                # Run again on live workers (the sandbox leaves nothing behind), each job of the chunk on its
                # own, so that a job that takes its worker down can take down at most two more, as on one machine
                # a job that kills two sandbox workers is a sandbox_error and the run goes on.
                again = list(chunk)
                if len(chunk) == 1:
                    lost_alone[chunk[0]] += 1
                    if lost_alone[chunk[0]] >= 2:
                        results[chunk[0]] = ExecResult("sandbox_error", (), "the Ray worker running this program "
                                                       f"was lost, twice (the last: {_cause(exc)})"[:1000])
                        again = []
                todo.extendleft(range(index, index + 1) for index in reversed(again))
                self._drop(actor, load, exc, pending=bool(todo or running))
        return results  # type: ignore[return-value]

    def _drop(self, actor, load: dict, exc: Exception, pending: bool) -> None:
        if actor in load:
            del load[actor]
            self._actors.remove(actor)
        if not self._actors and pending:
            raise KatevalError(f"every sandbox worker on the Ray cluster was lost (the last: {_cause(exc)})")

    def describe(self) -> dict[str, Any]:
        first = self._facts[0]
        nodes = Counter(f"{fact['ip']} {fact['node_id'][:12]}" for fact in self._facts)
        isolation = sorted({str(f.get("isolation")) for f in self._facts})
        return {**{k: v for k, v in first.items() if k not in ("node_id", "ip")}, "workers": len(self._facts),
                "ray": {"actors": len(self._facts), "workers_per_node": dict(nodes),
                        **({"isolation_differs": isolation} if len(isolation) > 1 else {})}}

    def close(self) -> None:
        closing = [actor.close.remote() for actor in self._actors]
        self._ray.wait(closing, num_returns=len(closing), timeout=60)   # a lost node's actor never answers
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []


def _cause(exc: Exception) -> str:
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
