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
    def __init__(self, dead: bool):
        lost = RayActorError("the actor died")
        self.describe = Method(lambda: Ref({"ip": "10.0.0.1", "node_id": "node" * 4}))
        self.run = Method(lambda jobs: Ref(error=lost) if dead else Ref([f"ran {job}" for job in jobs]))
        self.close = Method(lambda: Ref(None))


def fake_ray(dead_actors: int):
    made = []

    def remote(_cls):
        def make(*_args):
            made.append(Actor(dead=len(made) < dead_actors))
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


@pytest.mark.parametrize("address", ["127.0.0.1:1", "localhost:99999"])
def test_a_ray_address_nothing_answers_on_is_a_one_line_error_at_once(address):
    # Refused before ray.init, which would retry such an address for minutes; no cluster is started.
    with pytest.raises(KatevalError, match="nothing answers there"):
        connect(address)
