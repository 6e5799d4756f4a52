"""`import kateval`: load_run, evaluate, compare and leaderboard give what the command line gives on the same
runs (the reference backend: real tasks, real grading, no model)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import kateval
from kateval.cli import main as cli
from kateval.store import iter_records

RUN_FLAGS = {"backend": "reference", "tasks": "aime24,humaneval", "n": 2, "limit": 3}


def cli_flags(out) -> list[str]:
    return ["run", "--backend", "reference", "--tasks", "aime24,humaneval", "--n", "2", "--limit", "3",
            "--no-progress", "--out", str(out)]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("api")
    runs = {}
    for name, seed in (("a", "0"), ("b", "1")):
        runs[name] = root / name
        assert cli([*cli_flags(runs[name]), "--seed", seed, "--data-dir", str(data_dir)]) == 0
        assert cli(["report", str(runs[name]), "--no-progress"]) == 0
    return runs


def same(a, b) -> bool:
    missing = lambda v: v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
    return (missing(a) and missing(b)) or a == b


def test_load_run_holds_every_record_with_typed_columns(cli_runs):
    run = kateval.load_run(cli_runs["a"], completions=True)
    records = list(iter_records(cli_runs["a"]))
    assert len(run.samples) == len(records) == 12
    for row, record in zip(run.samples.to_dict("records"), records):
        for key, value in record.items():
            assert same(row[key], value), (key, row[key], value)
    dtypes = run.samples.dtypes
    assert str(dtypes["task"]) == "category" and str(dtypes["completion_tokens"]) == "Int64"
    assert dtypes["correct"] == bool and dtypes["sample_index"] == "int64"
    assert run.config["identity"]["tasks"] == ["aime24", "humaneval"]
    assert "completion" not in kateval.load_run(cli_runs["a"]).samples   # texts only when asked for
    assert (cli_runs["a"] / "samples.parquet").exists()   # cached by `kateval run` as it finished


def test_summary_is_what_kateval_report_wrote(cli_runs):
    written = json.loads((cli_runs["a"] / "summary.json").read_text())
    assert json.loads(json.dumps(kateval.load_run(cli_runs["a"]).summary)) == written


def test_evaluate_is_kateval_run(cli_runs, tmp_path, data_dir):
    run = kateval.evaluate(out=str(tmp_path / "api"), data_dir=str(data_dir), no_progress=True, **RUN_FLAGS)
    pd.testing.assert_frame_equal(run.samples, kateval.load_run(cli_runs["a"]).samples)
    assert run.config["identity"] == json.loads((cli_runs["a"] / "run.json").read_text())["identity"]
    with pytest.raises(TypeError, match="unknown option"):
        kateval.evaluate(tasks="aime24", backend="reference", temprature=0.6)


def test_compare_is_kateval_compare(cli_runs, tmp_path):
    out = tmp_path / "compare"
    assert cli(["compare", str(cli_runs["a"]), str(cli_runs["b"]), "--out", str(out), "--no-progress"]) == 0
    written = json.loads(out.with_suffix(".json").read_text())
    frame = kateval.compare(kateval.load_run(cli_runs["a"]), cli_runs["b"])
    assert list(frame.index) == [*written["tasks"], "overall"]
    for task, stats in [*written["tasks"].items(), ("overall", written["overall"])]:
        assert frame.loc[task, "accuracy_diff"] == stats["accuracy_diff"]
        assert frame.loc[task, "p_value"] == stats["p_value"]
        assert [frame.loc[task, "accuracy_diff_ci95_low"], frame.loc[task, "accuracy_diff_ci95_high"]] == \
            stats["accuracy_diff_ci95"]
    assert len(frame.attrs["flipped"]) == len(written["flipped"])


def test_leaderboard_is_kateval_leaderboard(cli_runs, tmp_path):
    out = tmp_path / "board"
    assert cli(["leaderboard", str(cli_runs["a"]), str(cli_runs["b"]), "--format", "csv", "--out", str(out),
                "--no-progress"]) == 0
    written = pd.read_csv(out.with_suffix(".csv"), keep_default_na=False)
    frame = kateval.leaderboard([cli_runs["a"], kateval.load_run(cli_runs["b"])])
    assert list(frame.columns) == list(written.columns)
    for column in ("run", "overall acc", "aime24 acc", "humaneval tokens", "config"):
        assert frame[column].tolist() == written[column].tolist()
