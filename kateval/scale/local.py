"""Replicas as processes on this machine (`--data-parallel-size N` without Ray), each on its own devices.

As in vLLM's own data-parallel launch, each replica is a separate process that sees only its share of the
devices: GPUs `[i*TP, (i+1)*TP)` of the visible ones through CUDA_VISIBLE_DEVICES; on a CPU, its share of this
process's cores through VLLM_CPU_OMP_THREADS_BIND (the same core never serves two engines when there are enough).
Unlike vLLM's launch (meant for MoE models, whose ranks step in lockstep), replicas are independent engines: one
that dies stops nothing but itself, and the driver gives its work to the others.
"""
from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kateval.backends.base import BackendConfig
from kateval.types import KatevalError


class LocalReplica:
    """The driver's handle on one replica process; its events go to the shared `events` queue as (index, event)."""

    def __init__(self, index: int, config: BackendConfig, env: dict[str, str], events: queue.Queue):
        self.index, self.events = index, events
        self.placement: dict[str, Any] = {"host": socket.gethostname(),
                                          **{k.lower(): v for k, v in env.items() if k in _DEVICE_VARIABLES}}
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kateval.scale.replica", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            env={**os.environ, **env, "PYTHONPATH": _pythonpath()})
        theirs.close()
        self.placement["pid"] = self.process.pid
        self._connection = Connection(ours.detach())
        self._connection.send(config)
        threading.Thread(target=self._read, daemon=True, name=f"kateval-replica-{index}").start()

    def send(self, message: tuple) -> None:
        self._connection.send(message)   # OSError when the replica is gone; its reader reports it lost

    def _read(self) -> None:
        try:
            while True:
                self.events.put((self.index, self._connection.recv()))
        except (EOFError, OSError) as exc:
            code = self.process.wait()
            reason = f"exit status {code}" if code >= 0 else f"killed by signal {-code}"
            self.events.put((self.index, ("lost", f"replica process {self.process.pid} ended ({reason}; {exc!r})")))

    def stop(self, grace_s: float) -> None:
        """Wait up to `grace_s` for the process to end (after ("stop",)), then kill it."""
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self._connection.close()


_DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "VLLM_CPU_OMP_THREADS_BIND")


def replica_environments(count: int, tensor_parallel: int, devices: str | None) -> list[dict[str, str]]:
    """The device share of each of `count` replicas ("gpu", "cpu" or None: no devices), as environment variables."""
    if devices is None:
        return [{} for _ in range(count)]
    if devices == "gpu":
        visible = _visible_gpus()
        needed = count * tensor_parallel
        if needed > len(visible):
            raise KatevalError(f"--data-parallel-size {count} x --tensor-parallel-size {tensor_parallel} needs "
                               f"{needed} GPUs; this machine shows {len(visible)}")
        return [{"CUDA_VISIBLE_DEVICES": ",".join(visible[i * tensor_parallel:(i + 1) * tensor_parallel])}
                for i in range(count)]
    cores = sorted(os.sched_getaffinity(0))
    if count > len(cores):
        return [{} for _ in range(count)]   # more engines than cores: let them share every core
    share = len(cores) // count
    return [{"VLLM_CPU_OMP_THREADS_BIND": ",".join(str(c) for c in cores[i * share:(i + 1) * share])}
            for i in range(count)]


def _visible_gpus() -> list[str]:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [device for device in listed.split(",") if device.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _pythonpath() -> str:
    """This kateval first, so a replica runs the same code as its driver."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])


def start_local(config: BackendConfig, count: int, tensor_parallel: int, devices: str | None,
                events: queue.Queue) -> list[LocalReplica]:
    environments = replica_environments(count, tensor_parallel, devices)
    return [LocalReplica(index, config, env, events) for index, env in enumerate(environments)]
