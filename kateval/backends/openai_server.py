"""Any OpenAI-compatible server (vllm serve, SGLang, hosted APIs) with bounded concurrency and retries.

Token ids come back where the server returns them (vLLM: `return_token_ids`); the text is then decoded from them
with the model's tokenizer, exactly as the offline backend does, so the records of both backends match for the same
seeds. Without ids, reasoning a server returned in a separate field is put back before the answer.
A forced mode's prefill is sent as a final assistant message with vLLM's `continue_final_message`.
The API key is read from $OPENAI_API_KEY and never recorded.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from kateval.accounting import think_budget_hit
from kateval.backends.base import Backend, BackendConfig, sample_groups, typed_options
from kateval.backends.openai_reply import BadReply, Choice, Reply, read_reply
from kateval.profiles import Profile, RenderedPrompt, chat_messages, get_profile, render_prompt
from kateval.types import Completion, KatevalError, Prompt, Request, SamplingConfig, TokenDecoder

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        self.options = typed_options(config.options)
        if not self.options.get("base_url"):
            raise KatevalError("the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if not config.model:
            raise KatevalError("the openai backend needs --model (the name the server serves)")
        self.base_url = self.options["base_url"].rstrip("/")
        self._tokenizer = _local_tokenizer(self.options.get("tokenizer") or config.model)
        self._hf = self._tokenizer.hf if self._tokenizer else None
        template = getattr(self._hf, "chat_template", None)
        self.profile: Profile = get_profile(config.profile, template if isinstance(template, str) else None)
        self.profile.forcing(config.mode)
        self.profile.markers(self.options.get("thinking_budget"))
        # the thought markers' ids, encoded once (none without a local tokenizer: budget hits are then unknown)
        self._markers = tuple(self._tokenizer.encode(marker) for marker in self.profile.reasoning or ()) \
            if self._tokenizer else ()
        self._stats = {"requests": 0, "retries": 0, "generated_tokens": 0, "generate_s": 0.0}

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[list[Completion]]:
        jobs = [(request, indices) for request in requests for indices in sample_groups(request, sampling.n)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.options.get("concurrency", 8)) as pool:
            running: set[Future] = {pool.submit(self._complete, request, indices, sampling)
                                    for request, indices in jobs}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield [completion for future in done for completion in future.result()]
            finally:
                for future in running:
                    future.cancel()
                self._stats["generate_s"] += time.monotonic() - started

    # ------------------------------------------------------------------ one request
    def _complete(self, request: Request, indices: tuple[int, ...], sampling: SamplingConfig) -> list[Completion]:
        mode, budget = self.request_mode(request), self.request_budget(request)
        rendered = self._render(request, mode)
        seed = request.seed + (0 if len(indices) == sampling.n else indices[0])
        body = {"model": self.config.model, "n": len(indices), "seed": seed,
                **self._sampling_body(sampling, mode, budget)}
        if request.prompt.text is not None:
            endpoint, body["prompt"] = "completions", rendered.text
        else:
            endpoint = "chat/completions"
            body.update(self._chat_body(request.prompt, rendered, mode))
        reply = self._post(endpoint, body, len(indices))
        self._stats["requests"] += 1
        prompt_ids = reply.prompt_token_ids
        completions = []
        for index, choice in zip(indices, reply.choices):
            ids = choice.token_ids
            self._stats["generated_tokens"] += len(ids) if ids else 0
            completions.append(Completion(
                task=request.task, problem_id=request.problem_id, sample_index=index,
                text=self._text(choice), token_ids=ids, finish_reason=choice.finish_reason,
                prefix=rendered.prefix, stop_reason=choice.stop_reason,
                prompt_tokens=len(prompt_ids) if prompt_ids is not None else reply.prompt_tokens,
                cached_prompt_tokens=reply.cached_tokens,
                completion_tokens=reply.completion_tokens if len(indices) == 1 and ids is None else None,
                requested_mode=mode, thinking_budget=budget, think_budget_hit=think_budget_hit(prompt_ids, ids, self._markers, budget)))
        return completions

    def _render(self, request: Request, mode: str) -> RenderedPrompt:
        if self._tokenizer is None:
            prefill = self.profile.forcing(mode).prefill
            text = request.prompt.text + prefill if request.prompt.text is not None else ""
            return RenderedPrompt(text, prefill, chat=request.prompt.text is None)
        return render_prompt(request.prompt, self._hf, self.profile, mode,
                             self.options.get("system_prompt"), self.options.get("chat_template_kwargs"))

    def _chat_body(self, prompt: Prompt, rendered: RenderedPrompt, mode: str) -> dict[str, Any]:
        forcing = self.profile.forcing(mode)
        messages = chat_messages(prompt, self.options.get("system_prompt"))
        body: dict[str, Any] = {"messages": messages}
        kwargs = {**self.options.get("chat_template_kwargs", {}), **forcing.template_kwargs}
        if kwargs:
            body["chat_template_kwargs"] = kwargs
        if forcing.prefill:
            # The template writes its own generation prompt only for a new turn, so the prefill carries it too.
            messages.append({"role": "assistant", "content": rendered.prefix})
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _sampling_body(self, sampling: SamplingConfig, mode: str, budget: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                                "max_tokens": sampling.max_tokens, "return_token_ids": True,
                                "skip_special_tokens": False, "spaces_between_special_tokens": False,
                                "include_stop_str_in_output": True}
        if sampling.top_k > 0:
            body["top_k"] = sampling.top_k
        if sampling.min_p > 0:
            body["min_p"] = sampling.min_p
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.stop_token_ids:
            body["stop_token_ids"] = list(sampling.stop_token_ids)
        if self.options.get("grammar"):
            body["structured_outputs"] = {"grammar": self._grammar(mode)}
        if self.profile.markers(budget):
            body["thinking_token_budget"] = budget   # the server needs its reasoning config (--reasoning-config)
        return body

    def _grammar(self, mode: str) -> str:
        from kateval.tinymodel import autothink_grammar

        if self._tokenizer is None or self.profile.name != "kat":
            raise KatevalError("--grammar autothink needs a kat model whose tokenizer is at hand (--tokenizer)")
        return autothink_grammar(self._hf.convert_tokens_to_ids, mode)

    def _text(self, choice: Choice) -> str:
        ids = choice.token_ids
        if ids is not None and self._tokenizer is not None:
            eos = self._hf.eos_token_id
            return self._tokenizer.decode(ids[:-1] if ids and ids[-1] == eos else ids)
        if choice.text is not None:
            return choice.text
        return f"<think>\n{choice.reasoning}\n</think>\n\n{choice.content}" if choice.reasoning else choice.content

    # ------------------------------------------------------------------ HTTP
    def _post(self, endpoint: str, body: dict[str, Any], n: int) -> Reply:
        """The server's reply to `body`, asking for `n` samples; a reply that is no such reply (a proxy's error page,
        one cut short, choices missing) is retried like a failed connection, then a one-line error."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'EMPTY')}"}
        attempts = self.options.get("max_retries", 6) + 1
        for attempt in range(attempts):
            request = urllib.request.Request(f"{self.base_url}/{endpoint}", data=data, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.options.get("timeout", 3600)) as response:
                    return read_reply(response.read(), n)
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:500]
                if exc.code not in _RETRY_STATUS or attempt == attempts - 1:
                    raise KatevalError(f"{self.base_url}/{endpoint}: HTTP {exc.code}: {detail}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                if attempt == attempts - 1:
                    raise KatevalError(f"{self.base_url}/{endpoint}: {type(exc).__name__}: {exc}") from exc
            except BadReply as exc:
                if attempt == attempts - 1:
                    raise KatevalError(f"{self.base_url}/{endpoint}: the server's reply is not an OpenAI "
                                       f"completion: {exc}") from exc
            self._stats["retries"] += 1
            time.sleep(min(2 ** attempt, 60))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ facts
    def decoder(self) -> TokenDecoder | None:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        generate_s = self._stats["generate_s"]
        return {"backend": "openai", "model": self.config.model, "base_url": self.base_url,
                "profile": self.profile.name, "mode": self.config.mode,
                "options": {k: v for k, v in self.options.items() if k != "api_key"},
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in self._stats.items()},
                "generated_tokens_per_s": round(self._stats["generated_tokens"] / generate_s, 1) if generate_s else None}


def _local_tokenizer(path: str | None):
    """The model's tokenizer: a local folder or a cached hub id, else downloaded from the hub where the hub can be
    reached at all, else None (text and counts come from the server). Without the reachability check, a machine
    with no route to the hub spent a minute in huggingface_hub's retries for a name such as `gpt-4o`."""
    from kateval.tokenizers import HFTokenizer

    if not path:
        return None
    for local_only in (True, False):
        if local_only or _hub_reachable():
            try:
                return HFTokenizer(path, local_only=local_only)
            except KatevalError:
                pass
    return None


def _hub_reachable() -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname
    try:
        socket.getaddrinfo(host, 443)   # a name that does not resolve fails at once; the hub's own retries do not
    except (OSError, UnicodeError):
        return False
    return True
