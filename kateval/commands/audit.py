"""kateval audit: did the AutoThink model think when it should have? (auto against forced on and forced off)"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from kateval.audit import audit_runs
from kateval.audit.metrics import MODES, AesWeights
from kateval.backends.base import BackendConfig
from kateval.commands.common import add_data_args, add_exec_args, exec_limits
from kateval.commands.run import backend_options
from kateval.pipeline import RunConfig
from kateval.tasks import parse_task_list
from kateval.types import KatevalError, SamplingConfig

SAMPLING_FLAGS = (("temperature", float), ("top-p", float), ("top-k", int), ("min-p", float), ("max-tokens", int),
                  ("seed", int))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    runs = parser.add_argument_group("audit existing runs (from kateval run --mode, or kateval score)")
    for mode in MODES:
        runs.add_argument(f"--{mode}", metavar="DIR", help=f"run directory of mode {mode}")
    parser.add_argument("--out", help="where audit.json/md/html go (default: the folder holding the three runs; "
                                      "with --tasks, runs/<model>-audit-<tasks>, the runs in its auto/on/off)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a problem is right in a mode when its mean sample accuracy is at least this")
    parser.add_argument("--baseline", default="on", choices=["on", "off", "auto"], help="what AES is relative to")
    defaults = AesWeights()
    for name, meaning in (("alpha", "length cut"), ("beta", "accuracy gain"), ("gamma", "accuracy drop")):
        parser.add_argument(f"--aes-{name}", type=float, default=getattr(defaults, name),
                            help=f"AES weight of the relative {meaning} (O1-Pruner default)")
    _add_generation_arguments(parser)


def _add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    generate = parser.add_argument_group("or generate the three runs first (same problems and seeds)")
    generate.add_argument("--model", help="model path or hub id")
    generate.add_argument("--backend", default="vllm", help="a backend that can force modes (vllm, openai)")
    generate.add_argument("--tasks", help="comma-separated task names")
    generate.add_argument("--n", type=int, default=1, help="samples per problem and mode")
    generate.add_argument("--limit", type=int, help="first L problems of each task")
    generate.add_argument("--profile", help="model family: kat | qwen3 | r1 | plain")
    generate.add_argument("--tokenizer", help="tokenizer for token counts when the backend has none")
    generate.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE")
    generate.add_argument("--no-progress", action="store_true")
    defaults = SamplingConfig()
    for flag, kind in SAMPLING_FLAGS:
        generate.add_argument(f"--{flag}", type=kind, default=getattr(defaults, flag.replace("-", "_")))
    parser.set_defaults(replay_file=None)   # read by backend_options; a replay file cannot hold three modes
    add_data_args(parser)
    add_exec_args(parser)


def _run_config(args: argparse.Namespace) -> RunConfig:
    tasks = tuple(parse_task_list(args.tasks))
    model_name = (args.model or args.backend).rstrip("/").split("/")[-1]
    sampling = SamplingConfig(n=args.n, **{flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
                                           for flag, _ in SAMPLING_FLAGS})
    return RunConfig(
        tasks=tasks, sampling=sampling, limit=args.limit, data_dir=args.data_dir, workers=args.workers,
        backend=BackendConfig(name=args.backend, model=args.model, profile=args.profile,
                              options=backend_options(args)),
        out=Path(args.out or f"runs/{model_name}-audit-{'-'.join(tasks)}"), exec_limits=exec_limits(args),
        show_progress=not args.no_progress)


def main(args: argparse.Namespace) -> int:
    given = {mode: getattr(args, mode) for mode in MODES if getattr(args, mode)}
    if given and args.tasks:
        raise KatevalError("give either --auto/--on/--off run directories or --tasks to generate them, not both")
    if args.tasks:
        from kateval.audit.generate import generate_mode_runs

        config = _run_config(args)
        run_dirs, out = generate_mode_runs(config), config.out
    elif len(given) == len(MODES):
        run_dirs = {mode: Path(path) for mode, path in given.items()}
        out = Path(args.out or os.path.commonpath([path.resolve() for path in run_dirs.values()]))
    else:
        raise KatevalError("give all of --auto, --on and --off (run directories), or --tasks to generate them")
    weights = AesWeights(alpha=args.aes_alpha, beta=args.aes_beta, gamma=args.aes_gamma)
    paths = audit_runs(run_dirs, out, threshold=args.threshold, baseline=args.baseline, weights=weights)
    print("\n".join(f"audit {kind}: {path}" for kind, path in paths.items()))
    return 0
