"""Check a task's grader and data: run its reference solutions through its own grader and print every failure
(exit 1 if any)."""
from __future__ import annotations

import argparse

from kateval.commands.common import add_data_args, add_exec_args, add_progress_arg, exec_limits
from kateval.gold import format_report, run_gold
from kateval.tasks import load_task, parse_task_list
from kateval.types import KatevalError

EXAMPLES = """  kateval gold humaneval,mbpp
  kateval gold humaneval_plus --repeat 3    # three times: verdicts must not change"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", help="comma-separated task names, e.g. humaneval,mbpp")
    parser.add_argument("--repeat", type=int, default=1, help="check this many times in a row (flakiness)")
    add_progress_arg(parser)
    add_data_args(parser)
    add_exec_args(parser)


def main(args: argparse.Namespace) -> int:
    from kateval.sandbox import make_executor

    if args.repeat < 1:
        raise KatevalError("--repeat must be at least 1")
    tasks = [load_task(name, args.data_dir) for name in parse_task_list(args.tasks)]
    executor = make_executor(workers=args.workers, limits=exec_limits(args))
    all_ok = True
    try:
        for task in tasks:
            for attempt in range(1, args.repeat + 1):
                report = run_gold(task, executor, show_progress=not args.no_progress)
                prefix = f"[{attempt}/{args.repeat}] " if args.repeat > 1 else ""
                print(prefix + format_report(report), flush=True)
                all_ok = all_ok and report.ok
    finally:
        executor.close()
    return 0 if all_ok else 1
