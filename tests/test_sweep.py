"""kateval sweep on the reference backend (fast): the grid's cells, records, seeds and budgets, resume, and the
frontier report. The real engine (vLLM, the tiny model) is tested in test_sweep_vllm.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kateval import cli
from kateval.store import iter_records, read_run_meta
from kateval.sweep import Cell, grid, parse_budgets

BUDGETS = (8, 32)


def sweep_args(out: Path, data_dir: Path, *extra: str) -> list[str]:
    return ["sweep", "--backend", "reference", "--tasks", "aime24,aime25", "--limit", "3", "--n", "2",
            "--thinking-budgets", ",".join(map(str, BUDGETS)) + ",none", "--data-dir", str(data_dir),
            "--no-progress", "--out", str(out), *extra]


def records(run_dir: Path) -> dict:
    return {(r["task"], r["problem_id"], r["sample_index"]): r for r in iter_records(run_dir)}


@pytest.fixture(scope="module")
def swept(tmp_path_factory, data_dir) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "s"
    assert cli.main(sweep_args(out, data_dir)) == 0
    return out


def test_grid_is_every_mode_at_every_budget_and_off_once():
    assert [c.name for c in grid(["auto", "on", "off"], [512, None])] == ["auto-think512", "auto", "on-think512",
                                                                           "on", "off"]
    assert parse_budgets("512, 1024,none,512") == [512, 1024, None]


@pytest.mark.parametrize("spec", ["", "lots", "-5", "1.5"])
def test_bad_budgets_are_one_line_errors(spec, tmp_path, capsys):
    assert cli.main(["sweep", "--backend", "reference", "--tasks", "aime24", "--thinking-budgets", spec,
                     "--out", str(tmp_path / "s")]) == 2
    assert "kateval: error:" in capsys.readouterr().err


def test_every_cell_is_a_run_directory_with_its_records(swept):
    manifest = json.loads((swept / "sweep.json").read_text())
    cells = [Cell(c["mode"], c["thinking_budget"]) for c in manifest["cells"]]
    assert {c.name for c in cells} == {"auto-think8", "auto-think32", "auto", "on-think8", "on-think32", "on", "off"}
    keys = None
    for cell in cells:
        stored = records(swept / cell.name)
        keys = keys or set(stored)
        assert set(stored) == keys and len(keys) == 2 * 3 * 2          # the same samples in every cell
        meta = read_run_meta(swept / cell.name)
        assert meta["identity"]["mode"] == cell.mode
        assert meta["identity"]["backend_options"].get("thinking_budget") == cell.thinking_budget
        assert (swept / cell.name / "summary.json").exists()
        for record in stored.values():
            assert record["thinking_budget"] == cell.thinking_budget and record["correct"]
            if cell.mode != "auto":
                assert record["mode"] == cell.mode                         # forced per request
            parts = ("judge_tokens", "think_tokens", "answer_tokens", "other_tokens")
            assert sum(record[p] for p in parts) == record["completion_tokens"]


def test_a_budget_is_never_exceeded_and_a_cut_is_marked(swept):
    for budget in BUDGETS:
        for record in records(swept / f"on-think{budget}").values():
            # Forced on: the prefill's "\n" after <think> and the generated thought share the budget; the forced
            # </think> is think too. So the think segment holds exactly `budget` tokens when the budget cut it.
            assert record["think_tokens"] == budget and record["think_budget_hit"] is True
    unbudgeted = records(swept / "on")
    assert all(r["think_tokens"] > max(BUDGETS) and r["think_budget_hit"] is False for r in unbudgeted.values())
    for record in records(swept / "auto-think8").values():
        assert record["think_budget_hit"] is (record["mode"] == "on")
        assert record["think_tokens"] <= 8 + 2                              # + the generated <think> and </think>


def test_cells_are_what_kateval_run_writes_for_that_mode_and_budget(swept, data_dir, tmp_path):
    """Same identity (so `kateval run` resumes a cell with nothing to do) and the same records."""
    cell = swept / "on-think8"
    before = records(cell)
    run_flags = ["run", "--backend", "reference", "--tasks", "aime24,aime25", "--limit", "3", "--n", "2",
                 "--mode", "on", "--thinking-budget", "8", "--data-dir", str(data_dir), "--no-progress"]
    assert cli.main([*run_flags, "--out", str(cell)]) == 0
    assert records(cell) == before
    alone = tmp_path / "alone"
    assert cli.main([*run_flags, "--out", str(alone)]) == 0
    assert records(alone) == before


def test_rerun_resumes_and_other_settings_are_refused(swept, data_dir, capsys):
    sizes = {d.name: (d / "samples.jsonl").stat().st_size for d in swept.iterdir() if d.is_dir()
             and (d / "samples.jsonl").exists()}
    assert cli.main(sweep_args(swept, data_dir)) == 0
    assert sizes == {name: (swept / name / "samples.jsonl").stat().st_size for name in sizes}
    assert cli.main([*sweep_args(swept, data_dir), "--temperature", "0.9"]) == 2
    assert "other settings (sampling)" in capsys.readouterr().err


def test_a_partly_killed_sweep_resumes_to_the_same_records(swept, data_dir, tmp_path):
    """A cell cut short (a torn last line, as kill -9 leaves) and a cell never started are completed."""
    partial = tmp_path / "partial"
    assert cli.main(sweep_args(partial, data_dir)) == 0
    torn = partial / "auto-think8" / "samples.jsonl"
    lines = torn.read_bytes().splitlines(keepends=True)
    torn.write_bytes(b"".join(lines[:5]) + lines[5][:20])
    (partial / "on" / "samples.jsonl").unlink()
    (partial / "on" / "run.json").unlink()
    assert cli.main(sweep_args(partial, data_dir)) == 0
    for cell in ("auto-think8", "on", "off"):
        assert records(partial / cell) == records(swept / cell)


def test_the_frontier_report(swept):
    result = json.loads((swept / "frontier.json").read_text())
    points = {p["name"]: p for p in result["points"]}
    assert len(points) == 7 and all(p["accuracy"] == 1.0 for p in points.values())
    # Every cell is right on every problem, so the cheapest one alone is the frontier: off.
    assert result["frontier"] == ["off"] == result["forced_frontier"]
    assert min(points.values(), key=lambda p: p["tokens"])["name"] == "off"
    autos = {row["name"]: row for row in result["auto_vs_forced_frontier"]}
    assert set(autos) == {"auto-think8", "auto-think32", "auto"}
    assert all(row["accuracy_gain"] == 0 and row["tokens_saved"] < 0 for row in autos.values())
    assert {task: r["cheapest_within_ci"]["name"] for task, r in result["per_task"].items()} == {
        "aime24": "off", "aime25": "off"}
    html = (swept / "frontier.html").read_text()
    assert "data:image/png;base64," in html and "Pareto frontier" in html and "src='http" not in html
    assert "frontier_files/frontier_overall.png" in (swept / "frontier.md").read_text()


def test_frontier_command_overlays_sweeps(swept, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(swept, twin)
    out = tmp_path / "overlay"
    assert cli.main(["frontier", str(swept), str(twin), str(swept), "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "frontier.json").read_text())
    assert list(result["sweeps"]) == ["reference (s) #1", "reference (twin)", "reference (s) #2"]
    assert [row["tokens"] for row in result["by_cost"]] == [result["frontiers"]["reference (twin)"][0]["tokens"]]
    assert len(result["ahead_at_every_cost"]) == 3                     # one sweep thrice: tied everywhere
    assert (out / "frontier.html").exists() and (out / "frontier_files" / "frontiers.png").exists()


def test_frontier_of_a_folder_that_is_no_sweep(tmp_path, capsys):
    assert cli.main(["frontier", str(tmp_path)]) == 2
    assert "is this a `kateval sweep` folder?" in capsys.readouterr().err


def test_cells_read_as_runs_by_the_leaderboard(swept):
    """A leaderboard of the cells tells budgeted runs apart: the budget is part of the configuration fingerprint."""
    from kateval.report.leaderboard import leaderboard

    board = leaderboard([swept / name for name in ("on", "on-think8", "off")])   # a DataFrame, a row per run
    rows = {row["run"]: row for row in board.to_dict("records")}
    assert rows["on-think8"]["thinking_budget"] == 8 and rows["on"]["thinking_budget"] is None
    assert rows["on-think8"]["config"] == "differs: thinking_budget"
