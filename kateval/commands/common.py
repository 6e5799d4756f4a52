"""Arguments several commands share."""
from __future__ import annotations

import argparse

from kateval.types import ExecLimits


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="local data folder laid out like shared/data (default: $KATEVAL_DATA_DIR, "
                                           "else the Hugging Face hub)")


def add_exec_args(parser: argparse.ArgumentParser) -> None:
    defaults = ExecLimits()
    parser.add_argument("--workers", type=int, help="code-execution workers (default: number of cores)")
    parser.add_argument("--test-timeout", type=float, default=defaults.timeout_per_test_s,
                        help="CPU seconds per test (tasks without reference solutions, or --fixed-time-limits)")
    parser.add_argument("--problem-timeout", type=float, default=defaults.timeout_total_s,
                        help="CPU seconds per program (same)")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="memory limit per program")
    parser.add_argument("--fixed-time-limits", action="store_true",
                        help="use --test-timeout/--problem-timeout for every task instead of limits calibrated per "
                             "problem from its reference solution's CPU time (tasks without references always use them)")


def exec_limits(args: argparse.Namespace) -> ExecLimits:
    return ExecLimits(timeout_per_test_s=args.test_timeout, timeout_total_s=args.problem_timeout,
                      memory_mb=args.memory_mb, calibrate=not args.fixed_time_limits)


def add_progress_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
