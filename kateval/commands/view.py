"""Open a run's report (its headline, details and every sample) in the web browser, writing it first when it is
missing or older than the run's samples. Where there is no display (a remote shell), print where it is instead."""
from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.browser import sample_href
from kateval.report.run_report import ensure_report
from kateval.store import RUN_META
from kateval.types import KatevalError

EXAMPLES = """  kateval view runs/qwen3-8b
  kateval view runs/qwen3-8b --problem aime24/2024-I-1      # straight to that problem's samples
  kateval view runs/qwen3-8b --problem humaneval/HumanEval/0 --sample 3
  kateval view runs/qwen3-8b --print                         # only print the path (e.g. to copy it elsewhere)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (from kateval run, score or evaluate)")
    parser.add_argument("--problem", metavar="TASK/ID", help="open at this problem's samples")
    parser.add_argument("--sample", type=int, metavar="I", help="with --problem: open this sample")
    parser.add_argument("--print", action="store_true", dest="print_only", help="print the path, open nothing")
    add_progress_arg(parser)


def has_display() -> bool:
    """A graphical browser could open here: macOS and Windows always; elsewhere an X or Wayland display (without
    one, Python's webbrowser would start a text browser in this terminal)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def page_url(page: Path, problem: str | None, sample: int | None) -> str:
    url = page.resolve().as_uri()
    if problem is None:
        if sample is not None:
            raise KatevalError("--sample needs --problem TASK/ID")
        return url
    task, slash, problem_id = problem.partition("/")
    if not slash or not task or not problem_id:
        raise KatevalError(f"--problem wants TASK/ID (e.g. aime24/2024-I-1), got '{problem}'")
    return sample_href(url, task, problem_id, sample)


def main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / RUN_META).exists():
        raise KatevalError(f"{run_dir} is not a run directory (no {RUN_META})")
    page = ensure_report(run_dir, show_progress=not args.no_progress and sys.stderr.isatty())
    url = page_url(page, args.problem, args.sample)
    if not args.print_only and has_display() and webbrowser.open(url):
        print(f"opened {page}")
    else:
        print(f"report: {page}\nurl: {url}")
    return 0
