"""In-process vLLM: every request of a run goes into one engine queue, so the scheduler batches the whole
evaluation; finished outputs are yielded as they complete, so a killed run loses little.

Samples of a prompt come from SamplingParams(n=…) with the request's seed; vLLM seeds sample i with seed + i, so a
resumed run that misses only some samples asks for each of them alone (n=1, seed + i) and gets the same text.
"""
from __future__ import annotations

import gc
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kateval.accounting import think_budget_hit
from kateval.backends.base import Backend, BackendConfig, sample_groups, typed_options
from kateval.profiles import Profile, RenderedPrompt, get_profile, render_prompt, template_facts
from kateval.quiet import library_info_wanted
from kateval.tokenizers import HFTokenizer
from kateval.types import Completion, KatevalError, Request, SamplingConfig, TokenDecoder

# vLLM's CPU build: in-process engine (loads in seconds), all cores, a small KV cache. How much vLLM logs is
# kateval.quiet's decision (--verbose).
_CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass(frozen=True)
class _Pending:
    request: Request
    prefix: str
    sample_indices: tuple[int, ...]   # sample index of each output, by output position
    mode: str
    thinking_budget: int | None
    prompt_ids: tuple[int, ...]       # kept only under a budget: a prefilled `<think>` counts toward it


class VLLMBackend(Backend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        if not config.model:
            raise KatevalError("the vllm backend needs --model (a local path or a hub id)")
        self.options = typed_options(config.options)
        self._on_cpu = not has_cuda()
        if self._on_cpu:
            for key, value in _CPU_ENV.items():
                os.environ.setdefault(key, value)
        self._decoder = HFTokenizer(self.options.get("tokenizer") or config.model)   # decodes, tags kept
        template = self._decoder.hf.chat_template
        self.profile: Profile = get_profile(config.profile, template if isinstance(template, str) else None)
        self.profile.forcing(config.mode)  # reject an impossible mode or budget before the model loads
        self.profile.markers(self.options.get("thinking_budget"))
        started = time.monotonic()
        self._llm = self._load()
        self.load_s = time.monotonic() - started
        self._hf = self._llm.get_tokenizer()   # renders and encodes prompts
        self.chat_template = self._hf.chat_template
        # Token ids of the thought markers, to tell from a sample's ids whether a thinking budget ended its thought.
        self._markers = tuple(self._hf.encode(m, add_special_tokens=False) for m in self.profile.reasoning or ())
        self._stop_ids = {i for i in (self._hf.eos_token_id, *self._generation_eos()) if i is not None}
        self._pending: dict[str, _Pending] = {}   # engine request id -> what it answers
        self._request_ids = itertools.count()
        self._stats = {"generate_s": 0.0, "generated_samples": 0, "generated_tokens": 0, "prompt_tokens": 0, "cached_prompt_tokens": 0}

    # ------------------------------------------------------------------ loading
    def _load(self):
        try:
            import vllm
        except ImportError as exc:
            raise KatevalError(f"vLLM is not installed ({exc}); run `make install`") from exc
        self.vllm_version = vllm.__version__
        try:
            return vllm.LLM(**self._engine_kwargs())
        except (OSError, ValueError) as exc:  # missing model, bad option values
            raise KatevalError(f"vLLM could not load '{self.config.model}': {type(exc).__name__}: {exc}") from exc

    def _engine_kwargs(self) -> dict[str, Any]:
        o = self.options
        kwargs: dict[str, Any] = {"model": self.config.model, "tokenizer": o.get("tokenizer") or self.config.model,
                                  "seed": 0, "use_tqdm_on_load": library_info_wanted()}
        for key in ("tensor_parallel_size", "data_parallel_size", "max_model_len", "gpu_memory_utilization",
                    "dtype", "enable_prefix_caching", "enforce_eager", "distributed_executor_backend", "max_num_seqs"):
            if key in o:
                kwargs[key] = o[key]
        if self._on_cpu:
            # A prompt prefilled in chunks makes vLLM rewind its seeded generator, which CPU generators cannot do.
            kwargs.update(distributed_executor_backend="uni", enforce_eager=True, enable_chunked_prefill=False)
        if o.get("grammar"):
            kwargs["structured_outputs_config"] = {"backend": "xgrammar"}
        if self.profile.reasoning:
            # Thinking budgets are per request (SamplingParams.thinking_token_budget), so every run of a thinking
            # family gets the markers; requests without a budget are untouched by them.
            start, end = self.profile.reasoning
            kwargs["reasoning_config"] = {"reasoning_start_str": start, "reasoning_end_str": end}
        return kwargs

    def _generation_eos(self) -> tuple[int, ...]:
        eos = self._llm.llm_engine.model_config.hf_config.eos_token_id
        try:
            generation_eos = self._llm.llm_engine.model_config.get_diff_sampling_param()
        except AttributeError:
            generation_eos = {}
        ids = [eos] if isinstance(eos, int) else list(eos or ())
        return tuple(ids) + tuple(generation_eos.get("stop_token_ids", ()))

    # ------------------------------------------------------------------ generation
    def render(self, request: Request) -> RenderedPrompt:
        return render_prompt(request.prompt, self._hf, self.profile, self.request_mode(request),
                             self.options.get("system_prompt"), self.options.get("chat_template_kwargs"))

    def sampling_params(self, sampling: SamplingConfig, n: int, seed: int, mode: str | None = None,
                        thinking_budget: int | None = None):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        extra: dict[str, Any] = {}
        if self.options.get("grammar"):
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(grammar=self._grammar(mode or self.config.mode))
        if self.profile.markers(thinking_budget):
            extra["thinking_token_budget"] = thinking_budget
        return SamplingParams(
            n=n, seed=seed, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
            min_p=sampling.min_p, max_tokens=sampling.max_tokens, stop=list(sampling.stop) or None,
            stop_token_ids=list(sampling.stop_token_ids) or None, skip_special_tokens=False,
            include_stop_str_in_output=True, output_kind=RequestOutputKind.FINAL_ONLY,
            # The text is decoded once from the final ids (text_of); vLLM's own per-token detokenizing would be
            # work thrown away, except where stop strings need it.
            detokenize=bool(sampling.stop), **extra)

    def _grammar(self, mode: str) -> str:
        from kateval.tinymodel import autothink_grammar

        if self.profile.name != "kat":
            raise KatevalError("--grammar autothink needs a model with the kat profile")
        return autothink_grammar(self._hf.convert_tokens_to_ids, mode)

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        self.submit(requests, sampling)
        flush_s = self.options.get("flush_s", 1.0)
        started = last_flush = time.monotonic()
        batch: list[Completion] = []
        try:
            while self._pending:
                batch.extend(self.poll())
                if batch and (time.monotonic() - last_flush >= flush_s or not self._pending):
                    yield batch
                    batch, last_flush = [], time.monotonic()
        finally:
            self.cancel()  # the consumer stopped early: free the engine for the next call
            self._stats["wall_s"] = round(time.monotonic() - started, 3)

    # ------------------------------------------------------------------ incremental use (see Backend.submit)
    def submit(self, requests: Sequence[Request], sampling: SamplingConfig) -> None:
        """Add requests to the running engine: they join the batch at its next step."""
        from vllm.inputs import TokensPrompt

        engine = self._llm.llm_engine
        for request in requests:
            rendered = self.render(request)
            prompt_ids = self._hf.encode(rendered.text, add_special_tokens=not rendered.chat)
            mode, budget = self.request_mode(request), self.request_budget(request)
            for indices in sample_groups(request, sampling.n):
                seed = request.seed + (0 if len(indices) == sampling.n else indices[0])
                params = self.sampling_params(sampling, len(indices), seed, mode, budget)
                request_id = f"kateval-{next(self._request_ids)}"
                # token ids through the engine's renderer: vLLM's supported input (a raw prompt dict is deprecated)
                (engine_input,) = engine.renderer.render_cmpl([TokensPrompt(prompt_token_ids=prompt_ids)])
                engine.add_request(request_id, engine_input, params)
                self._pending[request_id] = _Pending(request, rendered.prefix, indices, mode, budget,
                                                     tuple(prompt_ids) if budget is not None else ())

    def poll(self) -> list[Completion]:
        """One engine step; the completions it finished."""
        if not self._pending:
            return []
        started = time.monotonic()
        finished: list[Completion] = []
        for output in self._llm.llm_engine.step():
            if output.finished:
                finished.extend(self._completions(self._pending.pop(output.request_id), output))
        self._stats["generate_s"] += time.monotonic() - started
        return finished

    def pending(self) -> int:
        return sum(len(job.sample_indices) for job in self._pending.values())

    def cancel(self) -> None:
        if self._pending:
            self._llm.llm_engine.abort_request(list(self._pending))
            self._pending.clear()

    def capacity(self) -> int | None:
        return self._llm.llm_engine.vllm_config.scheduler_config.max_num_seqs

    def _completions(self, job: _Pending, output) -> list[Completion]:
        completions = []
        prompt_tokens = len(output.prompt_token_ids or ())
        cached = output.num_cached_tokens
        for position, sample in enumerate(sorted(output.outputs, key=lambda s: s.index)):
            ids = tuple(sample.token_ids)
            self._stats["generated_samples"] += 1
            self._stats["generated_tokens"] += len(ids)
            self._stats["prompt_tokens"] += prompt_tokens
            self._stats["cached_prompt_tokens"] += cached or 0
            completions.append(Completion(
                task=job.request.task, problem_id=job.request.problem_id, sample_index=job.sample_indices[position],
                text=self.text_of(ids), token_ids=ids, finish_reason=sample.finish_reason, prefix=job.prefix,
                stop_reason=sample.stop_reason, prompt_tokens=prompt_tokens, cached_prompt_tokens=cached,
                requested_mode=job.mode, thinking_budget=job.thinking_budget,
                think_budget_hit=think_budget_hit(job.prompt_ids, ids, self._markers, job.thinking_budget)))
        return completions

    def text_of(self, ids: Sequence[int]) -> str:
        """The decoded ids, special tokens kept, without a final end-of-sequence token."""
        if ids and ids[-1] in self._stop_ids:
            ids = ids[:-1]
        return self._decoder.decode(ids)

    # ------------------------------------------------------------------ facts
    def decoder(self) -> TokenDecoder:
        return self._decoder

    def describe(self) -> dict[str, Any]:
        generate_s = self._stats["generate_s"]
        return {
            "backend": "vllm", "model": self.config.model, "vllm_version": self.vllm_version,
            "device": _device(), "profile": self.profile.name, "mode": self.config.mode,
            "options": {k: v for k, v in self.options.items() if k != "api_key"},
            "engine_args": {k: v for k, v in self._engine_kwargs().items() if k not in ("model", "tokenizer")},
            "load_s": round(self.load_s, 3), **{k: round(v, 3) if isinstance(v, float) else v
                                                for k, v in self._stats.items()},
            "generated_tokens_per_s": round(self._stats["generated_tokens"] / generate_s, 1) if generate_s else None,
            **template_facts(self.chat_template),
        }

    def close(self) -> None:
        engine = getattr(self, "_llm", None)
        self._llm = None
        if engine is not None:
            shutdown = getattr(engine.llm_engine, "engine_core", None)
            if shutdown is not None and hasattr(shutdown, "shutdown"):
                shutdown.shutdown()
            del engine
            gc.collect()


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        return f"{count} x {torch.cuda.get_device_name(0)}"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
