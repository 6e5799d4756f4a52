"""The backend interface: one call takes every request of a run and yields finished completions in batches."""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder


@dataclass(frozen=True)
class BackendConfig:
    name: str
    model: str | None = None
    profile: str | None = None        # how the model marks and forces modes (kat, qwen3, r1, plain)
    mode: str = "auto"                # auto | on | off
    prompt_style: str = "chat"        # chat | completion
    options: dict[str, Any] = field(default_factory=dict)   # backend-specific (tensor_parallel_size, base_url, ...)


class Backend(ABC):
    def __init__(self, config: BackendConfig):
        self.config = config
        self._submitted: list[tuple[list[Request], SamplingConfig]] = []

    @abstractmethod
    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        """Yield completions as they finish, in batches small enough to store often."""

    def request_mode(self, request: Request) -> str:
        """The mode this request runs in: its own override, else the backend's."""
        return request.mode or self.config.mode

    def request_budget(self, request: Request) -> int | None:
        """The thinking budget of this request: its own override, else the backend's `thinking_budget` option."""
        return request.thinking_budget if request.thinking_budget is not None else self.default_budget()

    def default_budget(self) -> int | None:
        value = self.config.options.get("thinking_budget")
        return None if value is None else int(value)

    # Incremental use: a replica (kateval.scale) takes new requests while earlier ones are still generating.
    # These defaults run generate() over what was submitted; an engine with a queue of its own (vLLM)
    # overrides them so that new requests join the running batch.
    def submit(self, requests: Sequence[Request], sampling: SamplingConfig) -> None:
        """Queue requests behind those already submitted."""
        self._submitted.append((list(requests), sampling))

    def poll(self) -> list[Completion]:
        """Advance generation; the completions that finished since the last poll (possibly none)."""
        submitted, self._submitted = self._submitted, []
        return [c for requests, sampling in submitted for batch in self.generate(requests, sampling) for c in batch]

    def pending(self) -> int:
        """Samples submitted and not yet returned by poll()."""
        return sum(len(r.sample_indices) for requests, _ in self._submitted for r in requests)

    def cancel(self) -> None:
        """Drop everything submitted and not yet returned."""
        self._submitted = []

    def capacity(self) -> int | None:
        """Sequences the engine generates at once (None: no known limit); a replica is kept about this full."""
        return None

    def decoder(self) -> TokenDecoder | None:
        """What decodes this backend's token ids (None when it has no ids)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Facts recorded in run.json (versions, device, load and generation times)."""
        return {"backend": self.config.name, "model": self.config.model}

    def close(self) -> None:
        """Free the model or connections."""


# Options of the model-serving backends (vllm, openai), typed once from the command line's strings.
OPTION_TYPES: dict[str, Callable[[Any], Any]] = {
    "tensor_parallel_size": int, "data_parallel_size": int, "max_model_len": int, "gpu_memory_utilization": float,
    "dtype": str, "enable_prefix_caching": lambda v: str(v).lower() in ("1", "true", "yes", "on"),
    "enforce_eager": lambda v: str(v).lower() in ("1", "true", "yes", "on"),
    "thinking_budget": int, "system_prompt": str, "grammar": str, "tokenizer": str, "flush_s": float,
    "chat_template_kwargs": lambda v: v if isinstance(v, dict) else json.loads(v),
    "base_url": str, "api_key": str, "concurrency": int, "max_retries": int, "timeout": float,
    "distributed_executor_backend": str, "replica_capacity": int, "max_num_seqs": int,
}
GRAMMARS = ("autothink",)


def typed_options(options: dict[str, Any]) -> dict[str, Any]:
    typed = {}
    for key, value in options.items():
        if key not in OPTION_TYPES:
            raise KatevalError(f"unknown backend option '{key}'; known: {', '.join(sorted(OPTION_TYPES))}")
        try:
            typed[key] = OPTION_TYPES[key](value)
        except (TypeError, ValueError) as exc:
            raise KatevalError(f"backend option {key}={value!r}: {exc}") from exc
    if typed.get("grammar") not in (None, *GRAMMARS):
        raise KatevalError(f"unknown grammar '{typed['grammar']}'; choose one of {', '.join(GRAMMARS)}")
    return typed


def sample_groups(request: Request, n: int) -> list[tuple[int, ...]]:
    """All n samples in one request, or (resuming) each missing sample alone, to be seeded as it was in the n."""
    if tuple(request.sample_indices) == tuple(range(n)):
        return [tuple(request.sample_indices)]
    return [(i,) for i in request.sample_indices]
