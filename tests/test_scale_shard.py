"""--shard I/K and kateval merge, on the reference backend: shards are disjoint and cover the run; merged shards
equal the unsharded run; merge refuses shards of different runs and reports missing or repeated samples."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kateval import cli
from kateval.scale.merge import merge_runs
from kateval.scale.shard import Shard, in_shard, parse_shard
from kateval.store import read_run_meta
from kateval.tasks import load_task
from kateval.types import KatevalError

TASKS = "aime24,aime25"


def run(out: Path, data_dir: Path, *extra: str) -> int:
    return cli.main(["run", "--backend", "reference", "--tasks", TASKS, "--limit", "7", "--n", "2",
                     "--data-dir", str(data_dir), "--out", str(out), "--no-progress", *extra])


def records(run_dir: Path) -> list[str]:
    return sorted((run_dir / "samples.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def whole(tmp_path_factory, data_dir) -> Path:
    out = tmp_path_factory.mktemp("whole") / "run"
    assert run(out, data_dir) == 0
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory, data_dir) -> list[Path]:
    root = tmp_path_factory.mktemp("shards")
    for index in (1, 2, 3):
        assert run(root / f"s{index}", data_dir, "--shard", f"{index}/3") == 0
    return [root / f"s{index}" for index in (1, 2, 3)]


def test_shards_are_disjoint_cover_the_run_and_split_each_task_evenly(data_dir):
    tasks = [load_task(name, str(data_dir)) for name in TASKS.split(",")]
    for task in tasks:
        problems = task.selected[:7]
        parts = [in_shard(task.name, problems, Shard(i, 4)) for i in (1, 2, 3, 4)]
        assert sorted(p.problem_id for part in parts for p in part) == sorted(p.problem_id for p in problems)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert in_shard(task.name, problems, Shard(2, 4)) == parts[1]        # the same split every time
        assert [p for p in problems if p in parts[0]] == list(parts[0])     # run order kept


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "", "1/0"])
def test_a_malformed_shard_is_a_one_line_error(text):
    with pytest.raises(KatevalError):
        parse_shard(text)


def test_three_shards_merged_equal_the_unsharded_run_and_resume_as_it(whole, shards, tmp_path, data_dir, capsys):
    sizes = [read_run_meta(s)["samples_expected"] for s in shards]
    assert sum(sizes) == 28 and max(sizes) - min(sizes) <= 2 * 2     # 14 problems x n=2; per task +-1 problem
    merged = tmp_path / "merged"
    assert cli.main(["merge", *map(str, shards), "--out", str(merged)]) == 0
    assert "28 of 28 samples" in capsys.readouterr().out
    assert records(merged) == records(whole)
    meta, whole_meta = read_run_meta(merged), read_run_meta(whole)
    assert meta["identity"] == whole_meta["identity"] and "shard" not in meta
    assert meta["samples_expected"] == 28 and [m["shard"] for m in meta["merged_from"]] == ["1/3", "2/3", "3/3"]
    assert (merged / "summary.json").exists()
    assert run(merged, data_dir) == 0          # the merged run is the unsharded run: nothing left to generate
    assert records(merged) == records(whole) and read_run_meta(merged)["resumed"] == 1


def test_a_missing_shard_is_reported_and_the_merged_run_resumes_to_the_whole(whole, shards, tmp_path, data_dir,
                                                                          capsys):
    merged = tmp_path / "merged"
    assert cli.main(["merge", str(shards[0]), str(shards[2]), "--out", str(merged)]) == 1
    out = capsys.readouterr().out
    missing = read_run_meta(shards[1])["samples_expected"]
    assert f"{28 - missing} of 28 samples" in out and "missing shards: 2" in out
    assert run(merged, data_dir) == 0
    assert records(merged) == records(whole)


def test_repeated_shards_and_missing_samples_are_reported(shards, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "run.json").write_text((shards[1] / "run.json").read_text())
    lines = (shards[1] / "samples.jsonl").read_text().splitlines(keepends=True)
    (partial / "samples.jsonl").write_text("".join(lines[:-3]))
    report = merge_runs([shards[0], partial, shards[1], shards[2]], tmp_path / "merged")
    assert report.repeated_shards == [2] and report.missing_shards == []
    assert report.duplicated == len(lines) - 3 and report.conflicting == 0
    dropped = {(r["task"], r["problem_id"], r["sample_index"]) for r in map(json.loads, lines[-3:])}
    assert report.missing == []          # the full copy of shard 2 holds them
    assert report.samples == 28 and report.complete
    alone = merge_runs([shards[0], partial, shards[2]], tmp_path / "merged-partial")
    assert set(alone.missing) == dropped and not alone.complete


def test_a_shard_stopped_before_its_first_sample_counts_as_missing(shards, tmp_path):
    unstarted = tmp_path / "unstarted"   # e.g. killed while its model loaded: run.json, no samples.jsonl
    unstarted.mkdir()
    (unstarted / "run.json").write_text((shards[1] / "run.json").read_text())
    report = merge_runs([shards[0], unstarted, shards[2]], tmp_path / "merged")
    lines = (shards[1] / "samples.jsonl").read_text().splitlines()
    assert report.missing_shards == [] and len(report.missing) == len(lines) and not report.complete
    assert report.samples == 28 - len(lines)


def test_a_duplicate_that_differs_is_counted_as_conflicting(shards, tmp_path):
    altered = tmp_path / "altered"
    altered.mkdir()
    (altered / "run.json").write_text((shards[0] / "run.json").read_text())
    lines = (shards[0] / "samples.jsonl").read_text().splitlines(keepends=True)
    record = json.loads(lines[0])
    record["completion"] += " (regenerated elsewhere)"
    (altered / "samples.jsonl").write_text(json.dumps(record) + "\n")
    report = merge_runs([shards[0], altered, shards[1], shards[2]], tmp_path / "merged")
    assert report.duplicated == 1 and report.conflicting == 1 and not report.complete


def test_merge_refuses_shards_of_different_runs(shards, tmp_path, data_dir):
    other = tmp_path / "other"
    assert run(other, data_dir, "--shard", "2/3", "--temperature", "0.7") == 0
    with pytest.raises(KatevalError, match="sampling"):
        merge_runs([shards[0], other], tmp_path / "merged")
    split4 = tmp_path / "split4"
    assert run(split4, data_dir, "--shard", "2/4") == 0
    with pytest.raises(KatevalError, match="different splits"):
        merge_runs([shards[0], split4], tmp_path / "merged")


def test_merge_never_overwrites_a_run(shards, whole):
    with pytest.raises(KatevalError, match="already holds a run"):
        merge_runs(shards, whole)
    with pytest.raises(KatevalError, match="one of the run directories"):
        merge_runs(shards, shards[0])


def test_a_shard_directory_resumes_only_as_the_same_shard(shards, data_dir, capsys):
    assert run(shards[0], data_dir, "--shard", "2/3") == 2
    assert "shard" in capsys.readouterr().err
