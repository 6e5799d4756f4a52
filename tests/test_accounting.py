"""Token counts by segment come from the generated ids and add up to completion_tokens."""
from kateval.accounting import count_tokens
from kateval.parse import parse_output
from kateval.tokenizers import ByteTokenizer

TEXT = "Hard.\n</judge>\n<think_on>\n<think>\nwork\n</think>\n<answer>\n\\boxed{12}\n</answer>"


class TagsAsBytes:
    """A tokenizer that spells the tags in ordinary byte tokens (what an unconstrained model may emit)."""

    def encode(self, text):
        return list(text.encode())

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


def test_special_tag_tokens_count_in_their_segment():
    tok = ByteTokenizer()
    ids = tok.encode(TEXT)
    parsed = parse_output(TEXT, "<judge>\n")
    counts = count_tokens(parsed, TEXT, ids, tok, prompt_tokens=9)
    # judge: "Hard.\n" (6 bytes) + </judge> (1) + <think_on> (1); think: <think> + "\nwork\n" + </think>
    assert counts.judge_tokens == 8
    assert counts.think_tokens == 1 + 6 + 1
    assert counts.answer_tokens == 1 + len("\n\\boxed{12}\n") + 1
    assert counts.other_tokens == 3  # the newlines between blocks
    assert counts.completion_tokens == len(ids) == sum(
        (counts.judge_tokens, counts.think_tokens, counts.answer_tokens, counts.other_tokens))
    assert counts.prompt_tokens == 9


def test_tags_spelled_as_bytes_count_the_same_segments():
    tok = TagsAsBytes()
    ids = tok.encode(TEXT)
    counts = count_tokens(parse_output(TEXT, "<judge>\n"), TEXT, ids, tok)
    assert counts.think_tokens == len("<think>\nwork\n</think>")
    assert counts.judge_tokens == len("Hard.\n</judge>") + len("<think_on>")
    assert counts.completion_tokens == len(TEXT)


def test_eos_kept_in_ids_counts_as_other():
    tok = ByteTokenizer()
    ids = tok.encode(TEXT) + [0]  # a trailing id that decodes past the returned text
    counts = count_tokens(parse_output(TEXT, "<judge>\n"), TEXT, ids, tok)
    assert counts.other_tokens == 4 and counts.completion_tokens == len(ids)


def test_multibyte_characters_split_across_tokens():
    text = "<think>é中</think>ü"
    tok = ByteTokenizer()
    ids = tok.encode(text)
    counts = count_tokens(parse_output(text), text, ids, tok)
    assert counts.think_tokens == 1 + 2 + 3 + 1 and counts.answer_tokens == 2


def test_without_ids_only_the_given_total_is_known():
    counts = count_tokens(parse_output("x"), "x", None, None, prompt_tokens=3, completion_tokens=5)
    assert (counts.completion_tokens, counts.think_tokens) == (5, None)
