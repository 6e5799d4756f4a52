"""report, compare and leaderboard on runs made by `kateval score` (no sampling in run.json, token counts only
where the source gave them)."""
from __future__ import annotations

import json

import pytest
from md_tables import unpadded

from kateval.cli import main as cli


def completions(gold, right, think, lengths):
    """AIME completions in KAT form: problem i answered right if i in `right`, thinking if i in `think`."""
    for i, (problem_id, answer) in enumerate(gold):
        shown = answer if i in right else "1"
        body = "<think_on>\n<think>\nwork\n</think>\n" if i in think else "<think_off>\n"
        row = {"task": "aime24", "problem_id": problem_id, "prefix": "<judge>\n", "finish_reason": "stop",
               "completion": f"ok\n</judge>\n{body}<answer>\n$\\boxed{{{shown}}}$\n</answer>"}
        if lengths[i] is not None:
            row["token_ids"] = list(range(lengths[i]))
        yield row


@pytest.fixture(scope="module")
def scored(tmp_path_factory, data_dir):
    rows = [json.loads(line) for line in (data_dir / "aime" / "aime_2024.jsonl").read_text().splitlines()[:6]]
    gold = [(row["id"], str(row["answer"])) for row in rows]
    root = tmp_path_factory.mktemp("scored")
    runs = []
    for name, right, think, lengths in [("a", {0, 1}, {1, 2}, [10, 20, 30, None, 50, 60]),
                                        ("b", {0, 1, 2, 3, 4}, {0, 1, 2}, [12, 25, 40, 35, None, 70])]:
        source = root / f"{name}.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in completions(gold, right, think, lengths)))
        assert cli(["score", str(source), "--out", str(root / name), "--data-dir", str(data_dir),
                    "--no-progress"]) == 0
        runs.append(root / name)
    return runs


def test_report_on_a_scored_run(scored, capsys):
    a, _ = scored
    assert cli(["report", str(a)]) == 0
    summary = json.loads((a / "summary.json").read_text())
    task = summary["tasks"]["aime24"]
    assert task["accuracy"] == pytest.approx(2 / 6) and task["think_rate"] == pytest.approx(2 / 6)
    assert task["mean_completion_tokens"] == pytest.approx((10 + 20 + 30 + 50 + 60) / 5)
    assert task["maj_at_n"] == pytest.approx(2 / 6)
    assert summary["run"]["model"] == "a" and summary["run"]["fingerprint"]["n"] == 1
    assert summary["run"]["fingerprint"]["max_tokens"] is None
    assert "max_tokens -" in (a / "report.md").read_text()


def test_compare_and_leaderboard_on_scored_runs(scored, capsys):
    a, b = scored
    assert cli(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    # b solves p2, p3, p4 that a missed: McNemar 3+/0-, p = 2/8
    assert "| aime24 | 6 | 33.3% | 83.3% | 50.0% |" in unpadded(out) and "mcnemar_exact (3+/0-) | 0.25 |" in unpadded(out)
    assert cli(["leaderboard", str(a), str(b), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("b,b,") and lines[2].startswith("a,a,")
