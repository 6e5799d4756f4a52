"""The reference backend answers every problem with its gold answer in KAT AutoThink form, so the whole
harness can be checked end to end at 100%. It alternates thinking on and off by problem so think rates and
per-mode metrics have something to show."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from kateval.backends.base import Backend
from kateval.tokenizers import ByteTokenizer
from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder

KAT_GENERATION_PREFIX = "<judge>\n"


def reference_text(request: Request) -> str:
    if request.reference_answer is None:
        raise KatevalError(f"task {request.task} has no reference answers; the reference backend cannot run it")
    thinks = hashlib.sha256(f"{request.task}/{request.problem_id}".encode()).digest()[0] % 2 == 0
    if thinks:
        return ("This problem needs careful work, so I will think first.\n</judge>\n<think_on>\n<think>\n"
                "I recall the known solution and check it.\n</think>\n<answer>\n"
                f"{request.reference_answer}\n</answer>")
    return ("This problem is familiar; I can answer directly.\n</judge>\n<think_off>\n<answer>\n"
            f"{request.reference_answer}\n</answer>")


class ReferenceBackend(Backend):
    batch_size = 64

    def __init__(self, config):
        super().__init__(config)
        self._tokenizer = ByteTokenizer()

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        batch: list[Completion] = []
        for request in requests:
            text = reference_text(request)
            ids = tuple(self._tokenizer.encode(text))
            finish = "stop"
            if len(ids) > sampling.max_tokens:
                ids = ids[: sampling.max_tokens]
                text, finish = self._tokenizer.decode(ids), "length"
            prompt_tokens = len(self._tokenizer.encode(_prompt_text(request)))
            for index in request.sample_indices:
                batch.append(Completion(request.task, request.problem_id, index, text, ids, finish,
                                        prefix=KAT_GENERATION_PREFIX, prompt_tokens=prompt_tokens))
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
