"""kateval frontier: the accuracy-vs-tokens frontier of one sweep folder, or several checkpoints' frontiers overlaid
in one figure and one table (which checkpoint is better at every token budget)."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.sweep_report import write_overlay, write_sweep_report

EXAMPLES = """examples:
  kateval frontier runs/kat-sweep                      # (re)write the sweep's own report into its folder
  kateval frontier runs/ckpt-a-sweep runs/ckpt-b-sweep --out reports/frontier"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("sweeps", nargs="+", help="`kateval sweep` folders (one per checkpoint)")
    parser.add_argument("--out", help="where frontier.json/md/html go (default: the sweep folder itself when one is "
                                      "given, else reports/frontier)")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    roots = [Path(root) for root in args.sweeps]
    if len(roots) == 1:
        paths = write_sweep_report(roots[0], Path(args.out) if args.out else None, show_progress=not args.no_progress)
    else:
        paths = write_overlay(roots, Path(args.out or "reports/frontier"), show_progress=not args.no_progress)
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return 0
