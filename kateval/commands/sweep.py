"""kateval sweep: accuracy against token cost over think modes and thinking budgets, every cell in one engine queue;
ends with the frontier report (frontier.md, frontier.html, frontier.json) in the sweep folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.commands import run
from kateval.report.summary import write_summary
from kateval.report.sweep_report import write_sweep_report
from kateval.sweep import grid, parse_budgets, parse_modes, run_sweep
from kateval.types import KatevalError

EXAMPLES = """examples:
  kateval sweep --model Kwaipilot/KAT-V1-40B --tasks aime25 --modes auto,on,off \\
      --thinking-budgets 512,1024,2048,4096,8192,none --n 8 --max-tokens 16384 --out runs/kat-sweep
  make sweep          # the embedded tiny model: every stage, small budgets, a few problems"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--tasks", required=True, help="comma-separated task names (see `kateval tasks`)")
    parser.add_argument("--out", help="sweep folder, one run directory per cell (default runs/<model>-sweep-<tasks>)")
    parser.add_argument("--modes", default="auto,on,off", help="think modes to sweep (default auto,on,off)")
    parser.add_argument("--thinking-budgets", default="none",
                        help="comma-separated most thinking tokens per sample; 'none' for no budget, e.g. "
                             "512,1024,2048,none (off has no thought: one cell)")
    run.add_generation_arguments(parser)


def main(args: argparse.Namespace) -> int:
    if args.thinking_budget is not None:
        raise KatevalError("kateval sweep takes a list, --thinking-budgets, not --thinking-budget")
    cells = grid(parse_modes(args.modes), parse_budgets(args.thinking_budgets))
    out = Path(args.out) if args.out else run.default_out(args, "sweep")
    base = run.run_config(argparse.Namespace(**{**vars(args), "mode": "auto"}), out)
    run_dirs = run_sweep(base, cells)
    for run_dir in run_dirs.values():
        write_summary(run_dir)
    paths = write_sweep_report(out)
    print(f"sweep folder: {out} ({len(run_dirs)} cells)\n" + "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0
