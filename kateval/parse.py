"""AutoThink output parser: mode decision, well-formedness and judge/think/answer/other segments.

The text the prompt already put in the assistant turn (`prefix`) is parsed together with the completion, so that a
prefilled tag counts; offsets are then mapped back to the completion. Two grammars (README, "Output grammars"):

    KAT (the text has <judge>, </judge>, <think_on> or <think_off>):
        [<judge>] JUDGE </judge> ( <think_on> <think> THOUGHT </think> | <think_off> ) <answer> ANSWER </answer>
        The answer is the text inside <answer>; text outside every block is recorded as `other`, never graded.
    thinking models and plain text (Qwen3, DeepSeek-R1, anything else):
        [ [<think>] THOUGHT </think> ] ANSWER          (or <answer> ANSWER </answer> in place of the bare ANSWER)
        The opener may be in the prompt (R1 prefills <think>), so a lone </think> closes a thought begun at 0.

Between blocks only whitespace; the text inside a block holds no tag; after the end only whitespace or an
end-of-turn marker (<|im_end|>, </s>...); the answer is not empty. `well_formed` is exactly "the text matches its
grammar". Reading is tolerant beyond that: a block whose opener was forgotten began where the previous block
ended (`<think_on>` + thought + `</think>` is a thought), a judge left open ends at the next structural tag, a
block still open at the end runs to the end, and a half-written tag at the end (`<ans`) belongs to no block.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from kateval.tokenizers import AUTOTHINK_TAGS as TAGS
from kateval.types import Mode, ParsedOutput, Segment

TAG_RE = re.compile("|".join(re.escape(tag) for tag in TAGS))
KAT_TAGS = frozenset({"<judge>", "</judge>", "<think_on>", "<think_off>"})
_OPENERS = {"<judge>": "judge", "<think>": "think", "<answer>": "answer"}
_CLOSERS = {"</judge>": "judge", "</think>": "think", "</answer>": "answer"}
_DECISIONS = {"<think_on>": "on", "<think_off>": "off"}
END_OF_TURN_RE = re.compile(r"<\|[^|<>\s]{1,40}\|>|</s>|<｜[^｜<>]{1,40}｜>")

# Each tag as one letter, each gap between tags as w (whitespace), x (text) or nothing; a grammar is a regex on that.
_SYMBOL = dict(zip(TAGS, "JGNFTUAB"))
KAT_GRAMMAR = re.compile(r"w?(?:J(?:w?J)?)?[wx]?Gw?(?:Nw?T[wx]?U|F)w?AxBw?")
THINKING_GRAMMAR = re.compile(r"(?:(?:w?T)?[wx]?U)?(?:x|w?AxBw?)")


@dataclass
class _Reading:
    """Blocks found so far: (kind, start, end) with kind judge/think/answer/decision, and how they ended."""
    blocks: list[tuple[str, int, int]]
    decisions: list[str]
    open_kind: str | None = None    # block still open at the end of the text
    answer_closed: bool = False


def parse_output(text: str, prefix: str = "") -> ParsedOutput:
    full = prefix + text
    body_end = len(full) - _half_tag_length(full)
    tags = [(m.group(), m.start(), m.end()) for m in TAG_RE.finditer(full, 0, body_end)]
    kat = any(tag in KAT_TAGS for tag, _, _ in tags)
    reading = _read(tags, body_end)
    answer_spans = [(s, e) for kind, s, e in reading.blocks if kind == "answer"]
    think_ends = [e for kind, _, e in reading.blocks if kind == "think"]
    answer_started = bool(answer_spans)
    answer_closed = reading.answer_closed
    if not kat and not answer_spans and reading.open_kind not in ("think", "judge"):
        # A thinking or plain model answers with whatever follows its last thought (or with the whole text).
        start = max(think_ends, default=0)
        answer_started = bool(think_ends) or bool(full[start:body_end].strip())
        if answer_started:
            reading.blocks.append(("answer", start, body_end))
    mode = _mode(reading, full, kat)
    grammar = KAT_GRAMMAR if kat else THINKING_GRAMMAR
    well_formed = body_end == len(full) and grammar.fullmatch(_skeleton(full, tags)) is not None
    spans = [("judge" if kind == "decision" else kind, s, e) for kind, s, e in reading.blocks]
    return ParsedOutput(
        mode=mode, well_formed=well_formed, answer_started=answer_started,
        segments=_segments_of_completion(spans, len(prefix), len(full)),
        judge=_inner(full, spans, "judge"), think=_inner(full, spans, "think"), answer=_inner(full, spans, "answer"),
        answer_closed=answer_closed,
    )


def _read(tags: list[tuple[str, int, int]], body_end: int) -> _Reading:
    """Walk the tags once, tolerant of forgotten and unclosed tags (see the module docstring)."""
    reading = _Reading(blocks=[], decisions=[])
    # The output may start inside a block whose opener was in the prompt (R1's <think>, KAT's <judge>).
    first = tags[0][0] if tags else None
    inside = _CLOSERS.get(first) if first in ("</judge>", "</think>") else None
    opened, last_end = 0, 0
    index = 0
    while index < len(tags):
        tag, start, end = tags[index]
        index += 1
        if inside in ("think", "answer"):   # inside a thought or an answer every other tag is just text
            if _CLOSERS.get(tag) == inside:
                reading.blocks.append((inside, opened, end))
                reading.answer_closed = reading.answer_closed or inside == "answer"
                inside, last_end = None, end
            continue
        if inside == "judge":
            if tag in ("<judge>", "</judge>"):
                if tag == "</judge>":
                    reading.blocks.append(("judge", opened, end))
                    inside, last_end = None, end
                continue
            reading.blocks.append(("judge", opened, start))   # a judge left open ends at the next structural tag
            inside, last_end = None, start
        if tag in _OPENERS:
            inside, opened = _OPENERS[tag], start
        elif tag in _DECISIONS:
            reading.decisions.append(_DECISIONS[tag])
            reading.blocks.append(("decision", start, end))
            last_end = end
            if tag == "<think_on>" and (index == len(tags) or tags[index][0] != "<think>"):
                # decided to think and forgot <think>: the thought starts here
                inside, opened, index = _forgotten_think(tags, index, end, reading)
                last_end = reading.blocks[-1][2] if inside is None else last_end
        else:   # a closer with no opener: its block began where the previous one ended
            kind = _CLOSERS[tag]
            reading.blocks.append((kind, last_end, end))
            reading.answer_closed = reading.answer_closed or kind == "answer"
            last_end = end
    if inside is not None:
        reading.blocks.append((inside, opened, body_end))
        reading.open_kind = inside
    return reading


def _forgotten_think(tags: list[tuple[str, int, int]], index: int, start: int,
                     reading: _Reading) -> tuple[str | None, int, int]:
    """After `<think_on>` without `<think>` the thought runs to the next `</think>` (tags before it are its
    text), else up to the next `<answer>`, else to the end. Returns the block left open, where it opened, and the
    index of the tag to read next."""
    closers = [i for i in range(index, len(tags)) if tags[i][0] == "</think>"]
    if closers:
        return "think", start, closers[0]
    answers = [i for i in range(index, len(tags)) if tags[i][0] == "<answer>"]
    if answers:
        reading.blocks.append(("think", start, tags[answers[0]][1]))
        return None, start, answers[0]
    return "think", start, len(tags)


def _half_tag_length(full: str) -> int:
    """Length of a tag cut off half-written at the very end (`<ans`, `</thi`), which is no block's text."""
    start = full.rfind("<")
    tail = full[start:] if start >= 0 else ""
    return len(tail) if tail and any(tag.startswith(tail) and tag != tail for tag in TAGS) else 0


def _skeleton(full: str, tags: list[tuple[str, int, int]]) -> str:
    out, cursor = [], 0
    for index, (tag, start, end) in enumerate(tags + [("", len(full), len(full))]):
        gap = full[cursor:start]
        if index == len(tags):
            gap = END_OF_TURN_RE.sub("", gap)
        out.append("" if not gap else "w" if not gap.strip() else "x")
        out.append(_SYMBOL.get(tag, ""))
        cursor = end
    return "".join(out)


def _mode(reading: _Reading, full: str, kat: bool) -> Mode:
    if kat and reading.decisions:
        return reading.decisions[-1]  # type: ignore[return-value]
    thoughts = [full[s:e] for kind, s, e in reading.blocks if kind == "think"]
    if not thoughts:
        return "none"
    return "on" if any(_strip_tags(t).strip() for t in thoughts) else "off"


def _segments_of_completion(spans, offset: int, full_len: int) -> tuple[Segment, ...]:
    """Clip spans to the completion, label the gaps `other`, and merge neighbours of one kind."""
    pieces: list[Segment] = []
    cursor = offset
    for kind, start, end in sorted(spans, key=lambda s: s[1]):
        start, end = max(start, offset, cursor), min(end, full_len)
        if end <= start:
            continue
        if start > cursor:
            pieces.append(Segment("other", cursor - offset, start - offset))
        pieces.append(Segment(kind, start - offset, end - offset))
        cursor = end
    if cursor < full_len:
        pieces.append(Segment("other", cursor - offset, full_len - offset))
    merged: list[Segment] = []
    for piece in pieces:
        if merged and merged[-1].kind == piece.kind and merged[-1].end == piece.start:
            merged[-1] = Segment(piece.kind, merged[-1].start, piece.end)
        else:
            merged.append(piece)
    return tuple(merged)


def _strip_tags(text: str) -> str:
    return TAG_RE.sub("", text)


def _inner(full: str, spans, kind: str) -> str:
    return "\n".join(_strip_tags(full[s:e]).strip() for k, s, e in spans if k == kind).strip()
