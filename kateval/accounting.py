"""Token accounting on the generated ids: judge/think/answer/other counts that add up to completion_tokens.

A token belongs to the segment that holds its first character. Token start offsets are found by decoding
prefixes of the id list, so a tag counts right whether it came out as one special token or as several byte
tokens, and nothing is re-tokenized. Only the few segment boundaries are searched (binary search), so the cost
is O(boundaries · log n) decodes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from kateval.types import ParsedOutput, TokenCounts, TokenDecoder


def count_tokens(parsed: ParsedOutput, text: str, token_ids: Sequence[int] | None, decoder: TokenDecoder | None,
                 prompt_tokens: int | None = None, completion_tokens: int | None = None) -> TokenCounts:
    if token_ids is None or decoder is None:
        total = len(token_ids) if token_ids is not None else completion_tokens
        return TokenCounts(prompt_tokens, total, None, None, None, None)
    ids = list(token_ids)
    tokens_starting_before = _token_starts(ids, decoder)
    counts = {"judge": 0, "think": 0, "answer": 0, "other": 0}
    consumed = 0
    for segment in parsed.segments:
        upto = tokens_starting_before(segment.end, consumed)
        counts[segment.kind] += upto - consumed
        consumed = upto
    # Tokens that start past the returned text (an EOS kept in the ids) are `other`.
    counts["other"] += len(ids) - consumed
    return TokenCounts(prompt_tokens, len(ids), counts["judge"], counts["think"], counts["answer"], counts["other"])


def _token_starts(ids: list[int], decoder: TokenDecoder) -> Callable[[int, int], int]:
    """A function (char_offset, lo) -> how many tokens start before char_offset (at least lo: boundaries ascend).
    A token starts where the decoded text of the tokens before it ends; a character split across tokens decodes
    as U+FFFD until its last byte, so it has not started yet."""
    prefix_len_cache: dict[int, int] = {0: 0}

    def search(char_offset: int, lo: int) -> int:
        hi = len(ids)
        while lo < hi:  # first i with prefix_len(i) >= char_offset
            mid = (lo + hi) // 2
            if mid not in prefix_len_cache:
                prefix_len_cache[mid] = len(decoder.decode(ids[:mid]).rstrip("\ufffd"))
            if prefix_len_cache[mid] >= char_offset:
                hi = mid
            else:
                lo = mid + 1
        return lo

    return search
