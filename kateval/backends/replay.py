"""Replay: completions read from a JSONL file instead of generated."""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kateval.backends.base import Backend
from kateval.completions_io import LineError, read_completions
from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder


class ReplayBackend(Backend):
    def __init__(self, config):
        super().__init__(config)
        path = config.options.get("replay_file")
        if not path:
            raise KatevalError("the replay backend needs --replay-file FILE")
        self.path = Path(path)
        self._tokenizer = None
        if config.options.get("tokenizer"):
            from kateval.tokenizers import HFTokenizer

            self._tokenizer = HFTokenizer(config.options["tokenizer"])

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        saved: dict[tuple[str, str, int], Completion] = {}
        for item in read_completions(self.path):
            if isinstance(item, LineError):
                print(f"kateval: {self.path}:{item.line_number}: {item.message}; skipped", file=sys.stderr)
                continue
            saved[(item.task, item.problem_id, item.sample_index)] = item
        batch = [saved[key] for request in requests for index in request.sample_indices
                 if (key := (request.task, request.problem_id, index)) in saved]
        if batch:
            yield batch

    def decoder(self) -> TokenDecoder | None:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {"backend": "replay", "model": self.config.model, "replay_file": str(self.path)}
