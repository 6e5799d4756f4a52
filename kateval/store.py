"""The run directory: run.json (everything needed to reproduce), samples.jsonl (one record per sample) and
prompts.jsonl (the prompt of each problem, as the task wrote it: what the sample browser shows).

samples.jsonl is append-only and flushed to disk per batch. A run killed at any moment leaves at worst a torn
last line, which is cut off when the run is opened again; every complete line is kept.
"""
from __future__ import annotations

import json
import os
import sys
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kateval.types import KatevalError, Prompt, SampleRecord

try:  # 2-3x faster than the standard library on sample records; it refuses lone surrogates, which json takes
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = json.loads

SAMPLES = "samples.jsonl"
RUN_META = "run.json"
PROMPTS = "prompts.jsonl"
SampleKey = tuple[str, str, int]


def record_key(record: dict[str, Any]) -> SampleKey:
    return (record["task"], record["problem_id"], int(record["sample_index"]))


def iter_records(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Stream the complete records of a run (a torn or corrupt line is skipped with a warning)."""
    return (record for _, record in iter_record_lines(run_dir))


def iter_record_lines(run_dir: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Each complete record with the exact line that stores it (to copy records without re-encoding them)."""
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        raise KatevalError(f"{run_dir}: no {SAMPLES} (is this a kateval run directory?)")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # torn last line of a killed run
            try:
                record = _loads(raw)
            except ValueError:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
                print(f"kateval: warning: {path}:{number} is not a valid record; skipped", file=sys.stderr)
                continue
            if type(record) is dict and _well_typed(record):
                yield raw, record
                continue
            problem = record_problem(record)
            if problem is not None:   # a hand-edited or foreign line: the readers after this one rely on the types
                print(f"kateval: warning: {path}:{number} is not a valid record ({problem}); skipped", file=sys.stderr)
                continue
            blanked = [name for name in OPTIONAL_FIELDS if not _holds(RECORD_TYPES[name], record.get(name))]
            if blanked:   # as the table reader does: an optional value of another type is left empty
                print(f"kateval: warning: {path}:{number}: {', '.join(blanked)} of another type, left empty",
                      file=sys.stderr)
                record = {**record, **dict.fromkeys(blanked)}
            yield raw, record


INT_LIMIT = 1 << 63


def _json_types(annotation: Any) -> tuple[type, ...]:
    """The Python types JSON gives back for a SampleRecord field's annotation: `int | None` -> (int, NoneType), a
    Literal of strings -> (str,), `dict[str, Any]` -> (dict,)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(kind for arg in args for kind in _json_types(arg))
    if origin is typing.Literal:
        return tuple(dict.fromkeys(type(arg) for arg in args))
    return (origin or annotation,)


# What each field of a record holds, from SampleRecord's own annotations (ints: 0 <= n < 2**63). A field may be
# missing (runs made before it existed), never of another type; fields kateval does not know are left as they are.
RECORD_TYPES: dict[str, tuple[type, ...]] = {
    name: _json_types(annotation) for name, annotation in typing.get_type_hints(SampleRecord).items()}
# What every reader takes as given: a sample's key and its verdict. Any other field may be missing (runs made
# before it existed, records written by other tools); readers ask for those with .get.
REQUIRED_FIELDS = ("task", "problem_id", "sample_index", "correct")
OPTIONAL_FIELDS = tuple(name for name, kinds in RECORD_TYPES.items() if type(None) in kinds)
_KINDS = {name: frozenset(kinds) for name, kinds in RECORD_TYPES.items()}
_STRICT_FIELDS = tuple((name, kinds) for name, kinds in RECORD_TYPES.items() if name not in OPTIONAL_FIELDS)


def record_problem(record: Any) -> str | None:
    """What makes a parsed line no record (None: it is one): not an object, no key, or a field that may not be
    empty holding a value of another type."""
    if type(record) is not dict:
        return "not a JSON object"
    for name in REQUIRED_FIELDS:
        if name not in record:
            return f"no '{name}'"
    for name, kinds in _STRICT_FIELDS:
        value = record.get(name)
        if name in record and not _holds(kinds, value):
            return f"'{name}' holds {type(value).__name__} {str(value)[:40]!r}"
    return None


def _well_typed(record: dict[str, Any]) -> bool:
    """record_problem() is None and no field is blanked: the common case, in one pass (~2 us a record)."""
    for name, value in record.items():
        kinds = _KINDS.get(name)
        if kinds is not None and (type(value) not in kinds or (type(value) is int and not 0 <= value < INT_LIMIT)):
            return False
    return all(name in record for name in REQUIRED_FIELDS)


def _holds(kinds: tuple[type, ...], value: Any) -> bool:
    """The value is of one of the kinds; an int is a count or an index, so 0 <= it < 2**63 (what every column
    and array downstream takes)."""
    return type(value) in kinds and (type(value) is not int or 0 <= value < INT_LIMIT)


def _loads(raw: bytes) -> Any:
    try:
        return _fast_loads(raw)
    except ValueError:
        return json.loads(raw)


def read_prompts(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(task, problem_id) -> {"messages": [...]} or {"text": ...}, and "origin" (see RunStore.add_prompts); empty
    for runs made before prompts were stored."""
    path = Path(run_dir) / PROMPTS
    if not path.exists():
        return {}
    prompts = {}
    with path.open("rb") as handle:
        for raw in handle:
            try:
                line = _loads(raw)
                prompts[(line["task"], line["problem_id"])] = {k: v for k, v in line.items()
                                                               if k in ("messages", "text", "origin")}
            except (ValueError, KeyError, TypeError):
                continue   # a torn last line: the prompt is written again when the run resumes
    return prompts


def complete_length(path: Path) -> int:
    """Bytes up to and including the last newline: what a killed run left minus its torn last line."""
    with Path(path).open("rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        while position > 0:   # walk back in chunks to the last newline
            step = min(1 << 20, position)
            handle.seek(position - step)
            cut = handle.read(step).rfind(b"\n")
            if cut >= 0:
                return position - step + cut + 1
            position -= step
    return 0


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / RUN_META, "a kateval run directory")


def read_json(path: Path, holder: str) -> dict[str, Any]:
    """A JSON file of a folder kateval wrote (`holder` names the kind of folder, for the error)."""
    if not path.exists():
        raise KatevalError(f"{path.parent}: no {path.name} (is this {holder}?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KatevalError(f"{path}: not valid JSON ({exc})") from exc


def record_line(record: dict[str, Any]) -> str:
    """One samples.jsonl line (json_text)."""
    return json_text(record) + "\n"


def json_text(value: Any, **options: Any) -> str:
    """JSON text that any record's values can be written as. UTF-8 as written, except that a value holding a
    string UTF-8 cannot carry (a lone surrogate, from a model's output or a program's) is written with JSON
    escapes instead: every string is stored, and read back exactly."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=_plain, **options)
    except ValueError:   # an int past Python's 4,300-digit limit for decimal text (kept as hex text instead)
        value = _ints_as_text(value)
        text = json.dumps(value, ensure_ascii=False, default=_plain, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, default=_plain, **options)
    return text


def _plain(value: Any) -> Any:
    """What json cannot write by itself (a numpy value a program returned, inside grade details)."""
    return repr(value) if not hasattr(value, "tolist") else value.tolist()


def _ints_as_text(value: Any) -> Any:
    if type(value) is int and value.bit_length() > 14_000:
        return f"<int {value:#x}>"
    if isinstance(value, dict):
        return {key: _ints_as_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_ints_as_text(item) for item in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all (a temporary file renamed over it), so a kill never leaves half a file."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def same_identity(previous: dict[str, Any], identity: dict[str, Any], where: Path, kind: str) -> None:
    """A folder is resumed only with the settings it was made with; else a one-line error naming what changed."""
    if previous != identity:
        changed = sorted(k for k in set(identity) | set(previous) if identity.get(k) != previous.get(k))
        raise KatevalError(f"{where} holds a {kind} with other settings ({', '.join(changed)}); use another --out "
                           "or the same arguments to resume")


class RunStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.samples_path = self.run_dir / SAMPLES
        self.meta_path = self.run_dir / RUN_META
        self._prompt_keys: set[tuple[str, str]] | None = None   # problems whose prompt is stored (read once)

    def open(self, identity: dict[str, Any], meta: dict[str, Any]) -> set[SampleKey]:
        """Create or resume the run. `identity` (model, sampling, tasks...) must match a run being resumed.
        Returns the keys of the samples already stored."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        identity = json.loads(json.dumps(identity))  # compare as stored: tuples become lists
        if self.meta_path.exists():
            previous = read_run_meta(self.run_dir)
            same_identity(previous.get("identity", {}), identity, self.run_dir, "run")
            meta = {**previous, **meta, "started": previous.get("started", meta.get("started")),
                    "resumed": previous.get("resumed", 0) + 1}
        self.write_meta({**meta, "identity": identity})
        self._cut_torn_line()
        return {record_key(r) for r in iter_records(self.run_dir)} if self.samples_path.exists() else set()

    def add_prompts(self, prompts: Iterable[tuple[str, str, Prompt]], origin: str = "request") -> None:
        """Append the prompt of each (task, problem_id, prompt) whose problem has none stored yet (a resumed run
        adds only what is missing). origin "request": the prompt the samples were generated from; "task": the
        task's own prompt for the problem, for completions made elsewhere (`kateval score`)."""
        if self._prompt_keys is None:
            self._prompt_keys = set(read_prompts(self.run_dir))
        stored = self._prompt_keys
        lines = []
        for task, problem_id, prompt in prompts:
            if (task, problem_id) in stored:
                continue
            stored.add((task, problem_id))
            body = {"messages": list(prompt.messages)} if prompt.messages is not None else {"text": prompt.text}
            lines.append(json.dumps({"task": task, "problem_id": problem_id, **body, "origin": origin}) + "\n")
        if lines:
            path = self.run_dir / PROMPTS
            with path.open("a+b") as handle:
                torn = handle.seek(0, os.SEEK_END) > 0 and handle.seek(-1, os.SEEK_END) >= 0 and handle.read(1) != b"\n"
                handle.write(("\n" * torn + "".join(lines)).encode("utf-8"))

    def _cut_torn_line(self) -> None:
        if self.samples_path.exists():
            complete = complete_length(self.samples_path)
            if complete < self.samples_path.stat().st_size:
                with self.samples_path.open("rb+") as handle:
                    handle.truncate(complete)

    def append(self, records: Iterable[SampleRecord]) -> None:
        lines = "".join(record_line(r.to_json_dict()) for r in records)
        if not lines:
            return
        with self.samples_path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def write_meta(self, meta: dict[str, Any]) -> None:
        write_json(self.meta_path, meta)

    def update_meta(self, **fields: Any) -> None:
        self.write_meta({**read_run_meta(self.run_dir), **fields})

