"""Completion -> parse -> token accounting -> grade -> SampleRecord, for a batch of completions.

Any sample is a record: a failure while grading one sample (an adapter's comparison that raises, a value no
code path expected) becomes that sample's status with a short message, never an exception that ends the run.
Only a user's mistake (KatevalError: an unknown problem, a code task without a sandbox) stops it."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kateval.accounting import count_tokens
from kateval.codegrade import short
from kateval.parse import parse_output
from kateval.tasks import LoadedTask
from kateval.types import Completion, Executor, Grade, KatevalError, ParsedOutput, Problem, SampleRecord


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...


def grade_completions(task: LoadedTask, completions: Sequence[Completion], tokenizer: Tokenizer | None,
                      executor: Executor | None) -> list[SampleRecord]:
    problems = task.by_id
    parsed_items: list[tuple[Problem, ParsedOutput, Completion]] = []
    for completion in completions:
        if completion.problem_id not in problems:
            raise KatevalError(f"task {task.name} has no problem '{completion.problem_id}'")
        parsed_items.append((problems[completion.problem_id], parse_output(completion.text, completion.prefix),
                             completion))
    gradable = [item for item in parsed_items if item[1].answer_started]
    grades = iter(_grade_all(task, gradable, executor) if gradable else [])
    records = []
    for problem, parsed, completion in parsed_items:
        grade = next(grades) if parsed.answer_started else _not_started(completion)
        records.append(_record(problem, parsed, completion, grade, tokenizer))
    return records


def _grade_all(task: LoadedTask, items: list[tuple[Problem, ParsedOutput, Completion]],
               executor: Executor | None) -> list[Grade]:
    """The batch's grades; when grading the batch raises, each sample is graded alone, so that only the
    samples that make grading fail get a failed grade (sandbox_error, with the reason)."""
    try:
        return task.adapter.grade_batch(items, executor)
    except KatevalError:
        raise
    except Exception as exc:  # noqa: BLE001 - find the sample(s) at fault below
        if len(items) == 1:   # the sample at fault is known: grading it again would only fail again
            return [_grading_failed(exc)]
        return [_failed_grade(task, item, executor) for item in items]


def _failed_grade(task: LoadedTask, item: tuple[Problem, ParsedOutput, Completion], executor: Executor | None) -> Grade:
    try:
        return task.adapter.grade_batch([item], executor)[0]
    except KatevalError:
        raise
    except Exception as exc:  # noqa: BLE001 - this sample cannot be graded: that is its record
        return _grading_failed(exc)


def _grading_failed(exc: Exception) -> Grade:
    return Grade(False, "sandbox_error", None, {"error": f"grading failed: {type(exc).__name__}: {short(exc)}"})


def _not_started(completion: Completion) -> Grade:
    """Cut off (or stopped) before the answer began: wrong, whatever the thought contains."""
    return Grade(False, "no_answer" if completion.finish_reason == "stop" else "truncated", None)


def _record(problem: Problem, parsed: ParsedOutput, completion: Completion, grade: Grade,
            tokenizer: Tokenizer | None) -> SampleRecord:
    token_ids = completion.token_ids
    if token_ids is None and tokenizer is not None:
        try:
            token_ids = tuple(tokenizer.encode(completion.text))
        except Exception:  # noqa: BLE001 - text the tokenizer cannot take (lone surrogates): counts unknown
            token_ids = None
    counts = count_tokens(parsed, completion.text, token_ids, tokenizer, completion.prompt_tokens,
                          completion.completion_tokens)
    truncated = completion.finish_reason == "length" or (completion.finish_reason is None and grade.status == "truncated")
    return SampleRecord(
        task=completion.task, problem_id=completion.problem_id, sample_index=completion.sample_index,
        mode=parsed.mode, well_formed=parsed.well_formed, finish_reason=completion.finish_reason,
        truncated=truncated, prompt_tokens=counts.prompt_tokens, completion_tokens=counts.completion_tokens,
        judge_tokens=counts.judge_tokens, think_tokens=counts.think_tokens, answer_tokens=counts.answer_tokens,
        other_tokens=counts.other_tokens, extracted_answer=grade.extracted_answer, correct=grade.correct,
        status=grade.status, completion=completion.text, difficulty=problem.difficulty, prefix=completion.prefix,
        stop_reason=completion.stop_reason, cached_prompt_tokens=completion.cached_prompt_tokens,
        grade_details=grade.details, thinking_budget=completion.thinking_budget,
        think_budget_hit=completion.think_budget_hit if completion.thinking_budget is not None else False,
        segments=[[segment.kind, segment.start, segment.end] for segment in parsed.segments],
    )
