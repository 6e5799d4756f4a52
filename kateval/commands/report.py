"""kateval report: summarize a run directory."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.report.summary import write_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (from kateval run or kateval score)")


def main(args: argparse.Namespace) -> int:
    print(f"summary: {write_summary(Path(args.run_dir))}")
    return 0
