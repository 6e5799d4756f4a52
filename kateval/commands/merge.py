"""Join shard run directories (`kateval run --shard I/K`, e.g. a Slurm job array) into one run directory, refusing
shards of different runs and reporting missing shards and missing or duplicated samples; ends with summary.json.
The merged run resumes like the unsharded run (`kateval run` with its own arguments fills any gap)."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.commands.common import add_progress_arg
from kateval.report.summary import write_summary
from kateval.scale.merge import merge_runs

EXAMPLES = """  kateval merge runs/kat-40b-shard1 runs/kat-40b-shard2 runs/kat-40b-shard3 --out runs/kat-40b
  kateval merge runs/kat-40b-shard* --out runs/kat-40b"""

SHOWN = 10   # missing samples listed by name; the rest are counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="DIR", help="shard run directories (same run, --shard I/K)")
    parser.add_argument("--out", required=True, help="the merged run directory (new)")
    add_progress_arg(parser)


def main(args: argparse.Namespace) -> int:
    report = merge_runs([Path(d) for d in args.run_dirs], Path(args.out), show_progress=not args.no_progress)
    print(f"merged {len(args.run_dirs)} run directories (shards {', '.join(report.shards)}) into {report.out}: "
          f"{report.samples} of {report.expected} samples")
    if report.missing_shards:
        print(f"missing shards: {', '.join(map(str, report.missing_shards))}")
    if report.repeated_shards:
        print(f"shards given more than once: {', '.join(map(str, report.repeated_shards))}")
    if report.duplicated:
        print(f"duplicated samples: {report.duplicated} (the first copy kept; {report.conflicting} of them differ "
              "from it)")
    if report.missing:
        names = ", ".join(f"{task}/{problem_id}#{index}" for task, problem_id, index in report.missing[:SHOWN])
        more = f" and {len(report.missing) - SHOWN} more" if len(report.missing) > SHOWN else ""
        print(f"missing samples of the shards given: {len(report.missing)} ({names}{more})")
    if report.samples < report.expected:
        print("the merged run is incomplete: `kateval run` with the run's arguments (no --shard) and "
              f"--out {report.out} generates only what is missing")
    summary = write_summary(report.out)
    print(f"summary: {summary}")
    return 0 if report.complete else 1
