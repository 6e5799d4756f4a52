"""Did the AutoThink model think when it should have? Compares the model's own choice (auto) with forced
thinking on and off on the same problems and seeds: needless and missed thinking (linked to their samples),
the oracle router, auto's regret and O1-Pruner's AES, into audit.json, audit.md and audit.html. Give three
existing runs (--auto, --on, --off), or --tasks with any `kateval run` flag to make them first."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from kateval.audit import audit_runs
from kateval.audit.metrics import MODES, AesWeights
from kateval.commands import run
from kateval.types import KatevalError

EXAMPLES = """  kateval audit --auto runs/m-auto --on runs/m-on --off runs/m-off --out reports/audit-m
  kateval audit --model Kwaipilot/KAT-V1-40B --tasks aime25 --n 8 --out runs/kat-audit   # makes the three runs"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", help="generate the three runs first: comma-separated task names")
    parser.add_argument("--out", help="where audit.json/md/html go (default: the folder holding the three runs; with "
                                      "--tasks, runs/<model>-audit-<tasks>, the runs in its auto/on/off)")
    run.add_generation_arguments(parser)   # generating the three runs takes every other `kateval run` flag
    audit = parser.add_argument_group("audit")
    for mode in MODES:
        audit.add_argument(f"--{mode}", metavar="DIR", help=f"existing run directory of mode {mode} "
                                                           "(kateval run --mode, or kateval score)")
    audit.add_argument("--threshold", type=float, default=0.5,
                       help="a problem is right in a mode when its mean sample accuracy is at least this")
    audit.add_argument("--baseline", default="on", choices=["on", "off", "auto"], help="what AES is relative to")
    defaults = AesWeights()
    for name, meaning in (("alpha", "length cut"), ("beta", "accuracy gain"), ("gamma", "accuracy drop")):
        audit.add_argument(f"--aes-{name}", type=float, default=getattr(defaults, name),
                           help=f"AES weight of the relative {meaning} (default {getattr(defaults, name)}, O1-Pruner)")


def generate_runs(args: argparse.Namespace) -> tuple[dict[str, Path], Path]:
    """`kateval run` once per mode into <out>/<mode>: same problems, same seeds (they depend only on the seed,
    task and problem). A run already there is resumed, not redone."""
    if args.replay_file:
        raise KatevalError("a replay file holds one set of completions, not three modes; audit run directories")
    root = Path(args.out) if args.out else run.default_out(args, "audit")
    for mode in MODES:
        run.main(argparse.Namespace(**{**vars(args), "mode": mode, "out": str(root / mode)}))
    return {mode: root / mode for mode in MODES}, root


def main(args: argparse.Namespace) -> int:
    given = {mode: Path(getattr(args, mode)) for mode in MODES if getattr(args, mode)}
    if given and args.tasks:
        raise KatevalError("give either --auto/--on/--off run directories or --tasks to generate them, not both")
    if args.tasks:
        run_dirs, out = generate_runs(args)
    elif len(given) == len(MODES):
        run_dirs = given
        out = Path(args.out or os.path.commonpath([path.resolve() for path in given.values()]))
    else:
        raise KatevalError("give all of --auto, --on and --off (run directories), or --tasks to generate them")
    weights = AesWeights(alpha=args.aes_alpha, beta=args.aes_beta, gamma=args.aes_gamma)
    paths = audit_runs(run_dirs, out, threshold=args.threshold, baseline=args.baseline, weights=weights)
    print("\n".join(f"audit {kind}: {path}" for kind, path in paths.items()))
    return 0
