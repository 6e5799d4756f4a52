"""The driver's connection to a Ray cluster (`--ray-address ADDRESS|auto`) and the facts about it for run.json.

kateval starts no cluster of its own: the user's `ray start` (or a Slurm/Kubernetes launcher) does; the driver
joins it as a client, and everything it places there (replicas, sandbox actors, placement groups) belongs to
the driver's Ray job, so Ray removes it when the driver exits, killed or not.
"""
from __future__ import annotations

import os
import re
import socket
from typing import Any

from kateval.types import KatevalError

PLACEMENT_TIMEOUT_S = 300.0   # how long to wait for Ray to find room before saying what does not fit
REACH_TIMEOUT_S = 10.0
_HOST_PORT = re.compile(r"^([^:/\s]+):(\d+)$")   # a GCS address as `ray start` prints it (not auto, not ray://)


def connect(address: str):
    """The `ray` module, connected to the cluster at `address`."""
    try:
        import ray
    except ImportError as exc:
        raise KatevalError(f"--ray-address needs Ray ({exc}); run `make install`") from exc
    # Joined once per process: the executor's actors and the replicas live in one Ray job. (Comparing addresses to
    # re-join would misfire on host names and ray:// addresses, and end that job's actors.)
    if not ray.is_initialized():
        _check_reachable(address)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            # Replica and sandbox logs stay on their nodes: failures come back to the driver as messages.
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise KatevalError(f"cannot join the Ray cluster at '{address}': {exc}") from exc
    return ray


def _check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers on is said at once: ray.init would retry it for minutes."""
    match = _HOST_PORT.match(address.strip())
    if not match:
        return   # auto, ray://..., or a form Ray itself judges
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=REACH_TIMEOUT_S).close()
    except (OSError, OverflowError) as exc:   # OverflowError: a port past 65535
        raise KatevalError(f"cannot join the Ray cluster at '{address}': nothing answers there ({exc}); "
                           "is `ray start --head` running?") from exc


def cluster_facts(ray) -> dict[str, Any]:
    """Nodes with their CPUs and GPUs, as Ray sees them now."""
    nodes = [{"node_id": node["NodeID"], "ip": node.get("NodeManagerAddress"),
              "cpus": node.get("Resources", {}).get("CPU", 0), "gpus": node.get("Resources", {}).get("GPU", 0)}
             for node in ray.nodes() if node.get("Alive")]
    return {"ray_version": ray.__version__, "address": ray.get_runtime_context().gcs_address,
            "nodes": nodes, "cpus": sum(n["cpus"] for n in nodes), "gpus": sum(n["gpus"] for n in nodes)}


def replica_bundles(tensor_parallel: int, on_gpu: bool) -> list[dict[str, float]]:
    """One replica's placement group, as vLLM builds its own: one bundle per GPU (one CPU each), on one node."""
    if on_gpu:
        return [{"GPU": 1, "CPU": 1} for _ in range(tensor_parallel)]
    return [{"CPU": 1}]


def replica_cpus(data_parallel: int, tensor_parallel: int, on_gpu: bool) -> int:
    return data_parallel * sum(int(b["CPU"]) for b in replica_bundles(tensor_parallel, on_gpu))


def wait_placed(ray, refs: list, what: str) -> None:
    """Wait until Ray has placed `refs` (placement groups' ready() or actor calls), or say what does not fit."""
    ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=PLACEMENT_TIMEOUT_S)
    if waiting:
        resources = ray.cluster_resources()
        raise KatevalError(f"the Ray cluster found room for {len(ready)} of {len(refs)} {what} within "
                           f"{PLACEMENT_TIMEOUT_S:.0f} s; it has {resources.get('GPU', 0):g} GPUs and "
                           f"{resources.get('CPU', 0):g} CPUs in all")
