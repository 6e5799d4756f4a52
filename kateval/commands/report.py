"""kateval report: summary.json, report.md and a self-contained report.html for one run directory."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.run_report import write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (from kateval run or kateval score)")
    parser.add_argument("--out", help="folder to write the report into (default: the run directory)")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    paths = write_report(Path(args.run_dir), Path(args.out) if args.out else None,
                         show_progress=not args.no_progress and sys.stderr.isatty())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
