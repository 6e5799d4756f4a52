"""kateval compare: two runs paired on their shared problems (differences are B minus A)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.compare import compare_document, compare_runs
from kateval.report.render import to_html, to_markdown, write_text


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
    doc = compare_document(result)
    markdown = to_markdown(doc)
    print(markdown)
    if args.out:
        contents = {"md": markdown, "html": to_html(doc), "json": json.dumps(result, indent=2) + "\n"}
        print("written: " + ", ".join(str(write_text(Path(f"{args.out}.{ext}"), text)) for ext, text in contents.items()))
    return 0
