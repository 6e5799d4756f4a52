"""Model profiles: detection from chat templates, forced-mode prefills, and the prefix the parser sees."""
from __future__ import annotations

import pytest
from transformers import PreTrainedTokenizerFast

from kateval.parse import parse_output
from kateval.profiles import assistant_tail, detect_profile, get_profile, render_prompt
from kateval.tinymodel import CHAT_TEMPLATE
from kateval.types import KatevalError, Prompt

QWEN3 = ("{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
         "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
         "{%- if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
         "{%- endif %}{%- endif %}")
R1 = ("{% for m in messages %}{{ '<｜User｜>' + m['content'] }}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}")
PLAIN = "{% for m in messages %}{{ m['content'] + '\\n' }}{% endfor %}"
QUESTION = Prompt(messages=({"role": "user", "content": "What is 1+1?"},))


class FakeTokenizer:
    """Renders a chat template the way transformers does (Jinja), without a vocabulary."""

    def __init__(self, template: str):
        self._tok = PreTrainedTokenizerFast(tokenizer_object=_empty_tokenizer())
        self._tok.chat_template = template

    def apply_chat_template(self, messages, **kwargs):
        return self._tok.apply_chat_template(messages, **kwargs)


def _empty_tokenizer():
    from tokenizers import Tokenizer, models

    return Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))


@pytest.mark.parametrize("template, expected", [(CHAT_TEMPLATE, "kat"), (QWEN3, "qwen3"), (R1, "r1"),
                                                (PLAIN, "plain"), (None, "plain")])
def test_profile_is_detected_from_the_chat_template(template, expected):
    assert detect_profile(template) == expected


def test_an_explicit_profile_wins_and_unknown_ones_are_refused():
    assert get_profile("r1", CHAT_TEMPLATE).name == "r1"
    with pytest.raises(KatevalError):
        get_profile("nope", None)


@pytest.mark.parametrize("mode, expected_prefix, parsed_mode", [
    ("auto", "<judge>\n", None),
    ("on", "<judge>\n</judge>\n<think_on>\n<think>\n", "on"),
    ("off", "<judge>\n</judge>\n<think_off>\n<answer>\n", "off"),
])
def test_kat_forcing_prefills_the_judge_close_and_the_decision(mode, expected_prefix, parsed_mode):
    rendered = render_prompt(QUESTION, FakeTokenizer(CHAT_TEMPLATE), get_profile(None, CHAT_TEMPLATE), mode)
    assert rendered.prefix == expected_prefix
    assert rendered.text.endswith("<|im_start|>assistant\n" + expected_prefix)
    if parsed_mode:  # whatever the model writes next, the prefilled decision stands
        assert parse_output("some words\n</answer>", rendered.prefix).mode == parsed_mode


def test_qwen3_forcing_uses_enable_thinking_and_the_empty_thought_is_the_prefix():
    tokenizer, profile = FakeTokenizer(QWEN3), get_profile(None, QWEN3)
    off = render_prompt(QUESTION, tokenizer, profile, "off")
    assert off.prefix == "<think>\n\n</think>\n\n"
    assert parse_output("2", off.prefix).mode == "off"
    assert render_prompt(QUESTION, tokenizer, profile, "on").prefix == ""


def test_r1_prefill_is_not_written_twice_when_the_template_opens_the_thought():
    tokenizer, profile = FakeTokenizer(R1), get_profile(None, R1)
    on = render_prompt(QUESTION, tokenizer, profile, "on")
    assert on.text.endswith("<｜Assistant｜><think>\n") and on.text.count("<think>") == 1
    off = render_prompt(QUESTION, tokenizer, profile, "off")
    assert off.prefix == "<think>\n\n</think>\n\n"
    assert parse_output("The answer is 2.", off.prefix).mode == "off"


def test_plain_models_cannot_be_forced():
    with pytest.raises(KatevalError):
        render_prompt(QUESTION, FakeTokenizer(PLAIN), get_profile(None, PLAIN), "on")


def test_system_prompt_and_completion_style_prompts():
    rendered = render_prompt(QUESTION, FakeTokenizer(PLAIN), get_profile("plain", None), "auto", system_prompt="Be brief.")
    assert rendered.text.startswith("Be brief.\nWhat is 1+1?")
    raw = render_prompt(Prompt(text="Problem: 1+1\nSolution:"), None, get_profile("r1", None), "on")
    assert (raw.text, raw.prefix, raw.chat) == ("Problem: 1+1\nSolution:<think>\n", "<think>\n", False)


def test_assistant_tail_starts_at_the_first_tag():
    assert assistant_tail("<|im_start|>assistant\n<judge>\n") == "<judge>\n"
    assert assistant_tail("<|im_start|>assistant\n") == ""
