"""The backend interface: one call takes every request of a run and yields finished completions in batches."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kateval.types import Completion, Request, SamplingConfig, TokenDecoder


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

    @abstractmethod
    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        """Yield completions as they finish, in batches small enough to store often."""

    def decoder(self) -> TokenDecoder | None:
        """What decodes this backend's token ids (None when it has no ids)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Facts recorded in run.json (versions, device, load and generation times)."""
        return {"backend": self.config.name, "model": self.config.model}

    def close(self) -> None:
        """Free the model or connections."""
