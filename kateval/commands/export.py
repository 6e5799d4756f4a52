"""Write a run in another tool's output layout: lm-evaluation-harness results and samples files, with
kateval's token and mode accounting as extra fields."""
from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """  kateval export runs/gsm8k --format lm-eval --out lm_eval_out/"""

FORMATS = ("lm-eval",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="kateval run directory")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="lm-eval: results_<date>.json and samples_<task>_<date>.jsonl as lm-evaluation-harness "
                             "writes them, with kateval's accounting as extra fields")
    parser.add_argument("--out", help="output folder (default RUN_DIR/lm_eval); files go in OUT/<model>/")


def main(args: argparse.Namespace) -> int:
    from kateval.bridges.lmeval_export import export_lm_eval

    run_dir = Path(args.run_dir)
    paths = export_lm_eval(run_dir, Path(args.out) if args.out else run_dir / "lm_eval")
    print("\n".join(str(path) for path in paths))
    return 0
