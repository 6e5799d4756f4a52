"""samples.jsonl as one typed table (pyarrow, then pandas): the reader behind `kateval.load_run` and the sample
browser. Store side: it reads the run store and nothing later in the pipeline.

The columns are the fields of `kateval.types.SampleRecord`, typed from its annotations. Scalar fields are decoded
by pyarrow's JSON reader with an explicit schema, on one thread (benchmarks/bench_load.py, a million records:
3.5x faster than orjson line by line, 4.8x than the standard library, and flat memory); the completion texts are
never materialized unless asked for. Fields whose values are not one JSON type (`grade_details`, a dict;
`segments`, a list; `stop_reason`, a string or a token id) and the texts come from the store's line-by-line
reader. Any file the fast reader refuses (a corrupt line, an
escaped lone surrogate, a value of an unexpected type) is read line by line instead, with the store's own rules:
a torn last line is left out, a corrupt line skipped and a value of another type left empty, with a warning.

The scalar columns are then cached beside the store as samples.parquet (stamped with the size and modification
time of the samples.jsonl they came from, and checked against the record schema): a later load reads that in a
fraction of the time (measured at a million records on a loaded host: 1.9 s against 16 s for the JSON). `kateval
run` and `kateval score` write it as they finish. A stale or foreign sidecar is ignored and rewritten; deleting it
is always safe.
"""
from __future__ import annotations

import dataclasses
import io
import os
import types
import typing
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from kateval.store import SAMPLES, complete_length, iter_records
from kateval.types import KatevalError, SampleRecord

TEXT_FIELDS = ("completion", "prefix")       # long texts: only with completions=True
CATEGORIES = ("task", "problem_id", "mode", "status", "finish_reason", "difficulty")   # few distinct values
BLOCK_BYTES = 1 << 24
SIDECAR = "samples.parquet"   # the scalar columns, cached beside samples.jsonl


def _arrow_type(annotation: Any) -> pa.DataType | None:
    """The arrow type of a record field, or None when its values are not one JSON type (dicts, str | int)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _arrow_type(args[0]) if len(args) == 1 else None
    if typing.get_origin(annotation) is typing.Literal:
        return pa.string() if all(isinstance(a, str) for a in args) else None
    return {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}.get(annotation)


def record_schema() -> tuple[pa.Schema, tuple[str, ...]]:
    """(schema of the scalar fields, names of the loose ones), in SampleRecord's field order."""
    hints = typing.get_type_hints(SampleRecord)
    scalar, loose = [], []
    for f in dataclasses.fields(SampleRecord):
        kind = _arrow_type(hints[f.name])
        if kind is None or f.name in TEXT_FIELDS:
            loose.append(f.name)
        else:
            scalar.append(pa.field(f.name, kind))
    return pa.schema(scalar), tuple(loose)


class _Prefix(io.RawIOBase):
    """The first `length` bytes of a file, as a stream: the reader must stop at the last complete line even while a
    running job appends to the file."""

    def __init__(self, handle: BinaryIO, length: int):
        self._handle, self._left = handle, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _fast_scalars(path: Path, length: int, schema: pa.Schema) -> pa.Table:
    # One thread: the threaded reader buffers blocks ahead (about 0.8 GB at 1,000,000 records here) and was only
    # 1.3x faster on two cores; one block at a time keeps memory flat whatever the file's size.
    options = {"read_options": pa_json.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
               "parse_options": pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")}
    if length == path.stat().st_size:   # the usual case: arrow reads the file itself
        return pa_json.read_json(str(path), **options)
    with path.open("rb") as handle:     # a torn last line, or a job still appending: stop at the last newline
        return pa_json.read_json(pa.PythonFile(_Prefix(handle, length), mode="r"), **options)


def _utf8(value: Any) -> Any:
    """A string with a lone surrogate (stored escaped in JSON; valid in Python, not in arrow or pandas strings)
    with that character written as its escape, so that nothing is lost from view."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """One column from the store's reader, whose records are already of their fields' types (a value of another
    type left empty there, with a warning naming its line)."""
    if pa.types.is_string(kind):
        values = [_utf8(v) for v in values]
    return pa.array(values, type=kind)


def _line_columns(run_dir: Path, names: list[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in names}
    appends = [(name, columns[name].append) for name in names]
    for record in iter_records(run_dir):
        if isinstance(record, dict):
            for name, append in appends:
                append(record.get(name))
    return columns


def _scalar_table(run_dir: Path, length: int, schema: pa.Schema) -> pa.Table:
    try:
        return _fast_scalars(Path(run_dir) / SAMPLES, length, schema) if length else schema.empty_table()
    except pa.ArrowInvalid:   # a line the fast reader refuses: every line through the store's own reader
        columns = _line_columns(run_dir, schema.names)
        return pa.table({f.name: _column(columns[f.name], f.type) for f in schema})


def _stamp(path: Path) -> dict[bytes, bytes]:
    """What identifies the samples.jsonl a sidecar was made from: it is append-only, so size and mtime."""
    status = path.stat()
    return {b"kateval.source_size": str(status.st_size).encode(), b"kateval.source_mtime_ns":
            str(status.st_mtime_ns).encode()}


def _read_sidecar(run_dir: Path, schema: pa.Schema, stamp: dict[bytes, bytes]) -> pa.Table | None:
    path = Path(run_dir) / SIDECAR
    try:
        stored = pq.read_schema(path)
        metadata = stored.metadata or {}
        if any(metadata.get(key) != value for key, value in stamp.items()) or not stored.remove_metadata().equals(
                schema):
            return None   # made from other samples, or by a kateval whose records had other fields
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None


def _write_sidecar(run_dir: Path, table: pa.Table, stamp: dict[bytes, bytes]) -> None:
    """Best effort: a read-only run directory is read from its JSON every time."""
    path = Path(run_dir) / SIDECAR
    temporary = path.with_name(f"{SIDECAR}.{os.getpid()}.tmp")
    try:
        pq.write_table(table.replace_schema_metadata(stamp), temporary)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def cached_scalars(run_dir: Path) -> pa.Table:
    """The scalar columns, from the sidecar when it matches the samples, else from the JSON (then cached). Runs
    and scoring call it as they finish, so that the first load_run of a run is already fast."""
    path = Path(run_dir) / SAMPLES
    schema = record_schema()[0]
    stamp = _stamp(path)
    table = _read_sidecar(run_dir, schema, stamp)
    if table is None:
        table = _scalar_table(run_dir, complete_length(path), schema)
        if _stamp(path) == stamp:   # not while a running job appends
            _write_sidecar(run_dir, table, stamp)
    return table


def sample_frame(run_dir: Path, completions: bool = False) -> pd.DataFrame:
    """The samples of a run as a DataFrame, one row per complete record in file order, typed columns: task,
    problem_id, mode, status, finish_reason and difficulty categorical; sample_index int64; token counts nullable
    Int64 (missing where the source gave text only); flags bool; extracted_answer string. With completions=True
    also completion and prefix (string), grade_details (dict), segments (list) and stop_reason (as written);
    without, the texts are never decoded into memory."""
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        raise KatevalError(f"{run_dir}: no {SAMPLES} (is this a kateval run directory?)")
    schema, loose = record_schema()
    table = cached_scalars(run_dir)
    extra = _line_columns(run_dir, list(loose)) if completions else {}
    if extra and len(extra[loose[0]]) != table.num_rows:   # the file grew in between: one reading of it all
        columns = _line_columns(run_dir, [*schema.names, *loose])
        table = pa.table({f.name: _column(columns.pop(f.name), f.type) for f in schema})
        extra = columns
    return _frame(table.replace_schema_metadata(None), extra)


def _frame(table: pa.Table, extra: dict[str, list[Any]]) -> pd.DataFrame:
    kinds = {f.name: f.type for f in table.schema}
    for name in CATEGORIES:   # encoded in arrow: pandas gets categoricals without a string per row
        table = table.set_column(table.schema.get_field_index(name), name, table[name].dictionary_encode())
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}.get,
                            self_destruct=True)
    for name, kind in kinds.items():
        if kind == pa.bool_():
            column = frame[name]
            frame[name] = column.astype(bool) if not column.isna().any() else column.astype("boolean")
    if not frame["sample_index"].isna().any():
        frame["sample_index"] = frame["sample_index"].astype("int64")
    for name, values in extra.items():
        if name == "grade_details":
            frame[name] = pd.Series([v if isinstance(v, dict) else {} for v in values], dtype=object)
        elif name in TEXT_FIELDS:
            frame[name] = pd.Series([_utf8(v) for v in values], dtype="string")
        else:   # a field of mixed JSON types (stop_reason: a string or a token id): kept as written
            frame[name] = pd.Series(values, dtype=object)
    return frame
