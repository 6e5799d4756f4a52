"""`kateval compare`: the paired statistics against hand-computed values, and the comparability guard."""
from __future__ import annotations

import json

import pytest
from md_tables import unpadded

from kateval.cli import main as cli
from kateval.report.compare import compare_runs
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.types import KatevalError


def one_sample_run(path, solved, thinks=(), tokens=100, **sampling):
    """Ten problems, one sample each: `solved` and `thinks` are sets of problem numbers."""
    records = [sample_record("t", f"p{i}", 0, correct=i in solved, status="correct" if i in solved else "wrong_answer",
                             mode="on" if i in thinks else "off", completion_tokens=tokens) for i in range(10)]
    return write_run(path, records, run_meta(["t"], sampling={"n": 1, **sampling}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    a = one_sample_run(root / "a", solved={0, 1, 2, 3})
    b = one_sample_run(root / "b", solved=set(range(1, 10)), thinks=set(range(5, 10)), tokens=150, seed=7)
    hot = one_sample_run(root / "hot", solved={0}, temperature=1.0)
    return a, b, hot


def test_mcnemar_exact_on_one_sample_per_problem(runs):
    a, b, _ = runs
    result = compare_runs(a, b)   # the seeds differ: replicates are comparable
    s = result["overall"]
    assert s["problems"] == 10 and s["test"] == "mcnemar_exact"
    assert (s["accuracy_a"], s["accuracy_b"]) == (pytest.approx(0.4), pytest.approx(0.9))
    assert s["accuracy_diff"] == pytest.approx(0.5)
    # discordant pairs: B alone solved p4..p9 (6), A alone p0 (1): p = 2 * (C(7,0) + C(7,1)) / 2^7
    assert (s["b_better"], s["a_better"]) == (6, 1)
    assert s["p_value"] == pytest.approx(2 * 8 / 128)
    low, high = s["accuracy_diff_ci95"]
    assert low <= 0.5 <= high and low > 0
    assert (s["token_diff"], s["token_diff_ci95"]) == (50.0, [50.0, 50.0])


def test_mode_switch_and_flipped_problems(runs):
    a, b, _ = runs
    result = compare_runs(a, b)
    assert result["mode_switch"] == [
        {"mode_a": "off", "mode_b": "off", "problems": 5, "accuracy_a": 0.8, "accuracy_b": 0.8},
        {"mode_a": "off", "mode_b": "on", "problems": 5, "accuracy_a": 0.0, "accuracy_b": 1.0},
    ]
    flips = {(f["problem_id"], f["direction"]) for f in result["flipped"]}
    assert flips == {("p0", "lost")} | {(f"p{i}", "gained") for i in range(4, 10)}


def test_sign_test_when_problems_have_several_samples(tmp_path):
    # per-problem accuracy (4 samples): A 0/4 everywhere; B beats A on 5 problems, loses on none of them...
    def run(path, correct_counts):
        records = [sample_record("t", f"p{i}", j, correct=j < c, status="correct" if j < c else "wrong_answer")
                   for i, c in enumerate(correct_counts) for j in range(4)]
        return write_run(path, records, run_meta(["t"], sampling={"n": 4}))

    a = run(tmp_path / "a", [0, 0, 0, 0, 0, 2, 3, 3])
    b = run(tmp_path / "b", [1, 2, 4, 1, 3, 1, 3, 3])   # 5 better, 1 worse (p5), 2 ties
    s = compare_runs(a, b)["overall"]
    assert s["test"] == "sign_test" and (s["b_better"], s["a_better"]) == (5, 1)
    assert s["p_value"] == pytest.approx(2 * (1 + 6) / 64)
    assert s["accuracy_diff"] == pytest.approx((1 + 2 + 4 + 1 + 3 - 1) / 4 / 8)


def test_runs_with_other_sampling_are_refused_unless_forced(runs, capsys):
    a, _, hot = runs
    with pytest.raises(KatevalError, match="differ in sampling temperature; --force"):
        compare_runs(a, hot)
    assert cli(["compare", str(a), str(hot)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert cli(["compare", str(a), str(hot), "--force"]) == 0
    captured = capsys.readouterr()
    assert "runs differ in sampling temperature: 0.6 vs 1.0" in captured.err
    assert "| overall | 10 | 40.0% | 10.0% | -30.0% |" in unpadded(captured.out)


def test_runs_with_other_tasks_are_refused(tmp_path):
    a = write_run(tmp_path / "a", [sample_record("t", "p0")], run_meta(["t"]))
    b = write_run(tmp_path / "b", [sample_record("t", "p0"), sample_record("v", "p0")], run_meta(["t", "v"]))
    with pytest.raises(KatevalError, match="differ in tasks"):
        compare_runs(a, b)
    result = compare_runs(a, b, force=True)
    assert result["differences"] == ["tasks: t vs t,v"]
    assert (result["only_a"], result["only_b"]) == (0, 1)


def test_compare_writes_markdown_html_and_json(runs, tmp_path, capsys):
    a, b, _ = runs
    out = tmp_path / "reports" / "compare"
    assert cli(["compare", str(a), str(b), "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["overall"]["b_better"] == 6
    assert "Flipped problems (7)" in out.with_suffix(".md").read_text()
    assert "<table>" in out.with_suffix(".html").read_text()
