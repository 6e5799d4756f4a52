"""AutoThink output parser: mode decision, well-formedness and judge/think/answer/other segments.

Handles KAT-V1 (`<judge>…</judge><think_on><think>…</think><answer>…</answer>` or `<think_off><answer>…`),
Qwen3 (`<think>…</think>` then the answer), DeepSeek-R1 (prompt prefilled with `<think>`, so the output has a
lone `</think>`), and plain outputs. The text the prompt already put in the assistant turn (`prefix`) is parsed
together with the completion so that a prefilled tag counts, then offsets are mapped back to the completion.
"""
from __future__ import annotations

import re

from kateval.types import Mode, ParsedOutput, Segment

TAG_RE = re.compile(r"</?judge>|<think_on>|<think_off>|</?think>|</?answer>")
_OPENERS = {"<judge>": "judge", "<think>": "think", "<answer>": "answer"}
_CLOSERS = {"judge": "</judge>", "think": "</think>", "answer": "</answer>"}
_DECISIONS = {"<think_on>": "on", "<think_off>": "off"}


def parse_output(text: str, prefix: str = "") -> ParsedOutput:
    full = prefix + text
    spans, decisions, open_block, last_tag_end = _scan(full)
    answer_started = any(kind == "answer" for kind, _, _ in spans) or open_block == "answer"
    if open_block is not None:
        start = spans.pop()[1] if spans and spans[-1][0] == "__open__" else 0
        spans.append((open_block, start, len(full)))
    elif not answer_started and _implicit_answer(spans, decisions, full, last_tag_end):
        # No <answer> tag: after </think>, after <think_off>, or with no tags at all, the rest is the answer.
        spans.append(("answer", last_tag_end, len(full)))
        answer_started = True
    spans = [s for s in spans if s[0] != "__open__"]
    mode = _mode(decisions, spans, full)
    well_formed = _well_formed(spans, decisions, open_block, full)
    segments = _segments_of_completion(spans, len(prefix), len(full))
    return ParsedOutput(
        mode=mode, well_formed=well_formed, answer_started=answer_started, segments=segments,
        judge=_inner(full, spans, "judge"), think=_inner(full, spans, "think"), answer=_inner(full, spans, "answer"),
    )


def _scan(full: str) -> tuple[list[tuple[str, int, int]], list[str], str | None, int]:
    """Walk the tags once. Returns closed spans, decisions, the block left open at the end, and the last tag end."""
    tags = list(TAG_RE.finditer(full))
    spans: list[tuple[str, int, int]] = []
    decisions: list[str] = []
    # The output may start inside a block whose opening tag was in the prompt.
    first = tags[0].group() if tags else None
    open_block = {"</judge>": "judge", "</think>": "think"}.get(first or "")
    if open_block:
        spans.append(("__open__", 0, 0))
    last_tag_end = 0
    for match in tags:
        tag = match.group()
        if open_block is not None:
            if tag == _CLOSERS[open_block]:
                start = spans.pop()[1]
                spans.append((open_block, start, match.end()))
                open_block, last_tag_end = None, match.end()
                continue
            # Inside a thought or an answer every tag is just text; a judge left open is closed by a decision.
            if open_block != "judge" or tag in ("<judge>", "</judge>"):
                continue
            start = spans.pop()[1]
            spans.append(("judge", start, match.start()))
            open_block = None
        if tag in _OPENERS:
            if tag == "<judge>" and any(kind == "judge" for kind, _, _ in spans):
                continue
            open_block = _OPENERS[tag]
            spans.append(("__open__", match.start(), match.start()))
        elif tag in _DECISIONS:
            decisions.append(_DECISIONS[tag])
            spans.append(("judge", match.start(), match.end()))
        last_tag_end = match.end()
    return spans, decisions, open_block, last_tag_end


def _implicit_answer(spans, decisions: list[str], full: str, last_tag_end: int) -> bool:
    if decisions and decisions[-1] == "on" and not any(kind == "think" for kind, _, _ in spans):
        return False  # decided to think but the thought never began
    last_tag = TAG_RE.findall(full[:last_tag_end])[-1:] or [None]
    return bool(full[last_tag_end:].strip()) or last_tag[0] in ("</think>", "<think_off>")


def _mode(decisions: list[str], spans: list[tuple[str, int, int]], full: str) -> Mode:
    if decisions:
        return decisions[-1]  # type: ignore[return-value]
    think = [(s, e) for kind, s, e in spans if kind == "think"]
    if not think:
        return "none"
    return "on" if _strip_tags(full[think[0][0]:think[0][1]]).strip() else "off"


def _well_formed(spans, decisions, open_block, full) -> bool:
    kinds = [kind for kind, _, _ in spans]
    answers = [(s, e) for kind, s, e in spans if kind == "answer"]
    if open_block is not None or len(answers) != 1:
        return False
    is_kat = "judge" in kinds or bool(decisions)
    if is_kat:
        judges = [(s, e) for kind, s, e in spans if kind == "judge" and not full[s:e] in ("<think_on>", "<think_off>")]
        if len(judges) != 1 or len(decisions) != 1:
            return False
        thinks = kinds.count("think")
        return (decisions[0] == "on" and thinks == 1) or (decisions[0] == "off" and thinks == 0)
    return kinds.count("think") <= 1


def _segments_of_completion(spans, offset: int, full_len: int) -> tuple[Segment, ...]:
    """Clip spans to the completion, label the gaps `other`, and merge neighbours of one kind."""
    pieces: list[Segment] = []
    cursor = offset
    for kind, start, end in sorted(spans, key=lambda s: s[1]):
        start, end = max(start, offset), min(end, full_len)
        if end <= start or start < cursor:
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
    return "".join(_strip_tags(full[s:e]) for k, s, e in spans if k == kind).strip()
