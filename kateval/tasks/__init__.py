"""Task registry: every `tasks/*.toml` card is a task; its `adapter` names the module that implements it."""
from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from kateval.tasks.base import CARDS_DIR, DataSource, TaskAdapter, TaskCard
from kateval.types import KatevalError, Problem


@dataclass(frozen=True)
class LoadedTask:
    card: TaskCard
    adapter: TaskAdapter
    problems: tuple[Problem, ...]       # the whole data set (what `kateval score` can grade)
    selected: tuple[Problem, ...]       # what a run evaluates
    source: DataSource

    @property
    def name(self) -> str:
        return self.card.name

    @cached_property
    def by_id(self) -> dict[str, Problem]:
        """Every problem of the data by id (built once; grading looks problems up per batch)."""
        return {problem.problem_id: problem for problem in self.problems}


def time_limits(tasks: Iterable[LoadedTask], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What run.json records per code task: how its time limits were chosen and those each graded problem got
    (calibrated from its reference solution), added to `previous` (what a resumed run had recorded)."""
    merged = dict(previous or {})
    for task in tasks:
        if hasattr(task.adapter, "time_limits"):
            current, before = task.adapter.time_limits(), merged.get(task.name) or {}
            problems = {**(before.get("problems") or {}), **(current.get("problems") or {})}
            merged[task.name] = {**current, "problems": problems} if "problems" in current else current
    return merged


def cards_dir() -> Path:
    return Path(os.environ.get("KATEVAL_TASKS_DIR", CARDS_DIR))


def available_cards() -> dict[str, TaskCard]:
    return {card.name: card for card in (TaskCard.load(p) for p in sorted(cards_dir().glob("*.toml")))}


def make_adapter(card: TaskCard) -> TaskAdapter:
    module = importlib.import_module(card.adapter)
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, TaskAdapter) and obj.__module__ == module.__name__ and not inspect.isabstract(obj)]
    if len(classes) != 1:
        raise KatevalError(f"adapter module {card.adapter} must define exactly one TaskAdapter subclass")
    return classes[0](card)


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    chosen = data_dir or os.environ.get("KATEVAL_DATA_DIR")
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise KatevalError(f"data directory {path} does not exist")
    return path


def load_task(name: str, data_dir: str | Path | None = None) -> LoadedTask:
    """Local files when a data directory is given (flag or KATEVAL_DATA_DIR), else the hub.
    `lm_eval:NAME` is a task of lm-evaluation-harness, built from its own config (kateval.bridges.lmeval_task)."""
    if name.startswith("lm_eval:"):
        from kateval.bridges.lmeval_task import load_lm_eval_task

        return load_lm_eval_task(name)
    cards = available_cards()
    if name not in cards:
        raise KatevalError(f"unknown task '{name}'; known tasks: {', '.join(sorted(cards))}")
    card = cards[name]
    adapter = make_adapter(card)
    local_dir = resolve_data_dir(data_dir)
    if local_dir is not None:
        rows, source = adapter.rows_from_dir(local_dir)
    else:
        try:
            rows, source = adapter.rows_from_hub()
        except KatevalError:
            raise
        except Exception as exc:  # network, auth, missing dataset: tell the user what to do instead
            raise KatevalError(f"task {name}: could not load {card.hub_label} from the hub "
                               f"({type(exc).__name__}); pass --data-dir or set KATEVAL_DATA_DIR") from exc
    try:
        problems = tuple(adapter.to_problem(row) for row in rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise KatevalError(f"task {name}: a data row is not in the expected format ({exc!r})") from exc
    return LoadedTask(card, adapter, problems, tuple(adapter.select(list(problems))), source)


def parse_task_list(spec: str) -> list[str]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise KatevalError("no task given (--tasks aime24,aime25)")
    return names
