"""`kateval score` grades completions produced elsewhere; bad lines are reported and skipped."""
import json

from kateval.cli import main
from kateval.store import iter_records


def write_lines(path, lines):
    path.write_bytes(b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
                              for line in lines))


def score(tmp_path, data_dir, lines, *extra):
    src = tmp_path / "in.jsonl"
    write_lines(src, lines)
    out = tmp_path / "run"
    code = main(["score", str(src), "--out", str(out), "--data-dir", str(data_dir), "--no-progress", *extra])
    return code, out


def test_bad_lines_are_reported_and_good_lines_graded(tmp_path, data_dir, capsys):
    lines = [
        {"task": "aime24", "problem_id": "2024-I-1", "completion": "<think>x</think>\\boxed{204}"},
        b"{not json",
        b'{"task": "aime24", "problem_id": "2024-I-4", "completion": "\xff\xfe bad utf8"}',
        {"task": "aime24", "completion": "missing id"},
        {"task": "nosuch", "problem_id": "1", "completion": "x"},
        {"task": "aime24", "problem_id": "2024-I-99", "completion": "x"},
        {"task": "aime24", "problem_id": "2024-I-2", "completion": "answer: 26", "finish_reason": "stop"},
        {"task": "aime24", "problem_id": "2024-I-3", "completion": "<think>" + "a" * 10_000_000},
    ]
    code, out = score(tmp_path, data_dir, lines)
    assert code == 0
    err = capsys.readouterr().err
    for fragment in ("in.jsonl:2: not valid JSON", "in.jsonl:4: bad record",
                     "unknown task 'nosuch'", "no problem '2024-I-99'"):
        assert fragment in err
    assert "Traceback" not in err
    records = {r["problem_id"]: r for r in iter_records(out)}
    assert set(records) == {"2024-I-1", "2024-I-2", "2024-I-3", "2024-I-4"}
    assert records["2024-I-4"]["completion"] == "\udcff\udcfe bad utf8"   # bytes that are not UTF-8 are kept
    assert records["2024-I-1"]["correct"] and records["2024-I-1"]["mode"] == "on"
    assert records["2024-I-2"]["extracted_answer"] == "26" and not records["2024-I-2"]["correct"]
    big = records["2024-I-3"]
    assert big["status"] == "truncated" and big["truncated"] and len(big["completion"]) == 10_000_007


def test_thought_with_right_number_but_wrong_answer(tmp_path, data_dir):
    completion = "hm</judge><think_on><think>it is \\boxed{204}</think><answer>\\boxed{205}</answer>"
    code, out = score(tmp_path, data_dir, [{"task": "aime24", "problem_id": "2024-I-1", "completion": completion,
                                            "prefix": "<judge>", "finish_reason": "stop"}])
    record = next(iter_records(out))
    assert code == 0 and record["extracted_answer"] == "205" and record["status"] == "wrong_answer"


def test_sample_indices_are_assigned_in_order_and_token_counts_kept(tmp_path, data_dir):
    lines = [{"task": "aime24", "problem_id": "2024-I-1", "completion": "\\boxed{204}", "completion_tokens": 7,
              "prompt_tokens": 3}] * 3
    code, out = score(tmp_path, data_dir, lines)
    assert code == 0
    records = sorted(iter_records(out), key=lambda r: r["sample_index"])
    assert [r["sample_index"] for r in records] == [0, 1, 2]
    assert records[0]["completion_tokens"] == 7 and records[0]["think_tokens"] is None


def test_missing_input_file_is_one_line_error(tmp_path, capsys):
    assert main(["score", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().startswith("kateval: error:")


def test_unknown_task_and_missing_data_dir_in_run(tmp_path, capsys):
    assert main(["run", "--backend", "reference", "--tasks", "nosuch", "--out", str(tmp_path / "o")]) == 2
    assert "unknown task 'nosuch'" in capsys.readouterr().err
    assert main(["run", "--backend", "reference", "--tasks", "aime24", "--out", str(tmp_path / "o"),
                 "--data-dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_replay_backend_runs_saved_completions(tmp_path, data_dir, capsys):
    src = tmp_path / "saved.jsonl"
    write_lines(src, [
        {"task": "aime24", "problem_id": "2024-I-1", "sample_index": 0, "completion": "\\boxed{204}",
         "finish_reason": "stop"},
        {"task": "aime24", "problem_id": "2024-I-2", "sample_index": 0, "completion": "<think>long",
         "finish_reason": "length"},
        b"garbage",
    ])
    out = tmp_path / "run"
    assert main(["run", "--backend", "replay", "--replay-file", str(src), "--tasks", "aime24", "--limit", "2",
                 "--out", str(out), "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert "saved.jsonl:3: not valid JSON" in capsys.readouterr().err
    records = {r["problem_id"]: r for r in iter_records(out)}
    assert records["2024-I-1"]["correct"]
    assert records["2024-I-2"]["status"] == "truncated" and records["2024-I-2"]["truncated"]
