"""Runs are append-only and resumable: killed at any moment, started again, nothing generated twice or lost."""
import json
import signal
import subprocess
import sys
import time

import pytest

from kateval.cli import main
from kateval.store import RunStore, iter_records

TASKS = "aime24,aime25,aime26"


def kateval_cmd(data_dir, out, n):
    return [sys.executable, "-m", "kateval", "run", "--backend", "reference", "--tasks", TASKS, "--n", str(n),
            "--out", str(out), "--data-dir", str(data_dir), "--no-progress"]


def sample_lines(run_dir):
    return sorted(json.dumps(r, sort_keys=True) for r in iter_records(run_dir))


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, data_dir):
    n = 120  # 10,800 samples: long enough to be killed mid-way
    killed = tmp_path / "killed"
    proc = subprocess.Popen(kateval_cmd(data_dir, killed, n), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = killed / "samples.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not samples.exists() or samples.stat().st_size < 200_000):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_before = sum(1 for _ in iter_records(killed))
    assert 0 < stored_before < 3 * 30 * n, "the run was not killed mid-way"

    subprocess.run(kateval_cmd(data_dir, killed, n), check=True, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run(kateval_cmd(data_dir, whole, n), check=True, capture_output=True)
    resumed, uninterrupted = sample_lines(killed), sample_lines(whole)
    assert len(resumed) == len(set(resumed)) == 3 * 30 * n
    assert resumed == uninterrupted
    assert json.loads((killed / "run.json").read_text())["resumed"] == 1


def test_torn_last_line_is_cut_on_resume(tmp_path, data_dir):
    out = tmp_path / "run"
    assert main(["run", "--backend", "reference", "--tasks", "aime24", "--limit", "3", "--out", str(out),
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    samples = out / "samples.jsonl"
    lines = samples.read_bytes().splitlines(keepends=True)
    samples.write_bytes(b"".join(lines[:2]) + lines[2][:25])  # killed while writing the third record
    assert len(list(iter_records(out))) == 2
    assert main(["run", "--backend", "reference", "--tasks", "aime24", "--limit", "3", "--out", str(out),
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert samples.read_bytes().count(b"\n") == 3 and len(list(iter_records(out))) == 3


def test_resume_with_other_settings_is_refused(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    base = ["run", "--backend", "reference", "--tasks", "aime24", "--limit", "2", "--out", str(out),
            "--data-dir", str(data_dir), "--no-progress"]
    assert main(base) == 0
    assert main(base + ["--temperature", "1.0"]) == 2
    err = capsys.readouterr().err
    assert "other settings (sampling)" in err and "Traceback" not in err


def test_append_flushes_every_batch(tmp_path):
    store = RunStore(tmp_path)
    assert store.open({"a": 1}, {}) == set()
    assert not (tmp_path / "samples.jsonl").exists() or (tmp_path / "samples.jsonl").stat().st_size == 0
    assert json.loads((tmp_path / "run.json").read_text())["identity"] == {"a": 1}


@pytest.mark.parametrize("n", [1, 3])
def test_reference_run_is_all_correct_with_exact_token_sums(tmp_path, data_dir, n):
    out = tmp_path / "run"
    assert main(["run", "--backend", "reference", "--tasks", "aime25", "--n", str(n), "--out", str(out),
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    records = list(iter_records(out))
    assert len(records) == 30 * n and all(r["correct"] and r["status"] == "correct" for r in records)
    for r in records:
        assert r["judge_tokens"] + r["think_tokens"] + r["answer_tokens"] + r["other_tokens"] == r["completion_tokens"]
    summary = json.loads((out / "summary.json").read_text())["tasks"]["aime25"]
    assert summary["problems"] == 30 and summary["samples_per_problem"] == n and summary["accuracy"] == 1.0
    meta = json.loads((out / "run.json").read_text())
    assert meta["tasks"]["aime25"]["source"]["sha256"] and meta["sampling"]["n"] == n and meta["ended"]


def test_a_hand_edited_line_of_other_types_is_skipped_or_blanked_never_a_traceback(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    assert main(["run", "--backend", "reference", "--tasks", "aime24", "--limit", "3", "--out", str(out),
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    samples = out / "samples.jsonl"
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    records[0]["completion_tokens"] = "12"          # may be empty: left empty
    records[1]["correct"] = "yes"                   # may not be: the line is no record
    records[2]["think_tokens"] = 10 ** 30           # no count: what no int64 column takes
    samples.write_text("".join(json.dumps(r) + "\n" for r in [*records, ["a list"]]))
    read = list(iter_records(out))
    assert [r["problem_id"] for r in read] == [records[0]["problem_id"], records[2]["problem_id"]]
    assert read[0]["completion_tokens"] is None and read[1]["think_tokens"] is None
    err = capsys.readouterr().err
    assert "samples.jsonl:1: completion_tokens of another type, left empty" in err
    assert "samples.jsonl:2 is not a valid record ('correct' holds str 'yes')" in err
    assert "samples.jsonl:4 is not a valid record (not a JSON object)" in err
    assert main(["report", str(out)]) == 0 and "Traceback" not in capsys.readouterr().err
