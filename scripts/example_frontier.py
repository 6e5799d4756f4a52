"""The README's example frontier figure, drawn by kateval's own sweep report from a SYNTHETIC sweep (no model): a
made-up AutoThink model whose accuracy grows with its thinking budget, in the store's record format.

    .venv/bin/python scripts/example_frontier.py [--out docs/frontier_example.png]

Every cell is a run directory as `kateval sweep` writes it (sweep.json, run.json, samples.jsonl); the figure is
`kateval frontier`'s, copied out. The numbers illustrate the report and mean nothing about any real model.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from kateval.report.summary import write_summary
from kateval.report.sweep_report import FIGURE_DIR, write_sweep_report
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.sweep import SWEEP_FILE, grid

MODEL = "synthetic-example"
PROBLEMS, SAMPLES = 30, 8
BUDGETS = [1024, 2048, 4096, 8192, None]


def cell_records(rng: np.random.Generator, difficulty: np.ndarray, mode: str, budget: int | None):
    """A problem of difficulty d needs about 12,000 d thinking tokens; a thought cut by the budget is right less
    often, and answering without thinking works only on easy problems. Auto thinks when d > 0.3."""
    for pid, d in enumerate(difficulty):
        for index in range(SAMPLES):
            thinks = mode == "on" or (mode == "auto" and d > 0.3)
            need = rng.lognormal(np.log(400 + 12000 * d), 0.4) if thinks else 0.0
            thought = min(need, budget) if budget is not None else need
            skill = 1.0 / (1.0 + np.exp(8 * (d - 0.35))) if not thinks else 1.0 / (1.0 + np.exp(6 * (d - 0.9)))
            correct = bool(rng.random() < skill * (thought / need if thinks and need else 1.0) ** 1.5)
            answer = int(rng.lognormal(np.log(250), 0.3))
            yield sample_record(
                "aime24", f"p{pid}", index, mode="on" if thinks else "off", correct=correct,
                status="correct" if correct else "wrong_answer", think_tokens=int(thought), answer_tokens=answer,
                judge_tokens=30 if mode == "auto" else 0, completion_tokens=int(thought) + answer + 30 * (mode == "auto"),
                thinking_budget=budget, think_budget_hit=bool(thinks and budget is not None and need > budget))


def build(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    difficulty = rng.random(PROBLEMS)
    cells = grid(["auto", "on", "off"], BUDGETS)
    for cell in cells:
        write_run(root / cell.name, cell_records(rng, difficulty, cell.mode, cell.thinking_budget),
                  run_meta(["aime24"], model=MODEL, mode=cell.mode, sampling={"n": SAMPLES, "max_tokens": 16384}))
        write_summary(root / cell.name)
    (root / SWEEP_FILE).write_text(json.dumps({"identity": {"model": MODEL},
                                               "cells": [c.as_dict() for c in cells]}, indent=2))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/frontier_example.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        root = build(Path(workdir) / "sweep")
        write_sweep_report(root)
        shutil.copyfile(root / FIGURE_DIR / "frontier_overall.png", args.out)
        print((root / "frontier.md").read_text().split("## Cheapest")[0])
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
