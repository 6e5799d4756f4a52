"""Answer extraction and comparison for integer-answer math (AIME)."""
from __future__ import annotations

import re
import threading

# Imported with the task, not at the first non-integer answer: that would be in the middle of generation.
from math_verify import parse

INTEGER_RE = re.compile(r"^[+-]?\d+$")
THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$")
MAX_INTEGER_VALUE = 10**15   # beyond any answer key worth computing exactly
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
    """Strip the wrapping an integer answer comes in: $…$, \\text{…}, a degree sign, braces, a thousands
    separator, a trailing full stop."""
    text = candidate.strip().strip("$").strip()
    text = re.sub(r"^\\(?:text|textbf|mathrm|mathbf|bf)\{(.*)\}$", r"\1", text)
    text = re.sub(r"(?:\^\{?\\circ\}?|°|\\degree)$", "", text.strip())
    text = text.replace("{", "").replace("}", "").strip().rstrip(".").strip()
    return text.replace(",", "") if THOUSANDS_RE.match(text) else text


def answer_key(answer: str) -> str:
    """The canonical form of an answer: two answers the grader treats as equal get the same key (`322`, `322.`,
    `0322`, `$322$` and `\\frac{644}{2}` are all `322`). Grading compares keys, and maj@n votes on them."""
    cleaned = clean_integer(answer)
    if INTEGER_RE.match(cleaned):
        return str(int(cleaned))
    value = _integer_value(answer)
    return cleaned if value is None else str(value)


def matches_integer(extracted: str, gold: int) -> bool:
    key = answer_key(extracted)
    return INTEGER_RE.match(key) is not None and 0 <= int(key) <= 999 and int(key) == gold


def _integer_value(expression: str) -> int | None:
    """math-verify's reading of \\frac{50}{2}, 2^{5}, 33.0 and the like, when it is a whole number. Its timeouts
    use signal.alarm, which only works on the main thread; elsewhere they are switched off (the expressions here
    are one short answer)."""
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed = parse(f"${expression}$", parsing_timeout=timeout)
        value = parsed[0] if parsed else None
        if not getattr(value, "is_number", False) or not value.is_real or abs(float(value)) > MAX_INTEGER_VALUE:
            return None
        whole = round(float(value))
        return whole if value.is_integer or (value.is_Float and float(value) == whole) else None
    except Exception:  # noqa: BLE001 - math-verify and sympy raise many types on odd LaTeX; unparsable is no number
        return None
