"""Reading completions produced elsewhere (JSONL). A bad line is reported with its number and skipped.
Besides kateval's own lines, lm-eval `--log_samples` and evalplus sample lines are recognized line by line
(kateval.bridges.foreign_samples)."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kateval.bridges.foreign_samples import ForeignRows, is_foreign
from kateval.tasks import available_cards
from kateval.types import Completion, KatevalError


@dataclass(frozen=True)
class LineError:
    line_number: int
    message: str


def read_completions(path: Path, task_map: dict[str, str] | None = None) -> Iterator[Completion | LineError]:
    """`task_map` names the kateval task of an lm-eval task or evalplus dataset (see foreign_samples)."""
    if not path.exists():
        raise KatevalError(f"{path}: no such file")
    next_index: dict[tuple[str, str], int] = defaultdict(int)
    foreign: ForeignRows | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                if is_foreign(row):
                    if foreign is None:
                        foreign = ForeignRows(path.name, task_map or {}, available_cards())
                    completions = foreign.completions(row)
                else:
                    completions = [completion_from_row(row, next_index)]
            except UnicodeDecodeError as exc:
                yield LineError(number, f"invalid UTF-8 at byte {exc.start}")
            except json.JSONDecodeError as exc:
                yield LineError(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            except (KeyError, TypeError, ValueError) as exc:
                yield LineError(number, f"bad record: {exc}")
            else:
                yield from completions


def good_completions(path: Path, task_map: dict[str, str] | None = None) -> tuple[list[Completion], int]:
    """The readable completions of a file, each bad line reported on stderr; and how many lines were bad."""
    good, bad = [], 0
    for item in read_completions(path, task_map):
        if isinstance(item, LineError):
            bad += 1
            print(f"kateval: {path}:{item.line_number}: {item.message}; skipped", file=sys.stderr)
        else:
            good.append(item)
    return good, bad


def completion_from_row(row: dict, next_index: dict[tuple[str, str], int]) -> Completion:
    if not isinstance(row, dict):
        raise TypeError("a line must be a JSON object")
    missing = [key for key in ("task", "problem_id", "completion") if key not in row]
    if missing:
        raise KeyError(f"missing field(s) {', '.join(missing)}")
    if not isinstance(row["completion"], str):
        raise TypeError("'completion' must be a string")
    key = (str(row["task"]), str(row["problem_id"]))
    index = int(row["sample_index"]) if row.get("sample_index") is not None else next_index[key]
    next_index[key] = max(next_index[key], index + 1)
    token_ids = row.get("token_ids")
    if token_ids is not None and not all(isinstance(t, int) for t in token_ids):
        raise TypeError("'token_ids' must be a list of integers")
    return Completion(
        task=key[0], problem_id=key[1], sample_index=index, text=row["completion"],
        token_ids=tuple(token_ids) if token_ids is not None else None,
        finish_reason=row.get("finish_reason"), prefix=row.get("prefix", ""),
        stop_reason=row.get("stop_reason"), prompt_tokens=row.get("prompt_tokens"),
        cached_prompt_tokens=row.get("cached_prompt_tokens"), completion_tokens=row.get("completion_tokens"),
        thinking_budget=_optional_int(row, "thinking_budget"), think_budget_hit=row.get("think_budget_hit"),
    )


def _optional_int(row: dict, key: str) -> int | None:
    value = row.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"'{key}' must be an integer")
    return value
