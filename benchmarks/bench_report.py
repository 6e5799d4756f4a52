"""Report scale: summarizing 100,000 and 1,000,000 sample records, time and peak memory.

For each size a synthetic run is written (kateval.report.synthetic: 8 samples per problem, two tasks, modes,
lengths and truncation spread like a reasoning model's, each completion `--completion-chars` long). Each
measurement runs in a fresh process, so its peak RSS is its own:

  parse      the baseline: stream samples.jsonl through iter_records and do nothing (the JSON floor)
  summarize  summary.json's numbers: the streaming aggregates plus every metric (bootstrap CIs included)
  report     summarize + the four figures + report.md + report.html
  load-all   the naive shape, for contrast: every record kept in a list (smallest size only)

    .venv/bin/python benchmarks/bench_report.py [--sizes 100000,1000000] [--completion-chars 1000]
"""
from __future__ import annotations

import time
from pathlib import Path

from isolated import measure_in_child, print_measurement, sized_benchmark

from kateval.report.synthetic import random_records, run_meta, write_run

MODES = ("parse", "summarize", "report", "load-all")


def child(mode: str, run_dir: Path) -> None:
    from kateval.report.run_report import write_report
    from kateval.report.summary import summarize
    from kateval.store import iter_records

    started = time.perf_counter()
    if mode == "parse":
        for _ in iter_records(run_dir):
            pass
    elif mode == "summarize":
        summarize(run_dir)
    elif mode == "report":
        write_report(run_dir)
    else:
        records = list(iter_records(run_dir))
        assert records
    print_measurement(started)


def measure(mode: str, run_dir: Path) -> dict:
    return measure_in_child(__file__, mode, str(run_dir))


def bench(size: int, completion_chars: int, workdir: Path, load_all: bool) -> None:
    run_dir = workdir / f"run_{size}"
    started = time.perf_counter()
    write_run(run_dir, random_records(size, completion_chars=completion_chars),
              run_meta(["aime24", "lcb"], sampling={"n": 8, "max_tokens": 16384}))
    megabytes = (run_dir / "samples.jsonl").stat().st_size / 2**20
    print(f"\n{size:,} records, samples.jsonl {megabytes:,.0f} MiB (written in {time.perf_counter() - started:.1f} s)")
    baseline = None
    for mode in MODES:
        if mode == "load-all" and not load_all:
            continue
        result = measure(mode, run_dir)
        baseline = baseline or result["seconds"]
        print(f"  {mode:<10} {result['seconds']:7.2f} s  {result['seconds'] / baseline:5.2f}x parse   "
              f"peak RSS {result['peak_mb']:7.0f} MiB   {size / result['seconds']:,.0f} records/s")


def main() -> None:
    sized_benchmark(__doc__.split("\n")[0], child,
                    lambda size, chars, workdir, sizes: bench(size, chars, workdir, load_all=size == min(sizes)))


if __name__ == "__main__":
    main()
