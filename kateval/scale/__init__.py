"""Scaling a run out: engine replicas (`--data-parallel-size`), a Ray cluster (`--ray-address`) for replicas and
sandbox grading, and shards (`--shard I/K`, `kateval merge`). These are drivers of the ordinary stages: the
pipeline asks here for its backend and executor, and gets the plain ones unless the run scales out.
"""
from __future__ import annotations

from kateval.backends import make_backend
from kateval.backends.base import Backend, BackendConfig, typed_options
from kateval.types import ExecLimits, Executor, KatevalError

SCALE_OPTIONS = ("data_parallel_size", "replica_capacity", "tensor_parallel_size", "flush_s")


def scale_options(config: BackendConfig) -> dict:
    """The options that say how a run spreads out, typed; any backend may carry them (the rest of its options are
    its own business: replay's file, openai's URL)."""
    return typed_options({key: value for key, value in config.options.items() if key in SCALE_OPTIONS})


def make_run_backend(config: BackendConfig, ray_address: str | None = None) -> Backend:
    """One backend in this process, or `data_parallel_size` replicas of it (local processes, or Ray actors) when
    that is given. One replica is the engine in a process of its own: the driver's parsing and grading then
    never compete with it for a core or the GIL."""
    options = scale_options(config)
    if options.get("data_parallel_size", 1) < 1 or options.get("replica_capacity", 1) < 1:
        raise KatevalError("--data-parallel-size and --replica-capacity must be at least 1")
    if "data_parallel_size" not in options and not ray_address:
        return make_backend(config)   # the engine in this process; any --data-parallel-size (1 too) runs replicas
    from kateval.scale.backend import ReplicatedBackend

    tensor_parallel = options.get("tensor_parallel_size") or 1
    if ray_address:
        from kateval.scale.cluster import cluster_facts, connect
        from kateval.scale.ray_replicas import start_ray

        facts = {"launcher": "ray", "cluster": cluster_facts(connect(ray_address))}
        return ReplicatedBackend(config, lambda c, n, events: start_ray(ray_address, c, n, tensor_parallel, events),
                                 facts)
    from kateval.scale.local import start_local

    # Devices are shared out only to engines that use them (a reference replica needs none).
    devices = ("gpu" if _has_cuda() else "cpu") if config.name == "vllm" else None
    return ReplicatedBackend(config, lambda c, n, events: start_local(c, n, tensor_parallel, devices, events),
                             {"launcher": "local"})


def make_run_executor(backend: BackendConfig, workers: int | None, limits: ExecLimits,
                      ray_address: str | None = None) -> Executor:
    """The sandbox on this machine, or (with Ray) sandbox actors on the cluster's CPUs that replicas leave free."""
    from kateval.sandbox import make_executor

    if not ray_address:
        return make_executor(workers=workers, limits=limits)
    from kateval.sandbox.ray_pool import RayExecutor
    from kateval.scale.cluster import connect, replica_cpus

    ray = connect(ray_address)
    options = scale_options(backend)
    resources = ray.cluster_resources()
    reserved = replica_cpus(options.get("data_parallel_size") or 1, options.get("tensor_parallel_size") or 1,
                            resources.get("GPU", 0) > 0)
    free = int(resources.get("CPU", 0)) - reserved
    if free < 1 or (workers or 0) > free:
        raise KatevalError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs; the replicas take {reserved}, "
                           f"leaving {max(free, 0)} for sandbox workers ({workers or 'at least 1'} wanted)")
    return RayExecutor(ray, workers or free, limits)


def _has_cuda() -> bool:
    from kateval.backends.vllm_offline import has_cuda

    return has_cuda()
