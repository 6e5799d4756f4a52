"""The `kateval` command. Each subcommand is a module in kateval.commands with `add_arguments`, `main`, a
docstring whose first paragraph says what it does for the user, and EXAMPLES; only the chosen one is imported, so
a heavy backend never slows `kateval tasks`."""
from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from types import ModuleType
from typing import Any

from kateval import __version__
from kateval.quiet import configure_library_output
from kateval.types import KatevalError

DESCRIPTION = """kateval measures how accurate a reasoning LLM is and what it costs in tokens, one sample at a time:
whether the model chose to think, how many tokens went to judging, thinking and answering, whether it was cut
off, and whether it was right. Runs AIME, HumanEval(+), MBPP(+) and LiveCodeBench through vLLM, an
OpenAI-compatible server or saved completions, and turns runs into reports, comparisons and leaderboards."""

EXAMPLES = """examples:
  kateval run --model Qwen/Qwen3-8B --tasks aime25,humaneval_plus --n 8 --out runs/qwen3-8b
  kateval report runs/qwen3-8b                 # headline, details and a browser of every sample
  kateval view runs/qwen3-8b                   # open that report
  kateval compare runs/qwen3-8b runs/qwen3-8b-think-off --out reports/think-off
  kateval leaderboard runs/* --out reports/leaderboard

  from Python:  import kateval; kateval.load_run("runs/qwen3-8b").samples   (a pandas DataFrame)

`kateval COMMAND --help` describes each command; `--verbose` also shows vLLM, transformers and torch output."""

COMMANDS = {
    "run": "evaluate a model on tasks: generate, grade and store every sample (resumable)",
    "score": "grade completions produced elsewhere into a run directory",
    "report": "write a run's report: headline, details and a browser of every sample",
    "view": "open a run's report in the web browser (writes it first if missing)",
    "compare": "compare two runs on their shared problems, with paired tests and the flipped problems",
    "leaderboard": "one table of many runs (md, html, csv, LaTeX)",
    "tasks": "list the tasks and their data",
    "gold": "check a task's grader and data with its reference solutions",
    "audit": "did the AutoThink model think when it should have (auto vs forced on/off)",
    "export": "write a run in another tool's output layout (lm-eval results and samples)",
    "sweep": "accuracy against tokens over think modes and thinking budgets (one engine queue)",
    "frontier": "the accuracy-vs-tokens frontier of a sweep, or several checkpoints' overlaid",
    "merge": "join shard run directories (kateval run --shard I/K) into one run",
}


def _verbose_flag(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="also show vLLM, transformers and torch output (hidden by default)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kateval", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kateval {__version__}")
    _verbose_flag(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text,
                                        formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == chosen:
            module = importlib.import_module(f"kateval.commands.{name}")
            module.add_arguments(command_parser)
            _describe(command_parser, module)
            _verbose_flag(command_parser, argparse.SUPPRESS)   # `kateval run --verbose` works as well
            command_parser.set_defaults(handler=module.main)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    configure_library_output(verbose=args.verbose)
    try:
        return int(args.handler(args) or 0)
    except KatevalError as exc:
        print(f"kateval: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("kateval: interrupted; what was stored is kept (run again to resume)", file=sys.stderr)
        return 130


def _describe(parser: argparse.ArgumentParser, module: ModuleType) -> None:
    """The command's help opens with what it does (its module docstring's first paragraph) and ends with
    examples."""
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    parser.description = textwrap.fill(" ".join(doc.split()), width=100) if doc else parser.description
    examples = getattr(module, "EXAMPLES", "").strip("\n")
    if examples:
        parser.epilog = examples if examples.startswith("examples:") else "examples:\n" + examples


if __name__ == "__main__":
    sys.exit(main())
