"""The embedded default model: a tiny random-weight Llama with a locally trained byte-level BPE tokenizer and a
KAT-style chat template, built once (no download) and cached. It proves the pipeline runs end to end on the real
vLLM backend; its scores mean nothing.

    python -m kateval.tinymodel [DIR]    # builds (or reuses) DIR, default .cache/tiny-kat, and prints its path
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from kateval.tokenizers import AUTOTHINK_TAGS

DEFAULT_DIR = Path(".cache/tiny-kat")
EOS = "<|im_end|>"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", EOS, *AUTOTHINK_TAGS)

# Jinja: Qwen-style turns; the generation prompt opens the judge block, as KAT-V1's does.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n<judge>\n' }}{%- endif -%}"
)

# A fixed corpus, so the tokenizer (and with it the cache key) never depends on anything outside this file.
_CORPUS = (
    "Please reason step by step, and put your final answer within \\boxed{}. Find the number of positive integers "
    "less than 1000 such that the sum of the digits is a multiple of 7. The answer is 123. Let x be a real number. "
    "This problem is easy, so I will answer directly. This problem needs careful thought, so I will think first. "
    "def solve(n):\n    return n + 1\n\nprint(solve(3))\n```python\ndef add(a, b):\n    return a + b\n```\n"
    "for i in range(10):\n    if i % 2 == 0:\n        total += i\nreturn total\n"
    "Write a Python function that returns the list of the first n primes. Check the triangle, the circle, the "
    "probability, the remainder when divided by 1000. 0 1 2 3 4 5 6 7 8 9 10 100 999\n"
)
_VOCAB_SIZE = 512
_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "torch_dtype": "float32", "hidden_act": "silu",
}
_SEED = 1234
_STAMP = "kateval-tiny.json"


# Structured outputs make the random model write well-formed AutoThink output, so every stage has real work: a
# mode decision, segments, a boxed integer for math graders and a small valid program for code graders. Tags are
# referenced by token id (`<[id]>`): spelled as strings, xgrammar would let them come out as ordinary byte tokens.
# `</think>` may come after any token of a thought, because a thinking budget forces it wherever the budget ends
# (a grammar that refused it there would make vLLM abort the request).
_GRAMMAR = r"""
start: @START@
judged: WORDS "\n" @</judge>@ "\n" (on | off)
on: @<think_on>@ "\n" @<think>@ thought
off: @<think_off>@ "\n" @<answer>@ "\n" answer
thought: THOUGHT @</think>@ "\n" @<answer>@ "\n" answer
answer: "The answer is \\boxed{" NUMBER "}.\n```python\ndef f_" NAME "(x):\n    return x + " NUMBER "\n```\n" @</answer>@
THOUGHT: /[a-z \n]{0,200}/
WORDS: /[a-z][a-z ]{0,40}/
NUMBER: /[1-9][0-9]{0,2}/
NAME: /[a-z]{1,8}/
"""
_GRAMMAR_START = {"auto": "judged", "on": "thought", "off": "answer"}


def autothink_grammar(token_id: Callable[[str], int], mode: str) -> str:
    """A Lark grammar for KAT output after the prompt's prefix (`<judge>\\n`, or a forced mode's prefill)."""
    grammar = _GRAMMAR.replace("@START@", _GRAMMAR_START[mode])
    for tag in AUTOTHINK_TAGS:
        grammar = grammar.replace(f"@{tag}@", f"<[{token_id(tag)}]>")
    return grammar


def build_key() -> str:
    """Changes whenever anything that shapes the model changes, so an old cache is rebuilt."""
    blob = json.dumps([CHAT_TEMPLATE, _CORPUS, _VOCAB_SIZE, _CONFIG, _SEED, SPECIAL_TOKENS], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_tiny_model(directory: Path = DEFAULT_DIR) -> Path:
    directory = Path(directory)
    stamp = directory / _STAMP
    if stamp.exists() and json.loads(stamp.read_text()).get("key") == build_key():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    tokenizer.save_pretrained(directory)
    _save_model(directory, tokenizer)
    stamp.write_text(json.dumps({"key": build_key(), "note": "random weights: proves the pipeline, not a score"}))
    return directory


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=_VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token="<|endoftext|>",
                                        additional_special_tokens=list(SPECIAL_TOKENS[3:]))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _save_model(directory: Path, tokenizer) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    config = LlamaConfig(**{k: v for k, v in _CONFIG.items() if k not in ("architectures", "model_type")},
                         vocab_size=len(tokenizer), bos_token_id=None, eos_token_id=eos_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(_SEED)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config.eos_token_id = eos_id
    model.save_pretrained(directory, safe_serialization=True)


if __name__ == "__main__":
    print(ensure_tiny_model(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR))
