"""Tokenizers used for accounting when a backend has none of its own."""
from __future__ import annotations

import re
from collections.abc import Sequence

from kateval.types import KatevalError

AUTOTHINK_TAGS = ("<judge>", "</judge>", "<think_on>", "<think_off>", "<think>", "</think>", "<answer>", "</answer>")
_TAG_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in AUTOTHINK_TAGS) + ")")


class ByteTokenizer:
    """One token per UTF-8 byte, each AutoThink tag one special token (ids 256+). Exact and dependency-free:
    the reference backend uses it so its records carry real token ids."""

    name = "kateval-bytes"

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _TAG_SPLIT.split(text):
            if piece in AUTOTHINK_TAGS:
                ids.append(256 + AUTOTHINK_TAGS.index(piece))
            else:
                ids.extend(piece.encode("utf-8"))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        out: list[str] = []
        pending = bytearray()
        for token in ids:
            if token < 256:
                pending.append(token)
                continue
            out.append(pending.decode("utf-8", errors="replace"))
            pending.clear()
            out.append(AUTOTHINK_TAGS[token - 256])
        out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)


class HFTokenizer:
    """A Hugging Face tokenizer, decoding with special tokens kept (the AutoThink tags are special)."""

    def __init__(self, path: str, local_only: bool = False):
        try:
            from transformers import AutoTokenizer

            # the transformers tokenizer, for chat templates
            self.hf = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        except Exception as exc:  # missing path, no network for a hub id, broken files
            raise KatevalError(f"cannot load tokenizer '{path}': {type(exc).__name__}: {exc}") from exc
        self.name = path

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        # The Rust tokenizer directly: transformers' decode() first type-checks every id in Python, which made it
        # 4x slower, and token accounting decodes many prefixes per sample.
        backend = getattr(self.hf, "backend_tokenizer", None)
        if backend is not None:
            return backend.decode(list(ids), skip_special_tokens=False)
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)
