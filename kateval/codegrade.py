"""Code grading helpers shared by the code tasks: pull the program out of an answer, and turn the executor's
raw outcomes into a grade status. Comparing values is each task's own business (its adapter)."""
from __future__ import annotations

from dataclasses import dataclass

from kateval.types import ExecResult, TestOutcome

_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


@dataclass(frozen=True)
class Extracted:
    code: str | None
    fenced: bool     # the code came from a ``` block (not the whole answer)
    closed: bool     # False when that block's closing fence is missing (the answer may be cut off)


def extract_code(answer: str) -> Extracted:
    """The last fenced Python block (untagged blocks count), or the whole answer when it has no fence."""
    blocks = _fenced_blocks(answer)
    if not blocks:
        stripped = answer.strip("\n")
        return Extracted(stripped if stripped.strip() else None, False, True)
    python = [(body, closed) for tag, body, closed in blocks if tag in _PYTHON_TAGS]
    if not python:
        return Extracted(None, True, True)
    body, closed = python[-1]
    return Extracted(body if body.strip() else None, True, closed)


def _fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language tag, body, closed) of every ``` block; a block left open runs to the end of the text."""
    lines = text.split("\n")
    blocks, opened, tag = [], None, ""
    for index, line in enumerate(lines):
        fence = line.strip()
        if not fence.startswith("```"):
            continue
        if opened is None:
            opened, tag = index, (fence[3:].split() or [""])[0].lower()
        else:
            blocks.append((tag, "\n".join(lines[opened + 1:index]), True))
            opened = None
    if opened is not None:
        blocks.append((tag, "\n".join(lines[opened + 1:]), False))
    return blocks


def cut_at_stops(text: str, stops: list[str] | tuple[str, ...]) -> str:
    """Text up to the first stop sequence (how base-model completions are ended)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def outcome_status(outcome: TestOutcome, assert_means_wrong: bool = False) -> str:
    """Status of one failed test outcome."""
    if outcome.status in ("timeout", "memory"):
        return outcome.status
    if assert_means_wrong and (outcome.error or "").startswith("AssertionError"):
        return "wrong_answer"
    return "runtime_error"


def result_failure(result: ExecResult) -> str | None:
    """The status of a program that did not run its tests to the end, or None when it completed."""
    if result.status == "completed":
        return None
    return {"runtime_error": "runtime_error", "timeout": "timeout", "memory": "memory"}.get(
        result.status, "sandbox_error")


def first_failure(result: ExecResult, expected_tests: int, assert_means_wrong: bool = False) -> tuple[int, str] | None:
    """(index, status) of the first test that did not finish ok; None when all `expected_tests` ran ok."""
    failure = result_failure(result)
    for index, outcome in enumerate(result.tests):
        if outcome.status != "ok":
            return index, outcome_status(outcome, assert_means_wrong)
    if len(result.tests) < expected_tests:
        return len(result.tests), failure or "sandbox_error"
    return None


def short(value: object, limit: int = 300) -> str:
    """A value for grade details, cut in the middle when long. Never raises: an int too long for decimal
    conversion, or a value whose repr fails, is described instead."""
    if type(value) is str:
        text = value
    else:
        try:
            text = repr(value)
        except ValueError:   # an int past the 4,300-digit limit of str(), perhaps inside a container
            text = f"<{type(value).__name__} too large to print>" if type(value) is not int else \
                f"<int of {value.bit_length()} bits>"
        except Exception as exc:  # noqa: BLE001 - e.g. a numpy value that fails to print
            text = f"<{type(value).__name__}: unprintable ({type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2:]
