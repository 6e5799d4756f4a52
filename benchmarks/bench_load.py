"""Loading a run into pandas (`kateval.load_run`): which reader, measured on 100,000 and 1,000,000 records.

Each reader builds the same table (one row per sample, the scalar record fields as columns, completions left
out) from one synthetic samples.jsonl (kateval.report.synthetic: 8 samples per problem, 1,000-character
completions, about 1.4 KiB a line), in a fresh process so its peak RSS is its own, best of ROUNDS processes, imports done before the clock starts:

  json          the standard library, line by line, into column lists, then a DataFrame (the baseline)
  orjson        the same with orjson.loads
  pandas        pandas.read_json(lines=True) in chunks of 100,000 (it decodes the completions too)
  arrow-mt      pyarrow.json.read_json with the record schema, threaded (completions ignored by the parser)
  arrow-1t      the same on one thread (what kateval.table uses)
  load_run      kateval.load_run(run_dir).samples on a run never loaded before: arrow-1t, categorical and
                nullable typing, and the parquet sidecar written beside samples.jsonl
  load_run-2    the same again: the sidecar is read instead of the JSON

    .venv/bin/python benchmarks/bench_load.py [--sizes 100000,1000000] [--completion-chars 1000]
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from isolated import measure_in_child, print_measurement, sized_benchmark

from kateval.report.synthetic import random_records, run_meta, write_run

READERS = ("json", "orjson", "pandas", "arrow-mt", "arrow-1t", "load_run", "load_run-2")
SLOW_READERS = {"pandas": 200_000}
ROUNDS = 3   # fresh processes per reader; the fastest is kept (the machine is shared)   # skipped above this many records (minutes, and memory for every completion)


def _columns(run_dir: Path, loads) -> dict[str, list]:
    from kateval.table import record_schema

    names = record_schema()[0].names
    columns: dict[str, list] = {name: [] for name in names}
    appends = [(name, columns[name].append) for name in names]
    with (run_dir / "samples.jsonl").open("rb") as handle:
        for line in handle:
            record = loads(line)
            for name, append in appends:
                append(record.get(name))
    return columns


def _arrow(run_dir: Path, threads: bool):
    import pyarrow.json as pa_json

    from kateval.table import record_schema

    return pa_json.read_json(str(run_dir / "samples.jsonl"),
                             read_options=pa_json.ReadOptions(block_size=1 << 24, use_threads=threads),
                             parse_options=pa_json.ParseOptions(explicit_schema=record_schema()[0],
                                                                unexpected_field_behavior="ignore"))


def child(reader: str, run_dir: Path) -> None:
    import orjson
    import pandas as pd

    import kateval
    from kateval.table import SIDECAR, sample_frame  # noqa: F401  (imported before the clock starts)

    if reader == "load_run":
        (run_dir / SIDECAR).unlink(missing_ok=True)
    started = time.perf_counter()
    if reader in ("json", "orjson"):
        frame = pd.DataFrame(_columns(run_dir, json.loads if reader == "json" else orjson.loads))
    elif reader == "pandas":
        frame = pd.concat(chunk.drop(columns=["completion", "prefix", "grade_details"]) for chunk in
                          pd.read_json(run_dir / "samples.jsonl", lines=True, chunksize=100_000))
    elif reader.startswith("arrow"):
        frame = _arrow(run_dir, reader == "arrow-mt").to_pandas()
    else:
        frame = kateval.load_run(run_dir).samples
    print_measurement(started, rows=len(frame))


def bench(size: int, completion_chars: int, workdir: Path) -> None:
    run_dir = workdir / f"run_{size}"
    write_run(run_dir, random_records(size, completion_chars=completion_chars),
              run_meta(["aime24", "lcb"], sampling={"n": 8, "max_tokens": 16384}))
    print(f"\n{size:,} records, samples.jsonl {(run_dir / 'samples.jsonl').stat().st_size / 2**20:,.0f} MiB")
    baseline = None
    for reader in READERS:
        if size > SLOW_READERS.get(reader, size):
            print(f"  {reader:<9} skipped above {SLOW_READERS[reader]:,} records")
            continue
        result = min((measure_in_child(__file__, reader, str(run_dir)) for _ in range(ROUNDS)),
                     key=lambda r: r["seconds"])
        assert result["rows"] == size, result
        baseline = baseline or result["seconds"]
        print(f"  {reader:<10} {result['seconds']:7.2f} s  {baseline / result['seconds']:6.2f}x json   "
              f"peak RSS {result['peak_mb']:7.0f} MiB")
    print(f"  (samples.parquet, the sidecar: {(run_dir / 'samples.parquet').stat().st_size / 2**20:,.1f} MiB)")


def main() -> None:
    sized_benchmark(__doc__.split("\n")[0], child, lambda size, chars, workdir, _sizes: bench(size, chars, workdir))


if __name__ == "__main__":
    main()
