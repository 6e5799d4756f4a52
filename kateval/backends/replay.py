"""Replay: completions read from a JSONL file instead of generated."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kateval.backends.base import Backend
from kateval.completions_io import good_completions
from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder


class ReplayBackend(Backend):
    def __init__(self, config):
        super().__init__(config)
        path = config.options.get("replay_file")
        if not path:
            raise KatevalError("the replay backend needs --replay-file FILE")
        self.path = Path(path)
        self._tokenizer = None
        self._saved: dict[tuple, Completion] | None = None   # the file, read at the first generate()
        if config.options.get("tokenizer"):
            from kateval.tokenizers import HFTokenizer

            self._tokenizer = HFTokenizer(config.options["tokenizer"])

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        """A request's thinking budget picks the lines saved with that `thinking_budget` (a sweep cell's samples
        replay as that cell); a mode cannot be forced on saved text, so a request asking for another is refused."""
        if self._saved is None:   # once: a replica or an adaptive run calls generate() many times
            self._saved = {(c.task, c.problem_id, c.sample_index, c.thinking_budget): c
                           for c in good_completions(self.path)[0]}
        saved = self._saved
        batch = []
        for request in requests:
            mode, budget = self.request_mode(request), self.request_budget(request)
            if mode != self.config.mode:
                raise KatevalError(f"the replay backend cannot force mode '{mode}' on saved completions")
            batch += [replace(saved[key], requested_mode=mode) for index in request.sample_indices
                      if (key := (request.task, request.problem_id, index, budget)) in saved]
        if batch:
            yield batch

    def decoder(self) -> TokenDecoder | None:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {"backend": "replay", "model": self.config.model, "replay_file": str(self.path)}
