"""List the tasks kateval can run, with their number of problems, how many are selected, and where the data
is read from."""
from __future__ import annotations

import argparse

from kateval.commands.common import add_data_args
from kateval.tasks import available_cards, load_task, resolve_data_dir
from kateval.types import KatevalError

EXAMPLES = """  kateval tasks
  kateval tasks --data-dir ../shared/data"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_args(parser)


def main(args: argparse.Namespace) -> int:
    local = resolve_data_dir(args.data_dir)
    rows = [("task", "problems", "selected", "source", "description")]
    for name, card in sorted(available_cards().items()):
        size, selected, source = "?", "?", card.hub_label
        if local is not None:
            try:
                task = load_task(name, local)
                size, selected, source = str(len(task.problems)), str(len(task.selected)), task.source.location
            except KatevalError as exc:
                source = f"unavailable: {exc}"
        rows.append((name, size, selected, source, card.description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])
    return 0
