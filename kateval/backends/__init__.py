"""Backends turn Requests into Completions. Each lives in its own module, imported only when chosen."""
from __future__ import annotations

import importlib

from kateval.backends.base import Backend, BackendConfig
from kateval.types import KatevalError

BACKENDS = {
    "reference": "kateval.backends.reference:ReferenceBackend",
    "replay": "kateval.backends.replay:ReplayBackend",
    "vllm": "kateval.backends.vllm_offline:VLLMBackend",
    "openai": "kateval.backends.openai_server:OpenAIBackend",
}


def make_backend(config: BackendConfig) -> Backend:
    if config.name not in BACKENDS:
        raise KatevalError(f"unknown backend '{config.name}'; choose one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[config.name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise KatevalError(f"backend '{config.name}' needs a package that is not installed: {exc}") from exc
    return getattr(module, class_name)(config)
