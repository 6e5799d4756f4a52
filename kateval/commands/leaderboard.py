"""One table of many runs: a row per run with per task accuracy, think rate and mean tokens, and the
configuration each was run with; rows whose configuration differs from the rest are flagged."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.leaderboard import FORMATS, leaderboard, render
from kateval.report.render import write_text
from kateval.types import KatevalError

EXAMPLES = """  kateval leaderboard runs/*
  kateval leaderboard runs/* --format md,html,csv,latex --sort 'aime25 acc' --out reports/leaderboard"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="*", help="run directories (from kateval run or kateval score)")
    parser.add_argument("--format", help=f"comma-separated, from {', '.join(FORMATS)} "
                                         "(default: md to stdout; md,html with --out)")
    parser.add_argument("--sort", help="column to sort by, e.g. 'aime24 acc', 'model', 'n' (default: overall acc)")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--ascending", action="store_const", const=True, dest="ascending",
                       help="lowest first (default for text columns)")
    order.add_argument("--descending", action="store_const", const=False, dest="ascending",
                       help="highest first (default for numeric columns)")
    parser.add_argument("--out", help="write OUT.<ext> for each format instead of printing")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    formats = (args.format or ("md,html" if args.out else "md")).split(",")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise KatevalError(f"unknown format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    rows = leaderboard([Path(d) for d in args.run_dirs], sort=args.sort, ascending=args.ascending,
                       show_progress=not args.no_progress and sys.stderr.isatty())
    for fmt in formats:
        text = render(rows, fmt)
        if args.out:
            print(f"{fmt}: {write_text(Path(f'{args.out}.{FORMATS[fmt]}'), text)}")
        else:
            print(text)
    return 0
