"""Task cards and the adapter base class.

A benchmark is a card in `tasks/<name>.toml` (data source, prompt templates, parameters) plus the adapter module
the card names. The adapter turns rows into Problems, Problems into Prompts, and parsed outputs into Grades.
"""
from __future__ import annotations

import hashlib
import json
import string
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from kateval.types import Completion, Executor, Grade, KatevalError, ParsedOutput, Problem, Prompt

CARDS_DIR = Path(__file__).resolve().parents[2] / "tasks"


@dataclass(frozen=True)
class TaskCard:
    name: str
    adapter: str
    version: str
    description: str
    data: dict[str, Any]
    prompt: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def hub_label(self) -> str:
        parts = self.data.get("hub_parts")
        return ",".join(p["id"] for p in parts) if parts else self.data.get("hub_id", "-")

    @classmethod
    def load(cls, path: Path) -> TaskCard:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(name=raw["name"], adapter=raw["adapter"], version=str(raw.get("version", "1")),
                       description=raw.get("description", ""), data=raw.get("data", {}),
                       prompt=raw.get("prompt", {}), params=raw.get("params", {}), path=path)
        except (tomllib.TOMLDecodeError, KeyError) as exc:
            raise KatevalError(f"task card {path}: {exc}") from exc


@dataclass(frozen=True)
class DataSource:
    """Where a task's rows came from, recorded in run.json."""
    kind: str          # "hub" or "local"
    location: str      # dataset id or file path
    revision: str | None
    sha256: str | None
    flags: dict[str, Any] = field(default_factory=dict)   # caveats a report must show, e.g. public_tests_only


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fill_template(template: str, values: dict[str, Any]) -> str:
    """`${field}` placeholders, so templates can hold LaTeX braces like \\boxed{} untouched."""
    try:
        return string.Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise KatevalError(f"prompt template refers to an unknown field: {exc}") from exc


class TaskAdapter(ABC):
    """Base adapter: override `rows_from_dir`, `to_problem` and `grade`; the rest has sensible defaults."""

    needs_executor = False

    def __init__(self, card: TaskCard):
        self.card = card

    # -- data
    def rows_from_hub(self) -> tuple[list[dict[str, Any]], DataSource]:
        spec = self.card.data
        if "hub_id" not in spec:
            raise KatevalError(f"task {self.card.name} has no hub dataset; pass --data-dir")
        return load_hub_rows(spec["hub_id"], spec.get("hub_config"), spec.get("hub_split", "test"),
                             spec.get("hub_revision"))

    def rows_from_dir(self, data_dir: Path) -> tuple[list[dict[str, Any]], DataSource]:
        path = data_dir / self.card.data["local"]
        if not path.exists():
            raise KatevalError(f"task {self.card.name}: data file {path} not found (is --data-dir right?)")
        return read_json_rows(path), DataSource("local", str(path), None, sha256_of(path))

    @abstractmethod
    def to_problem(self, row: dict[str, Any]) -> Problem:
        """Map one data row to a Problem."""

    def select(self, problems: list[Problem]) -> list[Problem]:
        """The problems a run evaluates (a window, a split); `kateval score` still sees all of them."""
        return problems

    # -- prompts
    def prompt(self, problem: Problem, style: str = "chat") -> Prompt:
        template = self.card.prompt.get(style)
        if template is None:
            raise KatevalError(f"task {self.card.name} has no '{style}' prompt template")
        text = fill_template(template, self.template_values(problem))
        if style == "chat":
            return Prompt(messages=({"role": "user", "content": text},))
        return Prompt(text=text)

    def template_values(self, problem: Problem) -> dict[str, Any]:
        return dict(problem.fields)

    def reference_answer(self, problem: Problem) -> str | None:
        return None

    # -- grading
    @abstractmethod
    def grade(self, problem: Problem, parsed: ParsedOutput, completion: Completion,
              executor: Executor | None) -> Grade:
        """Grade the answer segment; the executor is given when `needs_executor` is true."""

    def grade_batch(self, items: list[tuple[Problem, ParsedOutput, Completion]],
                    executor: Executor | None) -> list[Grade]:
        """Grade many samples at once; code tasks override this to hand all their programs to the executor
        in one call so its workers run in parallel."""
        return [self.grade(problem, parsed, completion, executor) for problem, parsed, completion in items]


def load_hub_rows(hub_id: str, config: str | None, split: str,
                  revision: str | None) -> tuple[list[dict[str, Any]], DataSource]:
    import datasets  # heavy; only when the hub is really used

    loaded = datasets.load_dataset(hub_id, config, split=split, revision=revision or None)
    return [dict(row) for row in loaded], DataSource("hub", hub_id, revision, loaded._fingerprint)


def read_json_rows(path: Path) -> list[dict[str, Any]]:
    """JSONL, a JSON array, or either gzipped."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            return list(json.loads(stripped))
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise KatevalError(f"{path}: not valid JSON/JSONL ({exc})") from exc
