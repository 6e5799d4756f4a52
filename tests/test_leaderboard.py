"""`kateval leaderboard`: rows, configuration flags, sorting and the four formats."""
from __future__ import annotations

import csv
import io

import pytest
from md_tables import md_cells

from kateval.cli import main as cli
from kateval.report.leaderboard import leaderboard, render
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.types import KatevalError


def run(path, model, solved, thinks=0, **sampling):
    """Four problems of task t, one sample each: the first `solved` correct, the first `thinks` in think mode."""
    records = [sample_record("t_x", f"p{i}", correct=i < solved, mode="on" if i < thinks else "off",
                             completion_tokens=100 * (i + 1)) for i in range(4)]
    return write_run(path, records, run_meta(["t_x"], model=model, sampling=sampling))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    return [run(root / "small", "org/small", 1), run(root / "big", "org/big", 3, thinks=2),
            run(root / "hot", "org/hot", 2, temperature=1.0)]


def test_rows_carry_metrics_and_fingerprint_and_flag_odd_configurations(runs):
    rows = leaderboard(runs)
    assert rows["model"].tolist() == ["big", "hot", "small"]     # default: overall accuracy, best first
    big = rows.iloc[0]
    assert (big["t_x acc"], big["t_x think"], big["t_x tokens"]) == (0.75, 0.5, 250.0)
    assert (big["max_tokens"], big["temperature"], big["top_p"], big["n"]) == (32768, 0.6, 0.95, 1)
    assert dict(zip(rows["model"], rows["config"])) == {"big": "ok", "small": "ok", "hot": "differs: temperature"}


def test_sort_by_any_column(runs):
    assert leaderboard(runs, sort="model")["model"].tolist() == ["big", "hot", "small"]
    assert leaderboard(runs, sort="T_X ACC", ascending=True)["model"].tolist() == ["small", "hot", "big"]
    assert leaderboard(runs, sort="temperature")["model"].iloc[0] == "hot"
    with pytest.raises(KatevalError, match="no column 'speed'"):
        leaderboard(runs, sort="speed")


def test_missing_values_sort_last_both_ways(tmp_path, runs):
    other = write_run(tmp_path / "other", [sample_record("u_y", "p0")], run_meta(["u_y"], model="org/other"))
    for ascending in (True, False, None):
        assert leaderboard([*runs, other], sort="t_x acc", ascending=ascending)["model"].iloc[-1] == "other"


def test_formats(runs):
    rows = leaderboard(runs)
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert parsed[0]["model"] == "big" and float(parsed[0]["t_x acc"]) == 0.75
    latex = render(rows, "latex")
    assert latex.startswith(r"\begin{tabular}") and r"t\_x acc" in latex and r"75.0\%" in latex
    assert latex.count(r"\\") == 4   # header and three rows
    markdown = render(rows, "md")
    assert md_cells(markdown, "big")[:7] == ["big", "big", "org/big", "auto", "75.0%", "50.0%", "250"]
    assert "1 run(s) use a configuration unlike the most common one" in markdown
    assert "<td>differs: temperature</td>" in render(rows, "html")


def test_command_writes_md_and_html_and_skips_non_runs(runs, tmp_path, capsys):
    out = tmp_path / "reports" / "leaderboard"
    args = ["leaderboard", *map(str, runs), str(tmp_path), "--out", str(out)]
    assert cli(args) == 0
    assert "is not a run directory; skipped" in capsys.readouterr().err
    assert "| big " in out.with_suffix(".md").read_text()
    assert out.with_suffix(".html").read_text().startswith("<!DOCTYPE html>")
    assert cli(["leaderboard", "--format", "pdf", str(runs[0])]) == 2
    assert cli(["leaderboard"]) == 2
    assert "no run directories given" in capsys.readouterr().err


def test_without_a_majority_configuration_every_row_is_flagged(runs):
    small, _, hot = runs
    assert leaderboard([small, hot])["config"].tolist() == ["differs: temperature"] * 2
    assert leaderboard([small, small])["config"].tolist() == ["ok", "ok"]
