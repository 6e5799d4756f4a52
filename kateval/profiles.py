"""Model profiles: how a model family marks its modes and how a mode is forced.

    kat    generation prompt ends in `<judge>\\n`; forcing prefills the judge close and the decision
    qwen3  the chat template's `enable_thinking` switch
    r1     the assistant turn is prefilled with `<think>\\n` (off: an empty thought)
    plain  no modes; only `auto`

Whatever the chat template or the prefill puts in the assistant turn becomes Completion.prefix, so the parser sees
a prefilled tag and modes and token counts stay right.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from kateval.parse import TAG_RE
from kateval.types import KatevalError, Prompt

MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Forcing:
    prefill: str = ""                                         # appended to the assistant turn
    template_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    on: Forcing | None    # None: the family has no such mode
    off: Forcing | None
    reasoning: tuple[str, str] | None = None   # the thought's start and end markers (what a thinking budget cuts)

    def forcing(self, mode: str) -> Forcing:
        if mode not in MODES:
            raise KatevalError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
        if mode == "auto":
            return Forcing()
        chosen = self.on if mode == "on" else self.off
        if chosen is None:
            raise KatevalError(f"profile '{self.name}' cannot force mode '{mode}'; use --mode auto or --profile")
        return chosen

    def markers(self, thinking_budget: int | None) -> tuple[str, str] | None:
        """The thought markers a budget applies to; a budget on a family without thoughts is an error."""
        if thinking_budget is None:
            return None
        if thinking_budget < 0:
            raise KatevalError(f"a thinking budget must be at least 0, got {thinking_budget}")
        if self.reasoning is None:
            raise KatevalError(f"profile '{self.name}' has no thinking to budget; use --profile kat|qwen3|r1")
        return self.reasoning


THINK_MARKERS = ("<think>", "</think>")
PROFILES = {
    "kat": Profile("kat", on=Forcing("</judge>\n<think_on>\n<think>\n"), off=Forcing("</judge>\n<think_off>\n<answer>\n"),
                   reasoning=THINK_MARKERS),
    "qwen3": Profile("qwen3", on=Forcing(template_kwargs={"enable_thinking": True}),
                     off=Forcing(template_kwargs={"enable_thinking": False}), reasoning=THINK_MARKERS),
    "r1": Profile("r1", on=Forcing("<think>\n"), off=Forcing("<think>\n\n</think>\n\n"), reasoning=THINK_MARKERS),
    "plain": Profile("plain", on=None, off=None),
}


def detect_profile(chat_template: str | None) -> str:
    """The family a chat template belongs to (plain when it shows no reasoning markers)."""
    template = chat_template or ""
    if "<judge>" in template or "think_on" in template:
        return "kat"
    if "enable_thinking" in template:
        return "qwen3"
    if "<think>" in template or "<｜Assistant｜>" in template:
        return "r1"
    return "plain"


def get_profile(name: str | None, chat_template: str | None) -> Profile:
    chosen = name or detect_profile(chat_template)
    if chosen not in PROFILES:
        raise KatevalError(f"unknown profile '{chosen}'; choose one of {', '.join(PROFILES)}")
    return PROFILES[chosen]


class ChatTokenizer(Protocol):
    def apply_chat_template(self, messages: list[dict[str, str]], **kwargs: Any) -> str: ...


@dataclass(frozen=True)
class RenderedPrompt:
    text: str          # the whole prompt, prefill included
    prefix: str        # the tagged part of the assistant turn the prompt already holds
    chat: bool         # rendered through a chat template (its special tokens are in `text`)


def render_prompt(prompt: Prompt, tokenizer: ChatTokenizer | None, profile: Profile, mode: str,
                  system_prompt: str | None = None, template_kwargs: dict[str, Any] | None = None) -> RenderedPrompt:
    forcing = profile.forcing(mode)
    if prompt.text is not None or tokenizer is None:
        if prompt.text is None:
            raise KatevalError("chat prompts need a tokenizer with a chat template")
        return RenderedPrompt(prompt.text + forcing.prefill, forcing.prefill, chat=False)
    messages = chat_messages(prompt, system_prompt)
    kwargs = {**(template_kwargs or {}), **forcing.template_kwargs}
    try:
        with_turn = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        without = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False, **kwargs)
    except Exception as exc:  # a template that raises (e.g. no chat template at all) is the user's model problem
        raise KatevalError(f"the chat template failed: {type(exc).__name__}: {exc}") from exc
    tail = assistant_tail(with_turn[len(without):] if with_turn.startswith(without) else "")
    prefill = _not_yet_in(tail, forcing.prefill)
    return RenderedPrompt(with_turn + prefill, tail + prefill, chat=True)


def chat_messages(prompt: Prompt, system_prompt: str | None) -> list[dict[str, str]]:
    messages = [dict(m) for m in prompt.messages or ()]
    if system_prompt and not any(m.get("role") == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def assistant_tail(generation_prompt: str) -> str:
    """The part of the generation prompt from its first AutoThink tag on (e.g. `<judge>\\n`)."""
    match = TAG_RE.search(generation_prompt)
    return generation_prompt[match.start():] if match else ""


def _not_yet_in(tail: str, prefill: str) -> str:
    """Drop the start of the prefill that the template already wrote (an R1 template that opens `<think>\\n`)."""
    for size in range(len(prefill), 0, -1):
        if tail.endswith(prefill[:size]) and TAG_RE.search(prefill[:size]):
            return prefill[size:]
    return prefill


def template_facts(chat_template: Any) -> dict[str, Any]:
    text = chat_template if isinstance(chat_template, str) else repr(chat_template)
    return {"chat_template": chat_template,
            "chat_template_sha256": hashlib.sha256(text.encode()).hexdigest() if chat_template else None}
