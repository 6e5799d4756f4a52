"""Compare two runs on the problems both hold (B minus A): accuracy and token differences with paired
bootstrap CIs, an exact paired test, how the think decision moved, and the problems that flipped, each linked to
its samples in both runs' reports (with --out)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.compare import compare_document, compare_runs
from kateval.report.render import to_html, to_markdown, write_text
from kateval.report.run_report import report_links

EXAMPLES = """  kateval compare runs/base runs/finetuned
  kateval compare runs/kat-auto runs/kat-off --out reports/auto-vs-off    # also .md, .html (linked) and .json
  kateval compare runs/a runs/b --force      # even when tasks or sampling differ (the differences are listed)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", help="the baseline run directory")
    parser.add_argument("run_b", help="the run compared against it")
    parser.add_argument("--force", action="store_true",
                        help="compare even when tasks or sampling differ (the differences are printed)")
    parser.add_argument("--out", help="also write OUT.md, OUT.html and OUT.json")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    result = compare_runs(Path(args.run_a), Path(args.run_b), force=args.force,
                          show_progress=not args.no_progress and sys.stderr.isatty())
    for difference in result["differences"]:
        print(f"kateval: warning: runs differ in {difference}", file=sys.stderr)
    print(to_markdown(compare_document(result)))
    if args.out:
        out = Path(args.out)
        reports = report_links({"a": Path(args.run_a), "b": Path(args.run_b)}, out.parent)
        doc = compare_document(result, reports=reports)
        contents = {"md": to_markdown(doc), "html": to_html(doc), "json": json.dumps(result, indent=2) + "\n"}
        print("written: " + ", ".join(str(write_text(Path(f"{args.out}.{ext}"), text)) for ext, text in contents.items()))
    return 0
