"""Replicas as Ray actors across a cluster's GPUs (`--ray-address`), placed the way vLLM places its own engines.

Each replica gets a placement group of `--tensor-parallel-size` bundles of one GPU (and one CPU) on one node
(STRICT_PACK), and its actor runs in the first bundle with child tasks captured: with TP 1 the actor holds the GPU
itself; with TP > 1 vLLM's Ray executor starts its workers inside the same placement group. On a cluster without
GPUs (tests, CPU engines) a replica takes one CPU bundle.

The actor runs the same replica loop as a local process (kateval.scale.replica.serve) on a thread of its own;
the driver long-polls its events. Messages carry a sequence number because a threaded actor may run two calls
out of order; the actor hands them to the loop in the order they were sent.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import socket
import threading
from typing import Any

from kateval.backends.base import BackendConfig
from kateval.scale.cluster import connect, replica_bundles, wait_placed
from kateval.types import KatevalError

EVENTS_POLL_S = 1.0


class ReplicaActor:
    """Runs inside the Ray actor process."""

    def __init__(self, config: BackendConfig):
        from kateval.scale.replica import serve

        self._inbox: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._early: dict[int, tuple] = {}
        self._next = 0
        self._lock = threading.Lock()
        threading.Thread(target=serve, args=(config, self._inbox, self._outbox.put), daemon=True,
                         name="kateval-replica").start()

    def send(self, sequence: int, message: tuple) -> None:
        with self._lock:
            self._early[sequence] = message
            while self._next in self._early:
                self._inbox.put(self._early.pop(self._next))
                self._next += 1

    def events(self, timeout_s: float) -> list[tuple]:
        try:
            events = [self._outbox.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._outbox.get_nowait())
            except queue.Empty:
                return events

    def placement(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {"host": socket.gethostname(), "pid": os.getpid(), "node_id": context.get_node_id(),
                "ip": ray.util.get_node_ip_address(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}


class RayReplica:
    """The driver's handle on one replica actor; events go to the shared queue as (index, event)."""

    def __init__(self, ray, index: int, actor, group, events: queue.Queue):
        self.index, self.events = index, events
        self._ray, self._actor, self._group = ray, actor, group
        self._sequence = itertools.count()
        self._stopped = threading.Event()
        self.placement: dict[str, Any] = {}

    def start(self) -> None:
        self.placement = {**self._ray.get(self._actor.placement.remote()),
                          "bundles": _bundle_nodes(self._ray, self._group)}
        threading.Thread(target=self._read, daemon=True, name=f"kateval-replica-{self.index}").start()

    def send(self, message: tuple) -> None:
        self._actor.send.remote(next(self._sequence), message)

    def _read(self) -> None:
        while not self._stopped.is_set():
            try:
                for event in self._ray.get(self._actor.events.remote(EVENTS_POLL_S)):
                    self.events.put((self.index, event))
            except self._ray.exceptions.RayError as exc:
                if not self._stopped.is_set():
                    where = f"{self.placement.get('pid')} on {self.placement.get('ip')}"
                    self.events.put((self.index, ("lost", f"replica actor {where} lost: {type(exc).__name__}")))
                return

    def stop(self, grace_s: float) -> None:
        """Ray frees the actor's devices when it is killed; nothing of the engine needs saving."""
        self._stopped.set()
        self._ray.kill(self._actor)
        self._ray.util.remove_placement_group(self._group)


def _bundle_nodes(ray, group) -> list[str]:
    table = ray.util.placement_group_table(group)
    return [table["bundles_to_node_id"].get(i) for i in range(len(table["bundles"]))]


def start_ray(address: str, config: BackendConfig, count: int, tensor_parallel: int,
              events: queue.Queue) -> list[RayReplica]:
    ray = connect(address)
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    resources = ray.cluster_resources()
    on_gpu = resources.get("GPU", 0) > 0
    needed = {key: count * sum(bundle.get(key, 0) for bundle in replica_bundles(tensor_parallel, on_gpu))
              for key in ("GPU", "CPU")}
    short = {key: need for key, need in needed.items() if need > resources.get(key, 0)}
    if short:   # said at once rather than after the placement timeout
        raise KatevalError(f"{count} replicas of {tensor_parallel} {'GPU' if on_gpu else 'CPU'} bundle(s) need "
                           + ", ".join(f"{need:g} {key}s" for key, need in short.items())
                           + f"; the Ray cluster has {resources.get('GPU', 0):g} GPUs and "
                             f"{resources.get('CPU', 0):g} CPUs")
    if on_gpu and tensor_parallel > 1:   # vLLM's Ray executor places the TP workers in the captured group
        config = dataclasses.replace(config, options={**config.options, "distributed_executor_backend": "ray"})
    groups = [placement_group(replica_bundles(tensor_parallel, on_gpu), strategy="STRICT_PACK",
                              name=f"kateval-replica-{index}") for index in range(count)]
    try:
        wait_placed(ray, [group.ready() for group in groups], f"replicas of {tensor_parallel} "
                    f"{'GPU' if on_gpu else 'CPU'} bundle(s) on one node")
    except KatevalError:
        for group in groups:
            ray.util.remove_placement_group(group)
        raise
    actor_class = ray.remote(ReplicaActor)
    replicas = []
    for index, group in enumerate(groups):
        actor = actor_class.options(
            num_cpus=1, num_gpus=1 if on_gpu and tensor_parallel == 1 else 0, max_concurrency=4,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=group, placement_group_bundle_index=0,
                placement_group_capture_child_tasks=True)).remote(config)
        replicas.append(RayReplica(ray, index, actor, group, events))
    try:
        wait_placed(ray, [r._actor.placement.remote() for r in replicas], "replica actors")
        for replica in replicas:
            replica.start()
    except (KatevalError, ray.exceptions.RayError) as exc:
        for replica in replicas:
            replica.stop(0.0)
        raise KatevalError(f"replicas did not start on the Ray cluster: {exc}") from exc
    return replicas

