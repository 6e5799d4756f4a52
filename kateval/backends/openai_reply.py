"""What an OpenAI-compatible server replied, checked before any of it becomes a sample.

A server is outside kateval: a proxy's error page, a reply cut short, a choice missing or of the wrong type must be
a one-line error naming what was wrong (the request is retried first), never a traceback, a sample silently
missing, or a record holding a count that is not a count. Pure functions: bytes in, a typed Reply out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class BadReply(ValueError):
    """The bytes are not an OpenAI completion reply for the request made."""


@dataclass(frozen=True)
class Choice:
    text: str | None                 # the completions endpoint's text
    content: str                     # the chat endpoint's message content ("" when there is none)
    reasoning: str | None            # reasoning a server returned in a separate field
    token_ids: tuple[int, ...] | None
    finish_reason: str | None
    stop_reason: str | int | None


@dataclass(frozen=True)
class Reply:
    choices: tuple[Choice, ...]      # one per requested sample, in index order
    prompt_token_ids: tuple[int, ...] | None
    prompt_tokens: int | None        # usage: unknown (None) where the server gave no count
    completion_tokens: int | None
    cached_tokens: int | None


def read_reply(payload: bytes, n: int) -> Reply:
    try:
        reply = json.loads(payload)
    except ValueError:
        raise BadReply(f"not JSON: {payload[:120]!r}") from None
    if type(reply) is not dict:
        raise BadReply(f"not a JSON object: {payload[:120]!r}")
    choices = reply.get("choices")
    if type(choices) is not list:
        detail = f": {str(reply['error'])[:300]}" if "error" in reply else ""
        raise BadReply(f"no list of choices{detail}")
    if len(choices) != n or not all(type(choice) is dict for choice in choices):
        raise BadReply(f"{len(choices)} choices where {n} samples were asked for")
    indices = [choice.get("index", position) for position, choice in enumerate(choices)]
    if sorted(indices) != list(range(n)):
        raise BadReply(f"choice indices {indices[:8]} are not 0..{n - 1}")
    usage = reply.get("usage") if type(reply.get("usage")) is dict else {}
    details = usage.get("prompt_tokens_details") if type(usage.get("prompt_tokens_details")) is dict else {}
    return Reply(
        choices=tuple(_choice(choice) for _, choice in sorted(zip(indices, choices), key=lambda pair: pair[0])),
        prompt_token_ids=_ids(reply.get("prompt_token_ids"), "prompt_token_ids"),
        prompt_tokens=_count(usage.get("prompt_tokens")), completion_tokens=_count(usage.get("completion_tokens")),
        cached_tokens=_count(details.get("cached_tokens")))


def _choice(choice: dict[str, Any]) -> Choice:
    message = choice.get("message") if type(choice.get("message")) is dict else {}
    text, content = choice.get("text"), message.get("content")
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if "text" in choice and type(text) is not str:
        raise BadReply(f"a choice's text is {type(text).__name__}, not a string")
    for name, value in (("message content", content), ("reasoning", reasoning)):
        if value is not None and type(value) is not str:
            raise BadReply(f"a choice's {name} is {type(value).__name__}, not a string")
    finish, stop = choice.get("finish_reason"), choice.get("stop_reason")
    return Choice(text=text if "text" in choice else None, content=content or "", reasoning=reasoning,
                  token_ids=_ids(choice.get("token_ids"), "token_ids"),
                  finish_reason=finish if type(finish) is str else None,
                  stop_reason=stop if type(stop) in (str, int) else None)


def _ids(value: Any, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if type(value) is not list or not all(type(token) is int and token >= 0 for token in value):
        raise BadReply(f"{name} is not a list of token ids")
    return tuple(value)


def _count(value: Any) -> int | None:
    """A usage count, or None (unknown) where the server's is not one."""
    return value if type(value) is int and 0 <= value < 1 << 63 else None
