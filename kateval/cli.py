"""The `kateval` command. Each subcommand is a module in kateval.commands with `add_arguments` and `main`;
only the chosen one is imported, so a heavy backend never slows `kateval tasks`."""
from __future__ import annotations

import argparse
import importlib
import sys

from kateval import __version__
from kateval.types import KatevalError

COMMANDS = {
    "run": "evaluate a model on tasks",
    "score": "grade completions produced elsewhere",
    "report": "summarize a run directory",
    "compare": "compare two runs paired on their shared problems",
    "leaderboard": "one table of many runs",
    "tasks": "list the tasks",
    "gold": "grade a task's reference solutions (checks its grader and data)",
    "audit": "did the AutoThink model think when it should have (auto vs forced on/off)",
    "export": "write a run in another tool's output layout (lm-eval results and samples)",
    "merge": "join shard run directories (kateval run --shard I/K) into one run",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kateval", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"kateval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(f"kateval.commands.{name}")
            module.add_arguments(command_parser)
            command_parser.set_defaults(handler=module.main)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
