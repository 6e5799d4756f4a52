"""Token accounting on the generated ids: judge/think/answer/other counts that add up to completion_tokens.

A token belongs to the segment that holds its first character. Token start offsets are found by decoding
prefixes of the id list, so a tag counts right whether it came out as one special token or as several byte
tokens, and nothing is re-tokenized. Only the few segment boundaries are searched (binary search), so the cost
is O(boundaries · log n) decodes.
"""
from __future__ import annotations

from collections.abc import Sequence

from kateval.types import ParsedOutput, TokenCounts, TokenDecoder


def count_tokens(parsed: ParsedOutput, text: str, token_ids: Sequence[int] | None, decoder: TokenDecoder | None,
                 prompt_tokens: int | None = None, completion_tokens: int | None = None) -> TokenCounts:
    if token_ids is None or decoder is None:
        total = len(token_ids) if token_ids is not None else completion_tokens
        return TokenCounts(prompt_tokens, total, None, None, None, None)
    ids = list(token_ids)
    counts = {"judge": 0, "think": 0, "answer": 0, "other": 0}
    prefix_len_cache: dict[int, int] = {0: 0}

    def tokens_starting_before(char_offset: int) -> int:
        """Number of tokens whose first character lies before char_offset."""
        lo, hi = 0, len(ids)
        while lo < hi:  # first i with len(decode(ids[:i])) >= char_offset
            mid = (lo + hi) // 2
            if mid not in prefix_len_cache:
                # A character split across tokens decodes as U+FFFD until complete: it has not started yet.
                prefix_len_cache[mid] = len(decoder.decode(ids[:mid]).rstrip("\ufffd"))
            if prefix_len_cache[mid] >= char_offset:
                hi = mid
            else:
                lo = mid + 1
        return lo

    consumed = 0
    for segment in parsed.segments:
        upto = tokens_starting_before(segment.end)
        counts[segment.kind] += upto - consumed
        consumed = upto
    # Tokens that start past the returned text (an EOS kept in the ids) are `other`.
    counts["other"] += len(ids) - consumed
    return TokenCounts(prompt_tokens, len(ids), counts["judge"], counts["think"], counts["answer"], counts["other"])
