"""Reading the final answer of a math solution, and comparing answers (AIME: integers 0-999). Pure functions.

The rules (README, "How a math answer is read"):
- Statements of the answer are closed \\boxed{…}/\\fbox{…} and answer phrases ("Answer:", "the answer is",
  "final answer", headings too), each with the value it introduces: markdown emphasis, $…$, \\text{} wrappers and
  filler words (is, the, therefore, exactly...) are skipped, `m+n = 25+8 = 33` gives 33, and a phrase whose
  value is negated ("is not 33") or is not a number-like value states nothing.
- The final statement wins (the text may correct itself). Two different answers offered as alternatives in it
  (`\\boxed{34} or \\boxed{33}`, `either 34 or 33`, `\\boxed{34, 33}`) are a hedge: no answer.
- A statement still unfinished at the end (an unclosed \\boxed{, "the answer is" with nothing after it, or — when
  the text was cut — a number that could have gone on) is no answer: cut text has no final answer yet.
- With no statement, a finished text falls back to its last standalone number (not one inside \\tfrac13 or x2);
  cut text falls back to nothing.
Answers compare by `answer_key`, which maj@n also votes on.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

# Imported with the task, not at the first non-integer answer: that would be in the middle of generation.
from math_verify import parse

INTEGER_RE = re.compile(r"^[+-]?\d+$")
THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$")
MAX_INTEGER_VALUE = 10**15   # beyond any answer key worth computing exactly
MATH_VERIFY_TAIL_CHARS = 4000   # the end of a long answer is where math-verify's fallback looks

BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
PHRASE_RE = re.compile(r"\b(?:final\s+answer|answer)\b", re.IGNORECASE)
NUMBER = r"[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*(?:\^\s*\{?\\circ\}?|°|\\degree))?"
NUMBER_RE = re.compile(NUMBER + r"(?:/\d+(?![\d.]))?")   # a stated value may be a fraction: 33/34
LATEX_NUMBER_RE = re.compile(r"\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}|\\sqrt\s*\{[^{}]*\}")
STANDALONE_NUMBER_RE = re.compile(r"(?<![\w\\^_.{])[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?!\w|\^(?!\{?\\circ))")
ARITHMETIC_TO_EQUALS_RE = re.compile(r"(?:[ \t\d+\-*/^×·()]|\\cdot|\\times)*=[ \t]*")
# What may stand between an answer phrase and its value.
SKIPPED_RE = re.compile(r"(?:[\s*_#`>~:=,}\-—–]|\$\$?|\\\(|\\\[|\\(?:text|textbf|mathbf|mathrm|bf)\s*\{)+")
WORD_RE = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
FILLER_WORDS = frozenset({
    "is", "was", "be", "will", "would", "should", "must", "shall", "equals", "equal", "to", "as", "are", "the", "a",
    "an", "our", "my", "its", "this", "that", "it", "here", "therefore", "thus", "hence", "so", "then", "simply",
    "just", "exactly", "precisely", "indeed", "clearly", "obviously", "final", "correct", "required", "desired",
    "sought", "number", "value", "integer", "result", "given", "by", "of", "we", "get", "obtain", "find", "have",
    "which", "gives", "yields", "either", "for", "question", "problem",
})
NEGATIONS = frozenset({"not", "isn't", "never", "no", "cannot", "can't", "wasn't"})
MATH_CLOSERS = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
# Only these words (and punctuation) between two different boxed answers make them alternatives.
HEDGE_WORDS = frozenset({"or", "either", "and", "maybe", "possibly", "perhaps", "alternatively", "otherwise",
                         "also", "could", "might", "be", "it", "is", "else", "equally", "likely"})
HEDGE_MARKERS = frozenset({"or", "either", "and", "maybe", "possibly", "perhaps", "alternatively", "otherwise"})
ALTERNATIVE_RE = re.compile(r"[\s,;(]*(?:or|/|and/or)\s+(?:(?:possibly|maybe|perhaps|even)\s+)?"
                            r"[\s*_$]*(?:\\boxed\s*\{)?\s*(" + NUMBER + ")", re.IGNORECASE)
INSIDE_BOX_SPLIT_RE = re.compile(r"\\text\s*\{\s*(?:or|and)\s*\}|\b(?:or|and)\b|;|\\quad|,(?!\d{3}(?!\d))")
# After a value, something that ends it: punctuation then a space, or a character that cannot continue it.
VALUE_ENDED_RE = re.compile(r"[ \t]*(?:\n|[.,;:!?)](?:\s|$)|[.,;:!?)]?[^\s\d.,;:!?+\-/^_=×·])")


@dataclass(frozen=True)
class Statement:
    value: str | None      # the answer the statement gives; None when it gives none (yet)
    start: int
    end: int
    finished: bool         # closed box, or a value that nothing after it could have extended
    boxed: bool
    alternatives: tuple[str, ...] = ()   # other values offered beside it ("or 34")


@dataclass(frozen=True)
class AnswerReading:
    answer: str | None          # the final answer as written (None: there is none)
    source: str                 # "boxed" | "stated" | "last_number" | "none"
    problem: str | None = None  # why there is no answer although something was said: "hedge" | "unfinished"
    alternatives: tuple[str, ...] = ()


def read_answer(text: str, cut: bool = False) -> AnswerReading:
    """The final answer of a solution's answer text; `cut`: the text stopped at the length limit."""
    statements = sorted(_boxes(text) + _phrases(text, cut), key=lambda s: (s.end, s.boxed))
    if statements:
        final = statements[-1]
        if final.value is None or not final.finished:
            return AnswerReading(None, "boxed" if final.boxed else "stated", "unfinished")
        offered = _alternatives(final, statements, text)
        if len({answer_key(v) for v in offered}) > 1:
            return AnswerReading(None, "boxed" if final.boxed else "stated", "hedge", offered)
        return AnswerReading(final.value, "boxed" if final.boxed else "stated")
    if cut:
        return AnswerReading(None, "none", "unfinished" if text.strip() else None)
    numbers = STANDALONE_NUMBER_RE.findall(text)
    return AnswerReading(numbers[-1], "last_number") if numbers else AnswerReading(None, "none")


def extract_answer(answer_text: str, cut: bool = False) -> str | None:
    return read_answer(answer_text, cut).answer


def _boxes(text: str) -> list[Statement]:
    """Every outermost \\boxed{…}; one whose brace never closes is unfinished and runs to the end."""
    out: list[Statement] = []
    for match in BOX_RE.finditer(text):
        if out and match.start() < out[-1].end:
            continue   # a box inside a box
        close = _closing_brace(text, match.end())
        if close is None:
            out.append(Statement(text[match.end():].strip() or None, match.start(), len(text), False, True))
            break
        content = _unbox(text[match.end():close].strip())
        out.append(Statement(content or None, match.start(), close + 1, bool(content), True,
                             _inside_alternatives(content)))
    return out


def _closing_brace(text: str, start: int) -> int | None:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _unbox(content: str) -> str:
    inner = BOX_RE.match(content)
    if inner and _closing_brace(content, inner.end()) == len(content) - 1:
        return _unbox(content[inner.end():-1].strip())
    return content


def _inside_alternatives(content: str) -> tuple[str, ...]:
    """`34 \\text{ or } 33`, `34, 33`: several values in one box."""
    parts = [p.strip(" $") for p in INSIDE_BOX_SPLIT_RE.split(content)]
    parts = [p for p in parts if p]
    return tuple(parts) if len(parts) > 1 else ()


def _phrases(text: str, cut: bool) -> list[Statement]:
    out = []
    for match in PHRASE_RE.finditer(text):
        statement = _phrase_value(text, match.start(), match.end(), cut)
        if statement is not None:
            out.append(statement)
    return out


def _phrase_value(text: str, phrase_start: int, cursor: int, cut: bool) -> Statement | None:
    """What an answer phrase states, read past markup and filler words; None when it states nothing."""
    math_closer, points_ahead = None, False
    while True:
        skipped = SKIPPED_RE.match(text, cursor)
        if skipped:
            opener = next((d for d in MATH_CLOSERS if d in skipped.group()), None)
            math_closer = MATH_CLOSERS[opener] if opener else math_closer
            points_ahead = points_ahead or bool(opener) or any(mark in skipped.group() for mark in ":=")
            cursor = skipped.end()
        if cursor >= len(text):   # the phrase is the last thing written
            if not (points_ahead or cut):   # `\boxed{25} is the answer`, a closing `**Final Answer**` heading
                return None
            return Statement(None, phrase_start, len(text), False, False)
        if BOX_RE.match(text, cursor):
            return None   # the box itself is the statement (read with the boxes)
        if math_closer:
            return _math_value(text, phrase_start, cursor, math_closer, cut)
        word = WORD_RE.match(text, cursor)
        if word is None:
            break
        if word.group().lower() in NEGATIONS or word.group().lower() not in FILLER_WORDS:
            return None
        cursor, points_ahead = word.end(), True
    value = NUMBER_RE.match(text, cursor) or LATEX_NUMBER_RE.match(text, cursor)
    if value is None:
        return None
    answer, end = _result_of_arithmetic(text, value)
    finished = not cut or VALUE_ENDED_RE.match(text, end) is not None
    alternative = ALTERNATIVE_RE.match(text, end)
    return Statement(answer, phrase_start, end, finished, False, (answer, alternative.group(1)) if alternative else ())


def _math_value(text: str, phrase_start: int, cursor: int, closer: str, cut: bool) -> Statement | None:
    """The value a phrase states in $…$ (or \\(…\\)): the right side of its last `=` (`m+n=33` states 33)."""
    close = text.find(closer, cursor)
    content = text[cursor:] if close < 0 else text[cursor:close]
    value = content.rsplit("=", 1)[-1].strip().rstrip(".,;")
    while value.endswith("}") and value.count("}") > value.count("{"):   # the end of a wrapper: \\mathbf{76}
        value = value[:-1].rstrip()
    end = len(text) if close < 0 else close + len(closer)
    if not value:
        return Statement(None, phrase_start, end, False, False) if close < 0 else None
    alternative = ALTERNATIVE_RE.match(text, end)
    return Statement(value, phrase_start, end, close >= 0 or not cut, False,
                     (value, alternative.group(1)) if alternative else _inside_alternatives(value))


def _result_of_arithmetic(text: str, value: re.Match[str]) -> tuple[str, int]:
    """`25 + 8 = 33` states 33: past arithmetic and `=` on the same line to the last result; else the value."""
    answer, end = value.group(), value.end()
    while (step := ARITHMETIC_TO_EQUALS_RE.match(text, end)) and step.group().rstrip(" \t").endswith("="):
        following = NUMBER_RE.match(text, step.end())
        if following is None:
            break
        answer, end = following.group(), following.end()
    return answer.strip(), end


def _alternatives(final: Statement, statements: list[Statement], text: str) -> tuple[str, ...]:
    """The values offered together with the final statement: inside it, or in boxes joined to it by `or`."""
    offered = list(final.alternatives) or [final.value or ""]
    if not final.boxed:
        return tuple(offered)
    boxes = [s for s in statements if s.boxed and s.finished and s.end <= final.start]
    later = final
    for box in reversed(boxes):
        if not _joined_as_alternatives(text[box.end:later.start]):
            break
        offered += list(box.alternatives) or [box.value or ""]
        later = box
    return tuple(offered)


def _joined_as_alternatives(between: str) -> bool:
    words = [w.lower() for w in WORD_RE.findall(re.sub(r"\\[a-zA-Z]+", " ", between))]
    if len(between) > 80 or any(w not in HEDGE_WORDS for w in words):
        return False
    return not words or any(w in HEDGE_MARKERS for w in words) or bool(re.search(r"[,/]", between))


# ------------------------------------------------------------------ comparing answers
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
    `0322`, `$322$`, `n=322` and `\\frac{644}{2}` are all `322`). Grading compares keys, and maj@n votes on
    them."""
    answer = answer.rsplit("=", 1)[-1]   # `m+n=33` answers 33
    cleaned = clean_integer(answer)
    if INTEGER_RE.match(cleaned):
        return _integer_key(cleaned)
    value = _integer_value(answer)
    return cleaned if value is None else str(value)


def _integer_key(digits: str) -> str:
    """str(int(digits)) done on the text: int() refuses more than 4,300 digits, which a model may well write."""
    sign, magnitude = ("-", digits[1:]) if digits[0] == "-" else ("", digits.lstrip("+"))
    magnitude = magnitude.lstrip("0") or "0"
    return magnitude if magnitude == "0" else sign + magnitude


def matches_integer(extracted: str, gold: int) -> bool:
    key = answer_key(extracted)
    return INTEGER_RE.match(key) is not None and len(key) <= 3 and int(key) == gold   # an AIME answer: 0-999


def is_integer_answer(answer: str) -> bool:
    return INTEGER_RE.match(answer_key(answer)) is not None


def math_verify_answer(text: str) -> str | None:
    """math-verify's own reading of a whole answer text (its extraction, not kateval's), as an integer key."""
    value = _math_verify_first(text[-MATH_VERIFY_TAIL_CHARS:])
    return None if value is None else _as_integer(value)


def _integer_value(expression: str) -> str | None:
    """math-verify's reading of \\frac{50}{2}, 2^{5}, 33.0 and the like, when it is a whole number."""
    value = _math_verify_first(f"${expression}$")
    return None if value is None else _as_integer(value)


def _math_verify_first(text: str):
    """The first thing math-verify parses from `text`, or None. Its timeouts use signal.alarm, which only works
    on the main thread; elsewhere they are switched off (the inputs here are short)."""
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed = parse(text, parsing_timeout=timeout)
    except Exception:  # noqa: BLE001 - math-verify raises many types on odd LaTeX; unparsable is no number
        return None
    return parsed[0] if parsed else None


def _as_integer(value) -> str | None:
    value = getattr(value, "rhs", value)   # an equation (N = 25) answers with its right side
    try:
        if not getattr(value, "is_number", False) or not value.is_real or abs(float(value)) > MAX_INTEGER_VALUE:
            return None
        whole = round(float(value))
        return str(whole) if value.is_integer or (value.is_Float and float(value) == whole) else None
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None
