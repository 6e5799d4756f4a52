"""Ray-side bookkeeping without a cluster: RayExecutor with a stand-in for the `ray` module whose first actor is
dead, so every chunk sent to it fails as a lost Ray actor does; and a --ray-address nothing answers on.
(test_scale_ray.py runs a real cluster.)"""
from __future__ import annotations

import types

import pytest

from kateval.sandbox.ray_pool import RayExecutor
from kateval.scale.cluster import connect
from kateval.types import ExecLimits, KatevalError


class RayActorError(Exception):
    pass


class Ref:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error


class Method:
    def __init__(self, call):
        self.remote = call


class Actor:
    def __init__(self, dead: bool, poison: str | None = None):
        lost = RayActorError("the actor died")
        self.dead, self.ran = dead, []
        self.describe = Method(lambda: Ref({"ip": "10.0.0.1", "node_id": "node" * 4}))
        self.run = Method(self._run)
        self.close = Method(lambda: Ref(None))
        self._lost, self._poison = lost, poison

    def _run(self, jobs):
        self.dead = self.dead or self._poison in jobs   # a job that takes its worker down with it
        if self.dead:
            return Ref(error=self._lost)
        self.ran += jobs
        return Ref([f"ran {job}" for job in jobs])


def fake_ray(dead_actors: int, poison: str | None = None):
    made = []

    def remote(_cls):
        def make(*_args):
            made.append(Actor(dead=len(made) < dead_actors, poison=poison))
            return made[-1]
        return types.SimpleNamespace(options=lambda **_: types.SimpleNamespace(remote=make))

    def get(ref):
        if isinstance(ref, list):
            return [get(r) for r in ref]
        if ref.error:
            raise ref.error
        return ref.value

    return types.SimpleNamespace(
        remote=remote, get=get, kill=lambda _actor: None,
        wait=lambda refs, num_returns=1, timeout=None: (list(refs)[:num_returns], list(refs)[num_returns:]),
        exceptions=types.SimpleNamespace(RayError=Exception, RayActorError=RayActorError))


def test_a_dead_sandbox_actor_with_several_chunks_in_flight_costs_only_a_rerun():
    executor = RayExecutor(fake_ray(dead_actors=1), workers=2, limits=ExecLimits())
    jobs = list(range(40))
    assert executor.run(jobs) == [f"ran {job}" for job in jobs]
    assert len(executor._actors) == 1   # the dead one is dropped
    executor.close()


def test_a_job_that_takes_its_worker_down_is_a_sandbox_error_after_two_losses_and_the_rest_are_graded():
    ray = fake_ray(dead_actors=0, poison="job 5")
    executor = RayExecutor(ray, workers=6, limits=ExecLimits())
    jobs = [f"job {i}" for i in range(60)]
    results = executor.run(jobs)
    assert results[5].status == "sandbox_error" and "lost, twice" in results[5].error
    assert [r for i, r in enumerate(results) if i != 5] == [f"ran {job}" for job in jobs if job != "job 5"]
    assert len(executor._actors) == 3   # the chunk holding it, then the job alone, twice
    assert executor.run(["job 7"]) == ["ran job 7"]   # the workers left serve the next batch
    executor.close()


def test_when_every_worker_is_lost_the_next_batch_is_a_one_line_error():
    executor = RayExecutor(fake_ray(dead_actors=0, poison="job 0"), workers=2, limits=ExecLimits())
    assert executor.run(["job 0"])[0].status == "sandbox_error"
    with pytest.raises(KatevalError, match="every sandbox worker"):
        executor.run(["job 1"])


@pytest.mark.parametrize("address", ["127.0.0.1:1", "localhost:99999"])
def test_a_ray_address_nothing_answers_on_is_a_one_line_error_at_once(address):
    # Refused before ray.init, which would retry such an address for minutes; no cluster is started.
    with pytest.raises(KatevalError, match="nothing answers there"):
        connect(address)
