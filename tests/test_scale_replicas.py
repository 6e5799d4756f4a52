"""--data-parallel-size without Ray: replicas as local processes fed from one queue. Fast tests use the reference
backend in each replica; test_scale_vllm.py runs the tiny model."""
from __future__ import annotations

import json
import os

import pytest
from scale_helpers import alive
from test_adaptive import adaptive_args, replay_file  # noqa: F401 (a fixture: replayed samples of known rates)

from kateval import cli
from kateval.backends.base import BackendConfig
from kateval.backends.reference import ReferenceBackend
from kateval.scale import make_run_backend
from kateval.scale.backend import ReplicatedBackend
from kateval.scale.dispatch import completion_key
from kateval.scale.local import replica_environments
from kateval.store import read_run_meta
from kateval.types import KatevalError, Prompt, Request, SamplingConfig

SAMPLING = SamplingConfig(n=3, max_tokens=10_000)


def requests(count: int, offset: int = 0) -> list[Request]:
    return [Request("aime24", f"p{i}", Prompt(text=f"q{i}"), seed=i, sample_indices=(0, 1, 2),
                    reference_answer=str(i)) for i in range(offset, offset + count)]


def by_key(batches) -> dict:
    found = {}
    for batch in batches:
        for completion in batch:
            assert completion_key(completion) not in found
            found[completion_key(completion)] = completion
    return found


@pytest.fixture(scope="module")
def replicas():
    backend = make_run_backend(BackendConfig("reference", options={"data_parallel_size": "2",
                                                                    "replica_capacity": "4"}))
    yield backend
    backend.close()


def test_replicas_return_what_one_backend_returns_over_several_generate_calls(replicas):
    assert isinstance(replicas, ReplicatedBackend)
    single = ReferenceBackend(BackendConfig("reference"))
    for offset in (0, 40):   # one loaded set of replicas serves call after call
        got = by_key(replicas.generate(requests(40, offset), SAMPLING))
        assert got == by_key(single.generate(requests(40, offset), SAMPLING))
    facts = replicas.describe()
    assert facts["data_parallel_size"] == 2 and facts["launcher"] == "local"
    assert len({r["pid"] for r in facts["replicas"]}) == 2
    assert all(r["host"] and r["alive"] and r["capacity"] == 4 for r in facts["replicas"])
    assert sum(r["samples"] for r in facts["replicas"]) == 240 and facts["requeued_samples"] == 0
    assert facts["tokenizer"] == "kateval-bytes" and replicas.decoder().decode([104, 105]) == "hi"


def test_a_generate_left_early_does_not_leak_into_the_next(replicas):
    generator = replicas.generate(requests(30), SAMPLING)
    next(generator)
    generator.close()
    assert set(by_key(replicas.generate(requests(5, 100), SAMPLING))) == {
        ("aime24", f"p{i}", s) for i in range(100, 105) for s in range(3)}


def test_describe_between_batches_loses_no_completion(replicas):
    batches = replicas.generate(requests(40, 200), SAMPLING)
    got = by_key([next(batches)])
    assert replicas.describe()["data_parallel_size"] == 2   # answered while completions are on their way
    got |= by_key(batches)
    assert set(got) == {("aime24", f"p{i}", s) for i in range(200, 240) for s in range(3)}


def test_an_engine_that_raises_on_every_replica_is_a_one_line_error():
    broken = [Request("aime24", "p0", Prompt(text="q"), seed=0, sample_indices=(0,))]   # no reference answer
    backend = make_run_backend(BackendConfig("reference", options={"data_parallel_size": "2"}))
    try:
        with pytest.raises(KatevalError, match="every replica was lost.*no reference answers"):
            list(backend.generate(broken, SAMPLING))
    finally:
        backend.close()


def test_dp_run_records_equal_a_single_engine_run_and_replicas_end_with_it(tmp_path, data_dir):
    common = ["run", "--backend", "reference", "--tasks", "aime24,aime25", "--limit", "6", "--n", "2",
              "--data-dir", str(data_dir), "--no-progress"]
    assert cli.main([*common, "--out", str(tmp_path / "one")]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "dp"), "--data-parallel-size", "2",
                     "--replica-capacity", "2"]) == 0
    lines = [sorted((tmp_path / d / "samples.jsonl").read_text().splitlines()) for d in ("one", "dp")]
    assert lines[0] == lines[1] and len(lines[0]) == 24
    backend = read_run_meta(tmp_path / "dp")["backend"]
    assert [r["index"] for r in backend["replicas"]] == [0, 1]
    assert not any(alive(r["pid"]) for r in backend["replicas"])
    # How many engines share the work, and how many sequences each batches, is not part of the run's identity: it
    # resumes with other counts.
    assert cli.main([*common, "--out", str(tmp_path / "one"), "--data-parallel-size", "3", "--max-num-seqs", "4"]) == 0
    assert sorted((tmp_path / "one" / "samples.jsonl").read_text().splitlines()) == lines[0]


def test_a_replica_that_cannot_load_is_a_one_line_error(capsys, tmp_path, data_dir):
    code = cli.main(["run", "--backend", "replay", "--tasks", "aime24", "--limit", "1", "--data-dir", str(data_dir),
                     "--out", str(tmp_path / "x"), "--no-progress", "--data-parallel-size", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "did not start" in err and "--replay-file" in err and "Traceback" not in err


def test_each_local_replica_gets_its_own_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    assert replica_environments(4, 2, "gpu") == [{"CUDA_VISIBLE_DEVICES": d} for d in ("0,1", "2,3", "4,5", "6,7")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    assert replica_environments(3, 1, "gpu")[2] == {"CUDA_VISIBLE_DEVICES": "6"}
    with pytest.raises(KatevalError, match="needs 4 GPUs"):
        replica_environments(2, 2, "gpu")
    cores = sorted(os.sched_getaffinity(0))
    shares = replica_environments(len(cores), 1, "cpu")
    assert [s["VLLM_CPU_OMP_THREADS_BIND"] for s in shares] == [str(c) for c in cores]
    assert replica_environments(len(cores) + 1, 1, "cpu")[0] == {}     # more engines than cores: shared
    assert replica_environments(2, 1, None) == [{}, {}]


def test_a_data_parallel_size_below_one_is_refused():
    with pytest.raises(KatevalError):
        make_run_backend(BackendConfig("reference", options={"data_parallel_size": "0"}))
    with pytest.raises(KatevalError):
        make_run_backend(BackendConfig("reference", options={"data_parallel_size": "2", "replica_capacity": "0"}))


def test_replica_processes_end_when_the_driver_closes_them():
    backend = make_run_backend(BackendConfig("reference", options={"data_parallel_size": "2"}))
    pids = [r["pid"] for r in backend.describe()["replicas"]]
    assert all(alive(pid) for pid in pids)
    backend.close()
    assert not any(alive(pid) for pid in pids)



def test_replicas_of_a_backend_with_options_of_its_own(tmp_path, data_dir):
    """replay's --replay-file is no engine option: the scale options are read apart from it."""
    one = tmp_path / "one"
    common = ["run", "--tasks", "aime24", "--limit", "4", "--n", "2", "--data-dir", str(data_dir), "--no-progress"]
    assert cli.main([*common, "--backend", "reference", "--out", str(one)]) == 0
    saved = tmp_path / "completions.jsonl"
    saved.write_text("".join(
        json.dumps({"task": r["task"], "problem_id": r["problem_id"], "sample_index": r["sample_index"],
                    "completion": r["completion"], "prefix": r["prefix"], "finish_reason": r["finish_reason"]}) + "\n"
        for r in map(json.loads, (one / "samples.jsonl").read_text().splitlines())))
    replayed = tmp_path / "replayed"
    assert cli.main([*common, "--backend", "replay", "--replay-file", str(saved), "--out", str(replayed),
                     "--data-parallel-size", "2"]) == 0
    statuses = [json.loads(line)["status"] for line in (replayed / "samples.jsonl").read_text().splitlines()]
    assert len(statuses) == 8 and set(statuses) == {"correct"}


def test_adaptive_rounds_on_replicas_equal_one_engines(tmp_path, replay_file, data_dir):  # noqa: F811
    """The adaptive driver calls generate() once per round: the same replicas serve every round."""
    one, dp = tmp_path / "one", tmp_path / "dp"
    assert cli.main(adaptive_args(one, replay_file, data_dir)) == 0
    assert cli.main(adaptive_args(dp, replay_file, data_dir, "--data-parallel-size", "2",
                                  "--replica-capacity", "3")) == 0
    lines = [sorted((d / "samples.jsonl").read_text().splitlines()) for d in (one, dp)]
    assert lines[0] == lines[1]
    plans = [read_run_meta(d)["adaptive"] for d in (one, dp)]
    assert len(plans[0]["rounds"]) >= 2 and plans[0]["schedule"] == plans[1]["schedule"]


def test_generate_after_every_replica_was_lost_between_calls_is_a_one_line_error():
    # describe() sees the loss (it marks the replica lost); the next call must say so, not wait for an answer.
    backend = make_run_backend(BackendConfig("reference", options={"data_parallel_size": "1"}))
    try:
        backend._replicas[0].handle.process.kill()
        assert backend.describe()["replicas"][0]["alive"] is False
        with pytest.raises(KatevalError, match="every replica was lost"):
            list(backend.generate(requests(2), SAMPLING))
    finally:
        backend.close()
