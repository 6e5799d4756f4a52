"""Grade completions produced elsewhere (a JSONL with task, problem_id and completion per line; lm-eval and
evalplus sample files are read as they are) into a run directory, with the same parsing, token accounting and
grading as `kateval run`."""
from __future__ import annotations

import argparse
from pathlib import Path

from kateval.bridges.foreign_samples import parse_task_map
from kateval.commands.common import add_data_args, add_exec_args, add_progress_arg, exec_limits
from kateval.report.summary import write_summary
from kateval.scoring import score_file

EXAMPLES = """  kateval score completions.jsonl --out runs/mine --tokenizer Qwen/Qwen3-8B
  kateval score evalplus_samples.jsonl --task-map HumanEval=humaneval --tokenizer M --out runs/he"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("samples", help="JSONL: task, problem_id, completion; optional sample_index, finish_reason, "
                                        "token_ids, prompt_tokens, completion_tokens, prefix. Also read: lm-eval "
                                        "--log_samples files (samples_<task>_<date>.jsonl) and evalplus samples.jsonl")
    parser.add_argument("--out", required=True, help="run directory to write")
    parser.add_argument("--tokenizer", help="Hugging Face tokenizer path, to count tokens of text-only lines")
    parser.add_argument("--task-map", action="append", default=[], metavar="SOURCE=TASK",
                        help="kateval task for an lm-eval task or evalplus dataset, e.g. gsm8k=lm_eval:gsm8k, "
                             "HumanEval=humaneval (default: same-named task, else lm_eval:NAME; "
                             "HumanEval->humaneval_plus, Mbpp->mbpp_plus)")
    add_progress_arg(parser)
    add_data_args(parser)
    add_exec_args(parser)


def main(args: argparse.Namespace) -> int:
    tokenizer = None
    if args.tokenizer:
        from kateval.tokenizers import HFTokenizer

        tokenizer = HFTokenizer(args.tokenizer)
    out, bad = score_file(Path(args.samples), Path(args.out), data_dir=args.data_dir, tokenizer=tokenizer,
                          tokenizer_name=args.tokenizer, workers=args.workers, exec_limits=exec_limits(args),
                          show_progress=not args.no_progress, task_map=parse_task_map(args.task_map))
    summary = write_summary(out)
    from kateval.table import cached_scalars

    cached_scalars(out)   # the columns kateval.load_run reads, cached now rather than on the first load
    print(f"run directory: {out}\nsummary: {summary}" + (f"\n{bad} line(s) skipped" if bad else ""))
    return 0
