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


def thought_lengths(prompt_ids: Sequence[int], output_ids: Sequence[int], start_ids: Sequence[int],
                    end_ids: Sequence[int]) -> list[int]:
    """Tokens of each thought the output writes or continues, counted as vLLM's thinking budget counts them: the
    tokens after a start marker up to its end marker (or the end of the output); a thought the prompt opened (a
    prefilled `<think>`) counts its prompt-side tokens too. A budget B allows at most B; a thought that reached B
    was ended by the budget. Thoughts wholly inside the prompt are not listed."""
    sequence = [*prompt_ids, *output_ids]
    start, end, prompt_length = list(start_ids), list(end_ids), len(prompt_ids)
    lengths: list[int] = []
    thought_from: int | None = None   # index of the first token of the open thought
    i = 0
    while i < len(sequence):
        if start and sequence[i:i + len(start)] == start:
            thought_from = i = i + len(start)   # a second start restarts the count, as vLLM's last-start rule does
        elif thought_from is not None and end and sequence[i:i + len(end)] == end:
            if i > prompt_length or (i == prompt_length and output_ids):
                lengths.append(i - thought_from)
            thought_from, i = None, i + len(end)
        else:
            i += 1
    if thought_from is not None and output_ids:
        lengths.append(len(sequence) - thought_from)
    return lengths


def budget_hit(lengths: Sequence[int], budget: int | None) -> bool:
    return budget is not None and any(length >= budget for length in lengths)


def think_budget_hit(prompt_ids: Sequence[int] | None, output_ids: Sequence[int] | None,
                     markers: Sequence[Sequence[int]], budget: int | None) -> bool | None:
    """Whether the thinking budget ended a thought of this sample: None where no budget applies or the ids that
    would tell are unknown (a server that did not return them). `markers`: the start and end markers' ids."""
    if budget is None or prompt_ids is None or output_ids is None or len(markers) != 2:
        return None
    return budget_hit(thought_lengths(prompt_ids, output_ids, *markers), budget)
