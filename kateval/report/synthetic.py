"""Synthetic run directories in the store's format, for report tests and the report-scale benchmark: records
are written straight to samples.jsonl, so any mix of correctness, modes, lengths and truncation is possible."""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kateval.parse import parse_output
from kateval.store import RUN_META, SAMPLES


def sample_record(task: str, problem_id: str, sample_index: int = 0, **fields: Any) -> dict[str, Any]:
    """A full sample record; `fields` override the defaults (a correct, well-formed think-off sample)."""
    record = {
        "task": task, "problem_id": problem_id, "sample_index": sample_index, "mode": "off", "well_formed": True,
        "finish_reason": "stop", "truncated": False, "prompt_tokens": 100, "completion_tokens": 100,
        "judge_tokens": 10, "think_tokens": 0, "answer_tokens": 90, "other_tokens": 0, "extracted_answer": "1",
        "correct": True, "status": "correct", "completion": "", "difficulty": None, "prefix": "",
        "stop_reason": None, "cached_prompt_tokens": None, "grade_details": {}, "thinking_budget": None,
        "think_budget_hit": False, "segments": [],
    }
    unknown = set(fields) - set(record)
    if unknown:
        raise TypeError(f"not record fields: {sorted(unknown)}")
    return {**record, **fields}


def run_meta(tasks: Iterable[str], model: str = "synthetic", sampling: dict[str, Any] | None = None,
             params: dict[str, dict[str, Any]] | None = None, mode: str = "auto") -> dict[str, Any]:
    sampling = {"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": 0, **(sampling or {})}
    params = params or {}
    return {"identity": {"tasks": list(tasks), "model": model, "backend": "synthetic", "mode": mode,
                         "sampling": sampling},
            "backend": {"backend": "synthetic", "model": model}, "sampling": sampling,
            "tasks": {name: {"version": "1", "params": params.get(name, {})} for name in tasks}}


def write_run(run_dir: Path, records: Iterable[dict[str, Any]], meta: dict[str, Any]) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    with (run_dir / SAMPLES).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return run_dir


_SYLLABLES = ("ka", "te", "ri", "so", "mu", "len", "th", "an", "or", "is", "qu", "ex", "al", "ber", "ti", "on")


def kat_text(rng: random.Random, chars: int, thinks: bool, answer: str | None) -> str:
    """A KAT-style completion (the prompt prefilled `<judge>`) of about `chars` characters of word-like text, which
    compresses about as well as model output does (3-4x with gzip); a filler of one letter would compress 100x
    and flatter every size measured on it."""
    words: list[str] = []
    while sum(map(len, words)) + len(words) < chars:
        words.append("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    cut = len(words) // 8
    judge, body = " ".join(words[:cut]), " ".join(words[cut:])
    boxed = f" \\boxed{{{answer}}}" if answer is not None else ""
    if thinks:
        half = len(body) // 2
        return f"{judge}\n</judge>\n<think_on><think>\n{body[:half]}\n</think>\n<answer>\n{body[half:]}{boxed}\n</answer>"
    return f"{judge}\n</judge>\n<think_off><answer>\n{body}{boxed}\n</answer>"


def random_records(samples: int, n: int = 8, tasks: tuple[str, ...] = ("aime24", "lcb"), seed: int = 0,
                   completion_chars: int = 1500, text: str = "filler") -> Iterable[dict[str, Any]]:
    """`samples` records of n samples per problem with realistic spread: harder problems think more, run
    longer and fail more; long samples sometimes hit the limit. Completions are `completion_chars` long: one
    repeated letter (text="filler") or KAT-style word-like text (text="words", see kat_text)."""
    rng = random.Random(seed)
    filler = "x" * completion_chars
    levels = {"aime24": [str(i) for i in range(1, 16)], "lcb": ["easy", "medium", "hard"]}
    for start in range(0, samples, n):
        task = tasks[(start // n) % len(tasks)]
        level_index = rng.randrange(len(levels.get(task, ["1"])))
        hardness = (level_index + 1) / len(levels.get(task, ["1"]))
        for index in range(min(n, samples - start)):
            thinks = rng.random() < hardness
            tokens = int(rng.lognormvariate(8 if thinks else 6, 0.6))
            truncated = tokens > 16384
            correct = not truncated and rng.random() > hardness * 0.8
            answer = None if truncated else str(rng.randrange(3))
            completion = filler if text == "filler" else kat_text(rng, completion_chars, thinks, answer)
            segments = [] if text == "filler" else [  # what grading stores for such an output
                [s.kind, s.start, s.end] for s in parse_output(completion, "<judge>\n").segments]
            yield sample_record(
                task, f"p{start // n}", index, mode="on" if thinks else "off", truncated=truncated,
                finish_reason="length" if truncated else "stop", completion_tokens=min(tokens, 16384),
                think_tokens=tokens // 2 if thinks else 0, answer_tokens=tokens // 4, correct=correct,
                status="correct" if correct else ("truncated" if truncated else "wrong_answer"),
                extracted_answer=answer, completion=completion, prefix="" if text == "filler" else "<judge>\n",
                segments=segments,
                difficulty=levels.get(task, ["1"])[level_index])
