"""Write a run's report: summary.json, report.md and one self-contained report.html that opens on the headline
(per task accuracy with its 95% CI, mean tokens, think rate, accuracy against tokens), then the details, then a
browser of every sample (filters, text search, the completion with its judge/think/answer segments marked)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.run_report import BROWSER_LIMIT, write_report

EXAMPLES = """  kateval report runs/qwen3-8b                # writes into the run directory
  kateval report runs/qwen3-8b --out reports/qwen3-8b
then open runs/qwen3-8b/report.html, or: kateval view runs/qwen3-8b"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (from kateval run or kateval score)")
    parser.add_argument("--out", help="folder to write the report into (default: the run directory)")
    parser.add_argument("--browser-limit", type=int, default=BROWSER_LIMIT, metavar="N",
                        help=f"leave the sample browser out of runs of more than N samples (default {BROWSER_LIMIT:,}; "
                             "0: no limit)")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    paths = write_report(Path(args.run_dir), Path(args.out) if args.out else None,
                         show_progress=not args.no_progress and sys.stderr.isatty(),
                         browser_limit=args.browser_limit or None)
    for kind, path in paths.items():
        size = f" ({path.stat().st_size / 2**20:,.1f} MiB)" if kind == "html" else ""
        print(f"{kind}: {path}{size}")
    return 0
