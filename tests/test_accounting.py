"""Token counts by segment come from the generated ids and add up to completion_tokens."""
from kateval.accounting import budget_hit, count_tokens, thought_lengths
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


# ---------------------------------------------------------------- thinking budgets (vLLM's counting rule)

START, END = [7], [8, 9]   # a one-token start marker and a two-token end marker


def test_thought_lengths_count_tokens_between_the_markers():
    assert thought_lengths([1, 2], [3, *START, 4, 4, 4, *END, 5], START, END) == [3]
    assert thought_lengths([1], [*START, 4, *END, 5, *START, 4, *END], START, END) == [1, 1]
    assert thought_lengths([1], [2, 3], START, END) == []                            # no thought at all
    assert thought_lengths([1], [*START, 4, 4], START, END) == [2]                   # cut before its end


def test_a_thought_the_prompt_opened_counts_its_prompt_side_tokens():
    prompt = [1, *START, 4]                                                         # a prefilled "<think>\n"
    assert thought_lengths(prompt, [4, 4, *END, 5], START, END) == [3]
    assert thought_lengths(prompt, [*END, 5], START, END) == [1]
    closed_in_prompt = [1, *START, 4, *END]                                         # forced off: empty thought
    assert thought_lengths(closed_in_prompt, [5, 6], START, END) == []


def test_budget_hit_means_the_thought_reached_the_budget():
    assert budget_hit([3], 3) and budget_hit([1, 5], 4) and budget_hit([0], 0)
    assert not budget_hit([2], 3) and not budget_hit([], 0) and not budget_hit([9], None)
