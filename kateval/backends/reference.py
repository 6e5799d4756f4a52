"""The reference backend answers every problem with its gold answer in KAT AutoThink form, so the whole
harness can be checked end to end at 100%. In mode auto it alternates thinking on and off by problem so think rates
and per-mode metrics have something to show; a forced mode is prefilled as the kat profile prefills it, and a
thinking budget cuts the thought at that many tokens and closes it, as vLLM does."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from kateval.accounting import think_budget_hit
from kateval.backends.base import Backend
from kateval.profiles import PROFILES
from kateval.tokenizers import ByteTokenizer
from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder

KAT_GENERATION_PREFIX = "<judge>\n"
KAT = PROFILES["kat"]
THOUGHT = "\nI recall the known solution and check it, step by step, before I write it down.\n"


def thinks(request: Request, mode: str) -> bool:
    if mode != "auto":
        return mode == "on"
    return hashlib.sha256(f"{request.task}/{request.problem_id}".encode()).digest()[0] % 2 == 0


def reference_text(request: Request, mode: str = "auto", budget: int | None = None) -> tuple[str, str]:
    """(prefix, completion): the assistant turn the prompt already holds, then what the "model" writes."""
    if request.reference_answer is None:
        raise KatevalError(f"task {request.task} has no reference answers; the reference backend cannot run it")
    answer = f"{request.reference_answer}\n</answer>"
    # The thought's first token is the newline after <think> (a prefill's included), as vLLM counts a budget.
    thought = THOUGHT if budget is None else THOUGHT[:budget]
    thought_and_answer = f"{thought}</think>\n<answer>\n{answer}"
    if mode == "on":
        return KAT_GENERATION_PREFIX + KAT.forcing(mode).prefill, thought_and_answer.removeprefix("\n")
    if mode == "off":
        return KAT_GENERATION_PREFIX + KAT.forcing(mode).prefill, answer
    if thinks(request, mode):
        return KAT_GENERATION_PREFIX, ("This problem needs careful work, so I will think first.\n</judge>\n"
                                       f"<think_on>\n<think>{thought_and_answer}")
    return KAT_GENERATION_PREFIX, f"This problem is familiar; I can answer directly.\n</judge>\n<think_off>\n<answer>\n{answer}"


class ReferenceBackend(Backend):
    batch_size = 64

    def __init__(self, config):
        super().__init__(config)
        self._tokenizer = ByteTokenizer()
        KAT.forcing(config.mode)
        KAT.markers(self.default_budget())

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        batch: list[Completion] = []
        markers = [self._tokenizer.encode(marker) for marker in KAT.reasoning or ()]
        for request in requests:
            mode, budget = self.request_mode(request), self.request_budget(request)
            KAT.markers(budget)
            prefix, text = reference_text(request, mode, budget)
            ids = tuple(self._tokenizer.encode(text))
            finish = "stop"
            if len(ids) > sampling.max_tokens:
                ids = ids[: sampling.max_tokens]
                text, finish = self._tokenizer.decode(ids), "length"
            prompt_ids = self._tokenizer.encode(_prompt_text(request) + prefix)
            hit = think_budget_hit(prompt_ids, ids, markers, budget)
            for index in request.sample_indices:
                batch.append(Completion(request.task, request.problem_id, index, text, ids, finish,
                                        prefix=prefix, prompt_tokens=len(prompt_ids), requested_mode=mode,
                                        thinking_budget=budget, think_budget_hit=hit))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def decoder(self) -> TokenDecoder:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {"backend": "reference", "model": "reference", "tokenizer": self._tokenizer.name}


def _prompt_text(request: Request) -> str:
    if request.prompt.text is not None:
        return request.prompt.text
    return "".join(message["content"] for message in request.prompt.messages or ())
