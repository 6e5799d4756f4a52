"""Answer extraction and comparison for integer-answer math (AIME)."""
from __future__ import annotations

import re
import threading

# Imported with the task, not at the first non-integer answer: that would be in the middle of generation.
from math_verify import parse, verify

INTEGER_RE = re.compile(r"^[+-]?\d+$")
ANSWER_IS_RE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is|=|:)\s*[:\s]*\$*\s*(?:\\boxed\{)?\s*([^\s$\\}]+)", re.IGNORECASE)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i].strip()
        i += 1
    return None


def extract_answer(answer_text: str) -> str | None:
    """The last \\boxed{} wins, else a final "answer is N" statement, else the last integer."""
    boxed = last_boxed(answer_text)
    if boxed is not None:
        return boxed
    stated = ANSWER_IS_RE.findall(answer_text)
    if stated:
        return stated[-1].rstrip(".,;")
    integers = re.findall(r"\d+", answer_text.replace(",", ""))
    return integers[-1] if integers else None


def clean_integer(candidate: str) -> str:
    text = candidate.strip().strip("$").strip()
    text = re.sub(r"^\\text\{(.*)\}$", r"\1", text)
    text = re.sub(r"\^\{?\\circ\}?$", "", text)
    return text.replace(",", "").replace("{", "").replace("}", "").strip().rstrip(".")


def matches_integer(extracted: str, gold: int) -> bool:
    cleaned = clean_integer(extracted)
    if INTEGER_RE.match(cleaned):
        value = int(cleaned)
        return 0 <= value <= 999 and value == gold
    return _verify_with_math_verify(extracted, gold)


def _verify_with_math_verify(extracted: str, gold: int) -> bool:
    """math-verify for \\frac{50}{2}, 2^{5} and the like. Its timeouts use signal.alarm, which only works on
    the main thread; elsewhere they are switched off (the expressions here are one short answer)."""
    on_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if on_main else None
    try:
        parsed = parse(f"${extracted}$", parsing_timeout=timeout)
        if not parsed:
            return False
        return bool(verify(parse(f"${gold}$", parsing_timeout=timeout), parsed[:1], timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - math-verify raises many types on odd LaTeX; unparsable is wrong
        return False
