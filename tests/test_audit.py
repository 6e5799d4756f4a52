"""kateval audit: every number checked against hand-computed values on small synthetic runs.

The fixture: task aime24, five problems, two samples per problem and mode (tokens in brackets, None = unknown).

    problem  difficulty  forced on              forced off           auto (mode, correct, tokens)
    P1       easy        1[100] 1[100]  r       1[10]  1[10]   r     on 1[100]  on 1[120]     chose on
    P2       easy        1[200] 0[100]  r(0.5)  1[20]  1[30]   r     off 1[20]  off 0[20]     chose off
    P3       hard        1[300] 1[500]  r       0[50]  0[50]   w     off 0[50]  on 1[450]     chose off (1 of 2)
    P4       hard        0[600] 0[400]  w       0[40]  1[60]   r     on 0[500]  on 0[700]     chose on
    P5       hard        0[300] 0[300]  w       0[-]   0[-]    w     none 0[40] off 0[60]     chose off

Per problem (accuracy, mean tokens):
    on:     P1 (1, 100)  P2 (.5, 150)  P3 (1, 400)  P4 (0, 500)   P5 (0, 300)
    off:    P1 (1, 10)   P2 (1, 25)    P3 (0, 50)   P4 (.5, 50)   P5 (0, None)
    auto:   P1 (1, 110)  P2 (.5, 20)   P3 (.5, 250) P4 (0, 600)   P5 (0, 50);  think rates 1, 0, .5, 1, 0
    oracle: P1 off (both right, off cheaper)  P2 off  P3 on (only on right)  P4 off (only off right)
            P5 off (neither right; off has no token count, so off)
Needless: P1, P4 (auto thought, off right). Missed: P3 (auto did not think, on right, off wrong).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from md_tables import unpadded

from kateval import cli
from kateval.audit import audit_runs
from kateval.audit.load import load_audit_input
from kateval.audit.metrics import AesWeights, ModeStats, aes, build_audit, cheaper_mode, difficulty_order, mode_stats

ON = {"P1": [(1, 100), (1, 100)], "P2": [(1, 200), (0, 100)], "P3": [(1, 300), (1, 500)],
      "P4": [(0, 600), (0, 400)], "P5": [(0, 300), (0, 300)]}
OFF = {"P1": [(1, 10), (1, 10)], "P2": [(1, 20), (1, 30)], "P3": [(0, 50), (0, 50)],
       "P4": [(0, 40), (1, 60)], "P5": [(0, None), (0, None)]}
AUTO = {"P1": [("on", 1, 100), ("on", 1, 120)], "P2": [("off", 1, 20), ("off", 0, 20)],
        "P3": [("off", 0, 50), ("on", 1, 450)], "P4": [("on", 0, 500), ("on", 0, 700)],
        "P5": [("none", 0, 40), ("off", 0, 60)]}
DIFFICULTY = {"P1": "easy", "P2": "easy", "P3": "hard", "P4": "hard", "P5": "hard"}


def near(expected):
    """`expected` with every number compared approximately (pytest.approx does not nest)."""
    if isinstance(expected, dict):
        return {key: near(value) for key, value in expected.items()}
    if isinstance(expected, list):
        return [near(value) for value in expected]
    return pytest.approx(expected) if isinstance(expected, (int, float)) else expected


def record(problem_id: str, index: int, mode: str, correct: int, tokens: int | None, task: str = "aime24",
           difficulty: str | None = None) -> dict:
    return {"task": task, "problem_id": problem_id, "sample_index": index, "mode": mode, "correct": bool(correct),
            "status": "correct" if correct else "wrong_answer", "completion_tokens": tokens,
            "think_tokens": None, "difficulty": difficulty if difficulty else DIFFICULTY.get(problem_id)}


def forced(samples: dict, mode: str, **extra) -> list[dict]:
    return [record(pid, i, mode, c, t, **extra) for pid, rows in samples.items() for i, (c, t) in enumerate(rows)]


def chosen(samples: dict, **extra) -> list[dict]:
    return [record(pid, i, m, c, t, **extra) for pid, rows in samples.items() for i, (m, c, t) in enumerate(rows)]


def write_run(directory: Path, records: list[dict], recorded_mode: str | None = None) -> Path:
    """A run directory as `kateval score` (no mode recorded) or `kateval run --mode` leaves it."""
    directory.mkdir(parents=True)
    meta = {"backend": {"backend": "score"}}
    if recorded_mode:
        meta["backend_config"] = {"mode": recorded_mode}
    (directory / "run.json").write_text(json.dumps(meta))
    (directory / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return directory


@pytest.fixture
def runs(tmp_path) -> dict[str, Path]:
    return {"auto": write_run(tmp_path / "auto", chosen(AUTO), "auto"),
            "on": write_run(tmp_path / "on", forced(ON, "on"), "on"),
            "off": write_run(tmp_path / "off", forced(OFF, "off"))}


@pytest.fixture
def audit(runs) -> dict:
    return build_audit(load_audit_input(runs).problems)


def test_policies_regret_and_think_rate_overall(audit):
    overall = audit["overall"]
    assert overall["problems"] == 5
    assert overall["policies"]["always_on"] == near({"accuracy": 2.5 / 5, "mean_tokens": 1450 / 5})
    assert overall["policies"]["always_off"] == near({"accuracy": 2.5 / 5, "mean_tokens": 135 / 4})
    assert overall["policies"]["auto"] == near({"accuracy": 2 / 5, "mean_tokens": 1030 / 5})
    assert overall["policies"]["oracle"] == near({"accuracy": 3.5 / 5, "mean_tokens": 485 / 4})
    assert overall["regret"] == near({"accuracy": 0.7 - 0.4, "tokens": 206 - 121.25})
    assert overall["think_rate"] == pytest.approx(2.5 / 5)
    assert overall["chose_on_rate"] == pytest.approx(2 / 5)


def test_decision_matrix_and_thinking_errors_overall(audit):
    overall = audit["overall"]
    assert overall["decision_matrix"] == {
        "auto_on": {"on_right_off_right": 1, "on_right_off_wrong": 0, "on_wrong_off_right": 1, "on_wrong_off_wrong": 0},
        "auto_off": {"on_right_off_right": 1, "on_right_off_wrong": 1, "on_wrong_off_right": 0,
                     "on_wrong_off_wrong": 1}}
    assert overall["needless"] == near({"count": 2, "rate": 2 / 5, "conditional_rate": 2 / 3,
                                                 "problems": ["aime24/P1", "aime24/P4"]})
    assert overall["missed"] == near({"count": 1, "rate": 1 / 5, "conditional_rate": 1 / 1,
                                               "problems": ["aime24/P3"]})


def test_aes_against_each_baseline(runs):
    problems = load_audit_input(runs).problems
    on_based = build_audit(problems, baseline="on")["overall"]["aes"]
    assert on_based == near({
        "always_on": 0.0,
        "always_off": (290 - 33.75) / 290 + 3 * 0.0,
        "auto": (290 - 206) / 290 - 5 * (0.5 - 0.4) / 0.5,
        "oracle": (290 - 121.25) / 290 + 3 * (0.7 - 0.5) / 0.5})
    off_based = build_audit(problems, baseline="off")["overall"]["aes"]
    assert off_based["auto"] == pytest.approx((33.75 - 206) / 33.75 - 5 * (0.5 - 0.4) / 0.5)
    assert off_based["always_off"] == 0.0
    auto_based = build_audit(problems, baseline="auto")["overall"]["aes"]
    assert auto_based["oracle"] == pytest.approx((206 - 121.25) / 206 + 3 * (0.7 - 0.4) / 0.4)
    weighted = build_audit(problems, baseline="on", weights=AesWeights(alpha=2, beta=1, gamma=10))["overall"]["aes"]
    assert weighted["oracle"] == pytest.approx(2 * (290 - 121.25) / 290 + 1 * (0.7 - 0.5) / 0.5)
    assert weighted["auto"] == pytest.approx(2 * (290 - 206) / 290 - 10 * (0.5 - 0.4) / 0.5)


def test_per_difficulty_numbers(audit):
    easy, hard = audit["tasks"]["aime24"]["difficulties"]["easy"], audit["tasks"]["aime24"]["difficulties"]["hard"]
    assert list(audit["tasks"]["aime24"]["difficulties"]) == ["easy", "hard"]
    assert easy["policies"] == near({
        "always_on": {"accuracy": 0.75, "mean_tokens": 125}, "always_off": {"accuracy": 1.0, "mean_tokens": 17.5},
        "auto": {"accuracy": 0.75, "mean_tokens": 65}, "oracle": {"accuracy": 1.0, "mean_tokens": 17.5}})
    assert (easy["needless"]["problems"], easy["needless"]["conditional_rate"]) == (["aime24/P1"], 0.5)
    assert (easy["missed"]["count"], easy["missed"]["conditional_rate"]) == (0, None)
    assert hard["policies"] == near({
        "always_on": {"accuracy": 1 / 3, "mean_tokens": 400}, "always_off": {"accuracy": 1 / 6, "mean_tokens": 50},
        "auto": {"accuracy": 1 / 6, "mean_tokens": 300}, "oracle": {"accuracy": 0.5, "mean_tokens": 225}})
    assert hard["needless"] == near({"count": 1, "rate": 1 / 3, "conditional_rate": 1.0,
                                              "problems": ["aime24/P4"]})
    assert hard["missed"]["rate"] == pytest.approx(1 / 3)
    assert hard["aes"]["auto"] == pytest.approx((400 - 300) / 400 - 5 * ((1 / 3 - 1 / 6) / (1 / 3)))
    assert hard["regret"] == near({"accuracy": 0.5 - 1 / 6, "tokens": 300 - 225})


def test_think_rate_by_empirical_difficulty(audit):
    rows = audit["overall"]["think_rate_by_difficulty"]
    assert [(r["on_accuracy_from"], r["on_accuracy_to"], r["problems"]) for r in rows] == [
        (0.0, 0.25, 2), (0.25, 0.5, 0), (0.5, 0.75, 1), (0.75, 1.0, 2)]
    # P4, P5 (forced-on 0): think 1 and 0; P2 (0.5): 0; P1, P3 (1.0, the closed last bin): 1 and 0.5
    assert [r["think_rate"] for r in rows] == pytest.approx([0.5, None, 0.0, 0.75])


def test_per_problem_verdicts(runs):
    by_id = {p.problem_id: p for p in load_audit_input(runs).problems}
    assert [(pid, p.chose_on, p.on_right, p.off_right, p.oracle) for pid, p in by_id.items()] == [
        ("P1", True, True, True, "off"), ("P2", False, True, True, "off"), ("P3", False, True, False, "on"),
        ("P4", True, False, True, "off"), ("P5", False, False, False, "off")]
    assert by_id["P5"].auto == ModeStats(samples=2, accuracy=0.0, mean_tokens=50.0, think_rate=0.0)
    assert by_id["P5"].off.mean_tokens is None
    assert [p.needless for p in by_id.values()] == [True, False, False, True, False]
    assert [p.missed for p in by_id.values()] == [False, False, True, False, False]


def test_threshold_moves_verdicts(runs):
    """At 0.75, P2's forced-on (0.5) and P4's forced-off (0.5) are no longer right: P4 is right in neither mode,
    so the oracle takes its cheaper mode (off: 50 < 500 tokens) and its thinking stops counting as needless."""
    problems = load_audit_input(runs, threshold=0.75).problems
    overall = build_audit(problems)["overall"]
    assert overall["decision_matrix"]["auto_on"] == {"on_right_off_right": 1, "on_right_off_wrong": 0,
                                                     "on_wrong_off_right": 0, "on_wrong_off_wrong": 1}
    assert overall["decision_matrix"]["auto_off"]["on_wrong_off_right"] == 1   # P2
    assert overall["needless"]["problems"] == ["aime24/P1"]
    assert overall["policies"]["oracle"] == near({"accuracy": 3.5 / 5, "mean_tokens": 485 / 4})


def test_small_definitions():
    assert cheaper_mode(ModeStats(1, 1.0, 10.0, 1.0), ModeStats(1, 1.0, 10.0, 0.0)) == "off"   # tie: off
    assert cheaper_mode(ModeStats(1, 1.0, 9.0, 1.0), ModeStats(1, 1.0, 10.0, 0.0)) == "on"
    assert cheaper_mode(ModeStats(1, 1.0, 9.0, 1.0), ModeStats(1, 1.0, None, 0.0)) == "off"  # unknown: off
    assert aes(0.5, 10, 0.0, 100) is None and aes(0.5, 10, 0.5, None) is None
    assert aes(0.6, 50, 0.5, 100) == pytest.approx(0.5 + 3 * 0.2)
    assert aes(0.4, 150, 0.5, 100) == pytest.approx(-0.5 - 5 * 0.2)
    assert mode_stats([record("P", 0, "on", 1, 10), record("P", 1, "off", 0, None), record("P", 2, "on", 1, 20)]) \
        == ModeStats(samples=3, accuracy=2 / 3, mean_tokens=15.0, think_rate=2 / 3)
    assert sorted(["10", "2", "hard", "x", "easy", "medium"], key=difficulty_order) == \
        ["easy", "medium", "hard", "2", "10", "x"]


def test_unmatched_problems_are_skipped_and_reported(tmp_path):
    extra = chosen({**AUTO, "P6": [("on", 1, 5)]})
    runs = {"auto": write_run(tmp_path / "a", extra), "on": write_run(tmp_path / "n", forced(ON, "on")),
            "off": write_run(tmp_path / "f", forced(OFF, "off"))}
    loaded = load_audit_input(runs)
    assert len(loaded.problems) == 5 and loaded.unmatched == {"auto": ["aime24/P6"]}


def test_tasks_are_audited_apart_and_pooled(tmp_path):
    second = {"Q1": [(1, 70)]}
    runs = {"auto": write_run(tmp_path / "a", chosen(AUTO) + chosen({"Q1": [("off", 1, 30)]}, task="aime25")),
            "on": write_run(tmp_path / "n", forced(ON, "on") + forced(second, "on", task="aime25")),
            "off": write_run(tmp_path / "f", forced(OFF, "off") + forced({"Q1": [(1, 30)]}, "off", task="aime25"))}
    result = build_audit(load_audit_input(runs).problems)
    assert sorted(result["tasks"]) == ["aime24", "aime25"]
    assert result["tasks"]["aime25"]["problems"] == 1 and result["tasks"]["aime25"]["difficulties"] == {}
    assert result["tasks"]["aime25"]["policies"]["oracle"] == {"accuracy": 1.0, "mean_tokens": 30.0}
    assert result["overall"]["problems"] == 6
    assert result["overall"]["policies"]["auto"]["accuracy"] == pytest.approx((2 + 1) / 6)


def test_cli_writes_json_md_and_self_contained_html(runs, tmp_path, capsys):
    code = cli.main(["audit", "--auto", str(runs["auto"]), "--on", str(runs["on"]), "--off", str(runs["off"]),
                     "--aes-gamma", "4"])
    assert code == 0
    out = tmp_path  # default: the folder holding the three runs
    saved = json.loads((out / "audit.json").read_text())
    assert saved["settings"]["aes_weights"] == {"alpha": 1.0, "beta": 3.0, "gamma": 4.0}
    assert saved["settings"]["threshold"] == 0.5 and saved["settings"]["baseline"] == "on"
    assert saved["overall"]["aes"]["auto"] == pytest.approx((290 - 206) / 290 - 4 * (0.5 - 0.4) / 0.5)
    assert [p["problem_id"] for p in saved["problems"] if p["missed"]] == ["P3"]
    markdown = (out / "audit.md").read_text()
    assert "| auto | 40.0% | [10.0%, 70.0%] | 206.0 | -0.510 |" in unpadded(markdown)
    assert "| forced on right, forced off wrong | 0 | 1 (missed) |" in unpadded(markdown)
    assert "![policies_accuracy_vs_tokens](audit_policies_accuracy_vs_tokens.png)" in markdown
    assert (out / "audit_policies_accuracy_vs_tokens.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "audit_think_rate_vs_difficulty.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "audit.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2 and ".png" not in page
    assert "aime24/P1, aime24/P4" in page


@pytest.mark.parametrize("problem, message", [
    ("missing", "--on {root}/nowhere: no such directory"),
    ("tasks", "the runs cover different tasks (auto: aime24; on: aime25; off: aime24)"),
    ("shared", "the auto, on and off runs share no problem"),
    ("mode", "--on {root}/on was run with --mode off, not --mode on"),
    ("empty", "--off {root}/off holds no samples"),
    ("automode", "--auto {root}/auto was run with --mode on, not --mode auto"),
])
def test_bad_input_is_one_line(tmp_path, capsys, problem, message):
    on_records = {"tasks": forced(ON, "on", task="aime25"),
                  "shared": [dict(r, problem_id="X" + r["problem_id"]) for r in forced(ON, "on")]}
    paths = {"auto": write_run(tmp_path / "auto", chosen(AUTO), "on" if problem == "automode" else None),
             "on": write_run(tmp_path / "on", on_records.get(problem, forced(ON, "on")),
                             "off" if problem == "mode" else None),
             "off": write_run(tmp_path / "off", [] if problem == "empty" else forced(OFF, "off"))}
    if problem == "missing":
        paths["on"] = tmp_path / "nowhere"
    code = cli.main(["audit", *(arg for mode, path in paths.items() for arg in (f"--{mode}", str(path)))])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert message.format(root=tmp_path) in error


@pytest.mark.parametrize("argv, message", [
    (["--auto", "a", "--on", "b"], "give all of --auto, --on and --off"),
    (["--auto", "a", "--on", "b", "--off", "c", "--tasks", "aime24"], "not both"),
    ([], "give all of --auto, --on and --off"),
])
def test_inputs_are_runs_or_tasks(capsys, argv, message):
    assert cli.main(["audit", *argv]) == 2
    assert message in capsys.readouterr().err


def test_generates_three_modes_with_the_same_seeds(tmp_path, data_dir):
    """The reference backend answers right in every mode (forced on thinks, forced off does not), so every
    problem is right everywhere and the oracle is auto's own cost or better."""
    out = tmp_path / "audit"
    code = cli.main(["audit", "--backend", "reference", "--tasks", "aime24", "--limit", "3", "--n", "2",
                     "--data-dir", str(data_dir), "--no-progress", "--out", str(out)])
    assert code == 0
    metas = {mode: json.loads((out / mode / "run.json").read_text()) for mode in ("auto", "on", "off")}
    assert {mode: meta["identity"]["mode"] for mode, meta in metas.items()} == {"auto": "auto", "on": "on",
                                                                                "off": "off"}
    assert len({json.dumps(meta["identity"]["sampling"]) for meta in metas.values()}) == 1
    saved = json.loads((out / "audit.json").read_text())
    assert saved["overall"]["problems"] == 3
    assert all(saved["overall"]["policies"][p]["accuracy"] == 1.0 for p in ("always_on", "always_off", "oracle"))
    assert saved["overall"]["missed"]["count"] == 0
    assert (out / "audit.html").exists()
    for mode in ("on", "off"):
        assert {json.loads(line)["mode"] for line in (out / mode / "samples.jsonl").read_text().splitlines()} == {mode}


def test_audit_runs_returns_the_paths(runs, tmp_path):
    paths = audit_runs(runs, tmp_path / "report", baseline="off")
    assert sorted(paths) == ["html", "json", "md"] and all(path.exists() for path in paths.values())
    assert json.loads(paths["json"].read_text())["settings"]["baseline"] == "off"


def kat(thinks: bool, answer: int) -> str:
    thought = "<think_on>\n<think>\nwork\n</think>\n" if thinks else "<think_off>\n"
    return f"<judge>\nwhy\n</judge>\n{thought}<answer>\nThe answer is $\\boxed{{{answer}}}$.\n</answer>"


def test_audits_runs_graded_with_kateval_score(tmp_path, data_dir):
    """Outputs generated elsewhere: 2024-I-1 (answer 204) needs thinking, 2024-I-2 (answer 25) does not, and
    auto thinks on both: one needless thought. Auto: acc 1, tokens (320+250)/2; oracle: on for I-1 (300),
    off for I-2 (20); always on: 1, (300+200)/2; always off: 0.5, (30+20)/2."""
    lines = {"auto": [("2024-I-1", True, 204, 320), ("2024-I-2", True, 25, 250)],
             "on": [("2024-I-1", True, 204, 300), ("2024-I-2", True, 25, 200)],
             "off": [("2024-I-1", False, 7, 30), ("2024-I-2", False, 25, 20)]}
    for mode, rows in lines.items():
        source = tmp_path / f"{mode}.jsonl"
        source.write_text("".join(json.dumps({"task": "aime24", "problem_id": pid, "completion": kat(thinks, answer),
                                              "completion_tokens": tokens}) + "\n"
                                  for pid, thinks, answer, tokens in rows))
        assert cli.main(["score", str(source), "--out", str(tmp_path / mode), "--data-dir", str(data_dir),
                         "--no-progress"]) == 0
    audit = json.loads(audit_runs({m: tmp_path / m for m in lines}, tmp_path / "audit")["json"].read_text())
    overall = audit["overall"]
    assert overall["needless"]["problems"] == ["aime24/2024-I-2"] and overall["missed"]["count"] == 0
    assert overall["policies"] == near({"always_on": {"accuracy": 1.0, "mean_tokens": 250},
                                        "always_off": {"accuracy": 0.5, "mean_tokens": 25},
                                        "auto": {"accuracy": 1.0, "mean_tokens": 285},
                                        "oracle": {"accuracy": 1.0, "mean_tokens": 160}})
    assert overall["aes"]["auto"] == pytest.approx((250 - 285) / 250)
    assert overall["regret"] == near({"accuracy": 0.0, "tokens": 285 - 160})
