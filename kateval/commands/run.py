"""Evaluate a model on tasks: generate n samples per problem, grade each one (answers checked, programs run in
the sandbox), store every sample with its token accounting in a run directory, and write summary.json. The same
command run again resumes a killed run and generates only what is missing.

Library side: `execute` is shared with kateval.evaluate."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.adaptive import AdaptiveSettings, run_adaptive
from kateval.backends.base import BackendConfig
from kateval.commands.common import add_data_args, add_exec_args, add_progress_arg, exec_limits
from kateval.pipeline import RunConfig, run_evaluation
from kateval.report.summary import write_summary
from kateval.scale.shard import parse_shard
from kateval.tasks import parse_task_list
from kateval.types import KatevalError, SamplingConfig

EXAMPLES = """  kateval run --model Qwen/Qwen3-8B --tasks aime24,humaneval_plus --n 8 --max-tokens 32768 --out runs/qwen3-8b
  kateval run --model Kwaipilot/KAT-V1-40B --tasks aime25 --mode off --tensor-parallel-size 2 --out runs/kat-off
  kateval run --backend openai --base-url http://127.0.0.1:8000/v1 --model M --tasks mbpp_plus --out runs/m
  kateval run --backend reference --tasks aime24,aime25 --n 4 --out runs/ref     # gold answers: checks the harness
then: kateval report runs/qwen3-8b; kateval view runs/qwen3-8b"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", required=True, help="comma-separated task names (see `kateval tasks`)")
    parser.add_argument("--out", help="run directory (default runs/<model>-<tasks>)")
    parser.add_argument("--mode", default="auto", choices=["auto", "on", "off"], help="let the model decide, or force")
    add_generation_arguments(parser)
    add_adaptive_arguments(parser)


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Every `kateval run` flag but --tasks, --out and --mode, for commands that make several runs."""
    parser.add_argument("--model", help="model path or hub id (reference backend: not needed)")
    parser.add_argument("--backend", default="vllm", help="vllm | openai | reference | replay")
    parser.add_argument("--n", type=int, default=1, help="samples per problem")
    parser.add_argument("--limit", type=int, help="first L problems of each task")
    parser.add_argument("--profile", help="model family: kat | qwen3 | r1 | plain (default: from the chat template)")
    parser.add_argument("--prompt-style", default="chat", choices=["chat", "completion"])
    parser.add_argument("--replay-file", help="replay backend: JSONL of completions")
    parser.add_argument("--tokenizer", help="tokenizer for token counts when the backend has none")
    parser.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend-specific option (repeatable)")
    add_progress_arg(parser)
    sampling = parser.add_argument_group("sampling")
    defaults = SamplingConfig()
    sampling.add_argument("--temperature", type=float, default=defaults.temperature)
    sampling.add_argument("--top-p", type=float, default=defaults.top_p)
    sampling.add_argument("--top-k", type=int, default=defaults.top_k)
    sampling.add_argument("--min-p", type=float, default=defaults.min_p)
    sampling.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    sampling.add_argument("--seed", type=int, default=defaults.seed)
    sampling.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    engine = parser.add_argument_group("vllm and openai backends")
    engine.add_argument("--tensor-parallel-size", type=int, help="GPUs per model replica")
    engine.add_argument("--max-model-len", type=int, help="context length (prompt + output)")
    engine.add_argument("--gpu-memory-utilization", type=float, help="fraction of GPU memory vLLM may use")
    engine.add_argument("--dtype", help="weights dtype: auto | bfloat16 | float16 | float32")
    engine.add_argument("--enable-prefix-caching", action="store_true", default=None)
    engine.add_argument("--max-num-seqs", type=int, help="most sequences one vLLM engine batches (lower: less memory)")
    engine.add_argument("--thinking-budget", type=int, help="most thinking tokens (vLLM with a reasoning config)")
    engine.add_argument("--system-prompt", help="system message put before every prompt")
    engine.add_argument("--chat-template-kwargs", help='JSON for the chat template, e.g. \'{"enable_thinking": true}\'')
    engine.add_argument("--grammar", choices=["autothink"], help="structured output (the tiny default model)")
    engine.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    engine.add_argument("--concurrency", type=int, help="openai backend: requests in flight")
    scale = parser.add_argument_group("scaling out (README: Scaling out)")
    scale.add_argument("--data-parallel-size", type=int,
                       help="model replicas, each --tensor-parallel-size GPUs wide, sharing one queue of requests")
    scale.add_argument("--replica-capacity", type=int,
                       help="samples in flight per replica (default: what its engine batches, vLLM max_num_seqs)")
    scale.add_argument("--ray-address", help="run replicas and sandbox workers on this Ray cluster ('auto': the "
                                             "one RAY_ADDRESS or `ray start` on this machine names)")
    scale.add_argument("--shard", metavar="I/K",
                       help="only the I-th of K disjoint shards of the problems (1 <= I <= K); join with kateval merge")
    add_data_args(parser)
    add_exec_args(parser)


def add_adaptive_arguments(parser: argparse.ArgumentParser) -> None:
    adaptive = parser.add_argument_group("adaptive sampling (--n samples per problem first, then rounds)")
    adaptive.add_argument("--target-ci", type=float, metavar="H",
                          help="sample until each task's 95%% half-width (on these problems) is at most H, e.g. 0.02")
    adaptive.add_argument("--max-n", type=int, help=f"most samples per problem (default {AdaptiveSettings.max_n})")
    adaptive.add_argument("--token-budget", type=int, metavar="T", help="most completion tokens over all rounds")


def adaptive_settings(args: argparse.Namespace) -> AdaptiveSettings | None:
    """None for a fixed-n run (also for commands that make runs without these flags, e.g. audit)."""
    target, budget, max_n = (getattr(args, key, None) for key in ("target_ci", "token_budget", "max_n"))
    if target is None and budget is None:
        if max_n is not None:
            raise KatevalError("--max-n limits adaptive sampling: give --target-ci or --token-budget with it")
        return None
    return AdaptiveSettings(target_ci=target, token_budget=budget, initial_n=args.n,
                            **({"max_n": max_n} if max_n is not None else {}))


ENGINE_FLAGS = ("tensor_parallel_size", "data_parallel_size", "replica_capacity", "max_num_seqs", "max_model_len",
                "gpu_memory_utilization", "dtype", "enable_prefix_caching", "thinking_budget", "system_prompt",
                "chat_template_kwargs", "grammar", "base_url", "concurrency")


def backend_options(args: argparse.Namespace) -> dict[str, str]:
    options = {}
    for item in args.backend_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise KatevalError(f"--backend-option wants KEY=VALUE, got '{item}'")
        options[key.replace("-", "_")] = value
    for key in ("replay_file", "tokenizer", *ENGINE_FLAGS):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


def default_out(args: argparse.Namespace, kind: str = "") -> Path:
    """runs/<model folder name>[-kind]-<tasks>: where a run goes when --out is not given."""
    model_name = (args.model or args.backend).rstrip("/").split("/")[-1]
    return Path("runs") / "-".join([model_name, *([kind] if kind else []), *parse_task_list(args.tasks)])


def run_config(args: argparse.Namespace, out: Path | None = None) -> RunConfig:
    """The RunConfig of `kateval run`'s flags (other commands that make runs share it)."""
    tasks = tuple(parse_task_list(args.tasks))
    out = out or (Path(args.out) if args.out else default_out(args))
    return RunConfig(
        tasks=tasks,
        backend=BackendConfig(name=args.backend, model=args.model, profile=args.profile, mode=args.mode,
                              prompt_style=args.prompt_style, options=backend_options(args)),
        sampling=SamplingConfig(n=args.n, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                                min_p=args.min_p, max_tokens=args.max_tokens, seed=args.seed, stop=tuple(args.stop)),
        out=out, limit=args.limit, data_dir=args.data_dir, workers=args.workers, exec_limits=exec_limits(args),
        show_progress=not args.no_progress, shard=parse_shard(args.shard) if args.shard else None,
        ray_address=args.ray_address)


def execute(args: argparse.Namespace) -> Path:
    """The run described by parsed `kateval run` arguments (the command line and kateval.evaluate): generate,
    grade and store (in adaptive rounds when asked), then summary.json. Returns the run directory."""
    config = run_config(args)
    adaptive = adaptive_settings(args)
    if adaptive:
        run_adaptive(config, adaptive)
    else:
        run_evaluation(config)
    write_summary(config.out)
    from kateval.table import cached_scalars  # pandas and pyarrow only once the engine is done

    cached_scalars(config.out)   # the columns kateval.load_run reads, cached now rather than on the first load
    return config.out


def main(args: argparse.Namespace) -> int:
    out = execute(args)
    print(f"run directory: {out}\nsummary: {out / 'summary.json'}")
    return 0
