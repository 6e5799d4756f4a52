"""The sample browser inside report.html: every sample of a run, filterable by task, problem, mode, status, result,
truncation and well-formedness, searchable in its text, sortable by tokens; a sample opens with its prompt, its
completion with the judge / think / answer segments marked, its token counts, extracted answer, grade and grade
details (a code sample's failing test and error).

The page stays one offline file that opens fast however many samples it holds: an index of a few numbers per
sample is parsed at load (JSON, columnar), while the texts are gzip-compressed in chunks of CHUNK_SAMPLES samples
(base64 inside inert <script> elements) that the page inflates only when a sample of the chunk is opened or a
text search runs. The completions are model output: the page inserts them as text, never as HTML.

Links into it: `sample_href(report, task, problem_id[, sample_index])` gives `report.html#samples?task=…&problem=…`
(+ `&sample=…`), which opens the browser filtered to that problem with the sample (or the problem's first) open.
"""
from __future__ import annotations

import base64
import bisect
import gzip
import html
import json
import os
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kateval.parse import parse_output
from kateval.store import iter_records, read_prompts
from kateval.types import SEGMENT_KINDS

CHUNK_SAMPLES = 256
ANSWER_CHARS = 80        # of the extracted answer in the list; the sample view shows all of it
PACKERS = max(1, min(4, (os.cpu_count() or 2) - 1))   # threads compressing chunks while records are read
PACKING_AHEAD = 2 * PACKERS
GZIP_LEVEL = 3           # measured on word-like text: as small as level 5 at twice the speed; 9 is 5% smaller, 10x slower
UNKNOWN = -1
FLAG_CORRECT, FLAG_TRUNCATED, FLAG_WELL_FORMED = 1, 2, 4
SEGMENT_CODES = {kind: index for index, kind in enumerate(SEGMENT_KINDS)}   # a segment's kind as the page codes it
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def sample_href(report: str, task: str, problem_id: str, sample_index: int | None = None) -> str:
    """A link that opens `report` (a path or URL of a report.html) at a problem's samples, or at one sample."""
    query = {"task": task, "problem": problem_id, **({} if sample_index is None else {"sample": sample_index})}
    return f"{report}#samples?{urlencode(query)}"


def _utf16_offsets(text: str):
    """Python offsets (code points) -> JavaScript string offsets (UTF-16 units): they differ after any character
    beyond the Basic Multilingual Plane (emoji, mathematical letters)."""
    astral = [] if text.isascii() else [m.start() for m in _ASTRAL.finditer(text)]
    if not astral:
        return lambda offset: offset
    return lambda offset: offset + bisect.bisect_left(astral, offset)


def _segments(record: dict[str, Any]) -> list[int]:
    """[kind, start, end, ...] over the completion: the segments the grader parsed (stored in the record), or for
    a run stored before records kept them, the same parser run again."""
    text = record.get("completion") or ""
    stored = record.get("segments")
    if not isinstance(stored, list) or (text and not stored):
        stored = [(s.kind, s.start, s.end) for s in parse_output(text, record.get("prefix") or "").segments]
    to_js = _utf16_offsets(text)
    flat: list[int] = []
    for kind, start, end in stored:
        if kind in SEGMENT_CODES and isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            flat += [SEGMENT_CODES[kind], to_js(start), to_js(end)]
    return flat


def _token(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else UNKNOWN


def _packed(value: Any) -> str:
    """JSON, gzip, base64: what the page inflates with the browser's own DecompressionStream."""
    raw = json.dumps(value, separators=(",", ":")).encode("ascii")   # ascii: lone surrogates survive as escapes
    return base64.b64encode(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)).decode("ascii")


class _Collector:
    """One pass over the records: the index columns, and the texts packed chunk by chunk as they fill, so memory
    holds compressed text only. Packing runs on `packer` threads (zlib releases the GIL), beside the parsing."""

    def __init__(self, packer: ThreadPoolExecutor) -> None:
        self.lookup: dict[str, dict[Any, int]] = {"tasks": {}, "modes": {}, "statuses": {}, "problems": {}}
        self.problem_difficulty: list[Any] = []
        self.columns: dict[str, list[Any]] = {key: [] for key in "pimsfnjkax"}
        self.chunks: list[str] = []
        self._texts: list[dict[str, Any]] = []
        self._packer = packer
        self._packing: deque[Future[str]] = deque()

    def _code(self, table: str, value: Any) -> int:
        codes = self.lookup[table]
        if value not in codes:
            codes[value] = len(codes)
        return codes[value]

    def add(self, record: dict[str, Any]) -> None:
        task = str(record.get("task"))
        problem = self._code("problems", (task, str(record.get("problem_id"))))
        if problem == len(self.problem_difficulty):
            self.problem_difficulty.append(record.get("difficulty"))
        answer = record.get("extracted_answer")
        answer = None if answer is None else str(answer)
        flags = (FLAG_CORRECT * bool(record.get("correct")) | FLAG_TRUNCATED * bool(record.get("truncated"))
                 | FLAG_WELL_FORMED * bool(record.get("well_formed")))
        values = {"p": problem, "i": _token(record.get("sample_index")), "m": self._code("modes", record.get("mode")),
                  "s": self._code("statuses", record.get("status")), "f": flags,
                  "n": _token(record.get("completion_tokens")), "j": _token(record.get("judge_tokens")),
                  "k": _token(record.get("think_tokens")), "a": _token(record.get("answer_tokens")),
                  "x": None if answer is None else answer[:ANSWER_CHARS]}
        for key, value in values.items():
            self.columns[key].append(value)
        self._code("tasks", task)
        self._texts.append({
            "completion": record.get("completion") or "", "prefix": record.get("prefix") or "",
            "segments": _segments(record), "answer": answer if answer is not None and len(answer) > ANSWER_CHARS
            else None, "grade_details": record.get("grade_details") or {},
            **{key: record.get(key) for key in ("finish_reason", "stop_reason", "prompt_tokens", "other_tokens",
                                                "cached_prompt_tokens")}})
        if len(self._texts) == CHUNK_SAMPLES:
            self.flush()

    def flush(self, last: bool = False) -> None:
        if self._texts:
            self._packing.append(self._packer.submit(_packed, self._texts))
            self._texts = []
        while self._packing and (last or len(self._packing) > PACKING_AHEAD):   # bounds the unpacked text held
            self.chunks.append(self._packing.popleft().result())

    def index(self) -> dict[str, Any]:
        problems = list(self.lookup["problems"])
        tasks = self.lookup["tasks"]
        return {"tasks": list(tasks), "modes": list(self.lookup["modes"]), "statuses": list(self.lookup["statuses"]),
                "segments": list(SEGMENT_KINDS), "chunk": CHUNK_SAMPLES,
                "problems": {"task": [tasks[task] for task, _ in problems], "id": [pid for _, pid in problems],
                             "difficulty": self.problem_difficulty},
                "samples": self.columns}


def _script_json(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def browser_section(run_dir: Path, report_name: str = "report.html") -> tuple[str, str]:
    """(the browser's HTML section, the line markdown shows in its place)."""
    with ThreadPoolExecutor(max_workers=PACKERS, thread_name_prefix="kateval-pack") as packer:
        collector = _Collector(packer)
        for record in iter_records(run_dir):
            if isinstance(record, dict):
                collector.add(record)
        collector.flush(last=True)
    index = collector.index()
    prompts = read_prompts(run_dir)
    problems = list(collector.lookup["problems"])
    packed_prompts = _packed([prompts.get(key) for key in problems])
    samples = len(index["samples"]["p"])
    asset = resources.files("kateval.report")
    parts = [
        "<section id='samples'><h1>Samples</h1>",
        (f"<p class='caption'>{samples:,} samples. Filter, search their text, sort by tokens; click a row to read it. "
         "Segments: <span class='kt-seg kt-judge'>judge</span> <span class='kt-seg kt-think'>think</span> "
         "<span class='kt-seg kt-answer'>answer</span> <span class='kt-seg kt-other'>other</span>. "
         f"Link to a problem: {html.escape(report_name)}#samples?task=TASK&amp;problem=ID[&amp;sample=I].</p>"),
        "<div id='kt-browser'><noscript>The sample browser needs JavaScript.</noscript></div>",
        f"<script type='application/json' id='kt-index'>{_script_json(index)}</script>",
        f"<script type='application/octet-stream' id='kt-prompts'>{packed_prompts}</script>",
        *(f"<script type='application/octet-stream' id='kt-c{number}'>{chunk}</script>"
          for number, chunk in enumerate(collector.chunks)),
        f"<style>{asset.joinpath('browser.css').read_text(encoding='utf-8')}</style>",
        f"<script>{asset.joinpath('browser.js').read_text(encoding='utf-8')}</script>",
        "</section>",
    ]
    markdown = (f"## Samples\n\n{samples:,} samples: browse them in {report_name} (`kateval view {run_dir}` opens it), "
                "filtered by task, problem, mode, status, truncation and well-formedness, searchable in their text.")
    return "\n".join(parts), markdown
