"""The run directory: run.json (everything needed to reproduce) and samples.jsonl (one record per sample).

samples.jsonl is append-only and flushed to disk per batch. A run killed at any moment leaves at worst a torn
last line, which is cut off when the run is opened again; every complete line is kept.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kateval.types import KatevalError, SampleRecord

SAMPLES = "samples.jsonl"
RUN_META = "run.json"
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
                yield raw, json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                print(f"kateval: warning: {path}:{number} is not a valid record; skipped", file=sys.stderr)


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_META
    if not path.exists():
        raise KatevalError(f"{run_dir}: no {RUN_META} (is this a kateval run directory?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KatevalError(f"{path}: not valid JSON ({exc})") from exc


class RunStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.samples_path = self.run_dir / SAMPLES
        self.meta_path = self.run_dir / RUN_META

    def open(self, identity: dict[str, Any], meta: dict[str, Any]) -> set[SampleKey]:
        """Create or resume the run. `identity` (model, sampling, tasks...) must match a run being resumed.
        Returns the keys of the samples already stored."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        identity = json.loads(json.dumps(identity))  # compare as stored: tuples become lists
        if self.meta_path.exists():
            previous = read_run_meta(self.run_dir)
            if previous.get("identity") != identity:
                changed = sorted(k for k in set(identity) | set(previous.get("identity", {}))
                                 if identity.get(k) != previous.get("identity", {}).get(k))
                raise KatevalError(f"{self.run_dir} holds a run with other settings ({', '.join(changed)}); "
                                   "use another --out or the same arguments to resume")
            meta = {**previous, **meta, "started": previous.get("started", meta.get("started")),
                    "resumed": previous.get("resumed", 0) + 1}
        self.write_meta({**meta, "identity": identity})
        self._cut_torn_line()
        return {record_key(r) for r in iter_records(self.run_dir)} if self.samples_path.exists() else set()

    def _cut_torn_line(self) -> None:
        if not self.samples_path.exists():
            return
        with self.samples_path.open("rb+") as handle:
            position = end = handle.seek(0, os.SEEK_END)
            while position > 0:  # walk back in chunks to the last newline
                step = min(1 << 20, position)
                handle.seek(position - step)
                chunk = handle.read(step)
                if position == end and chunk.endswith(b"\n"):
                    return
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    handle.truncate(position - step + cut + 1)
                    return
                position -= step
            handle.truncate(0)

    def append(self, records: Iterable[SampleRecord]) -> None:
        lines = "".join(json.dumps(r.to_json_dict(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        with self.samples_path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def write_meta(self, meta: dict[str, Any]) -> None:
        temporary = self.meta_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, self.meta_path)

    def update_meta(self, **fields: Any) -> None:
        self.write_meta({**read_run_meta(self.run_dir), **fields})

