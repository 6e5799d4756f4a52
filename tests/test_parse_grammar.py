"""`well_formed` is exactly each profile's grammar (README, "Output grammars"); the tolerant reading beyond it:
forgotten openers, unclosed blocks, half-written tags at a cut, and the KAT answer living only in <answer>."""
import pytest

from kateval.accounting import count_tokens
from kateval.parse import parse_output
from kateval.tokenizers import ByteTokenizer

J = "<judge>\n"   # what KAT's generation prompt ends in


def kinds(parsed):
    return [segment.kind for segment in parsed.segments]


def texts(parsed, text, kind):
    return "".join(text[s.start:s.end] for s in parsed.segments if s.kind == kind)


@pytest.mark.parametrize("text, prefix", [
    ("Looks hard.\n</judge>\n<think_on>\n<think>\nsteps\n</think>\n<answer>\nIt is \\boxed{81}.\n</answer>", J),
    ("Easy one.</judge><think_off><answer>\\boxed{6}</answer>", J),
    ("Easy one.</judge>\n<think_off>\n<answer>6</answer>\n<|im_end|>", J),          # an end-of-turn marker
    ("<judge>\nEasy one.</judge><think_off><answer>6</answer>", J),                 # the prompt's opener echoed
    ("Easy one.\n</judge>\n<think_off>\n<answer>6</answer>", ""),                  # opener in an unrecorded prompt
    ("<judge>Easy.</judge><think_off><answer>6</answer>", ""),
    ("\n</judge>\n<think_on>\n<think>\n\n</think>\n<answer>6</answer>", J),         # empty judge and thought
    ("ok</answer>", J + "</judge>\n<think_off>\n<answer>\n"),                       # forced off: the prefill
])
def test_kat_outputs_that_follow_the_grammar(text, prefix):
    parsed = parse_output(text, prefix)
    assert parsed.well_formed and parsed.answer_started and parsed.answer_closed


@pytest.mark.parametrize("text, prefix, why", [
    ("Hmm <think_off><answer>6</answer>", J, "judge never closed"),
    ("a</judge><think_on><think>t</think>\nmore</think><answer>6</answer>", J, "a second </think>"),
    ("a</judge><judge>b</judge><think_off><answer>6</answer>", J, "two judge blocks"),
    ("a</judge><think_off><think_on><answer>6</answer>", J, "two decisions"),
    ("a</judge><think_off><answer>6</answer><answer>7</answer>", J, "two answer blocks"),
    ("a</judge> so <think_off><answer>6</answer>", J, "text between blocks"),
    ("a</judge><think_off><answer>6</answer> Done!", J, "text after the answer"),
    ("a</judge><think_off><think>t</think><answer>6</answer>", J, "a thought after deciding not to think"),
    ("a</judge><think_on><answer>6</answer>", J, "decided to think, no thought"),
    ("a</judge><think_off><answer>\n</answer>", J, "an empty answer"),
    ("a</judge><think_off><answer>6 <think> 7</answer>", J, "a tag inside the answer"),
    ("a</judge><think_off><answer>6", J, "the answer never closed"),
    ("a</judge><think_off><answer>6</ans", J, "cut inside the closing tag"),
    ("a</judge><think_off>The answer is 6.", J, "no <answer> block"),
    ("a</judge><think_on>\nthinking\n</think>\n<answer>6</answer>", J, "thought without <think>"),
    ("<think_off><answer>6</answer>", "", "no judge at all"),
])
def test_kat_outputs_outside_the_grammar(text, prefix, why):
    assert not parse_output(text, prefix).well_formed, why


@pytest.mark.parametrize("text, prefix", [
    ("<think>\nwork\n</think>\n\nThe answer is 4.", ""),
    ("<think>\n\n</think>\n\nThe answer is 4.", ""),
    ("The answer is 4.", "<think>\n\n</think>\n\n"),
    ("work\n</think>\nThe answer is 4.<|im_end|>", "<think>\n"),     # R1: the prompt opened the thought
    ("work\n</think>\nThe answer is 4.", ""),                         # ... and was not recorded
    ("  The answer is 4.\n", ""),                                     # plain
    ("<think>w</think><answer>4</answer>", ""),                       # an answer block in place of bare text
])
def test_thinking_and_plain_outputs_that_follow_the_grammar(text, prefix):
    assert parse_output(text, prefix).well_formed


@pytest.mark.parametrize("text, prefix, why", [
    ("<think>\nwork and more work", "", "thought never closed"),
    ("<think>a</think>b</think>c", "", "a second </think>"),
    ("Sure! <think>a</think>b", "", "text before the thought"),
    ("<think>a</think>\n\n", "", "no answer after the thought"),
    ("<think>a</think>b<think>c</think>d", "", "two thoughts"),
    ("", "", "nothing at all"),
    ("<think>a</think>4 <answer>", "", "a tag inside the answer"),
    ("<think>a</think>4</thi", "", "half a tag at the end"),
])
def test_thinking_and_plain_outputs_outside_the_grammar(text, prefix, why):
    assert not parse_output(text, prefix).well_formed, why


def test_kat_answer_lives_only_in_the_answer_block():
    for text in ("Easy.</judge><think_off>\nThe answer is \\boxed{6}.",
                 "Hard.</judge><think_on><think>t</think>\nSo \\boxed{6}."):
        parsed = parse_output(text, J)
        assert not parsed.answer_started and parsed.answer == "" and not parsed.well_formed
        assert "boxed{6}" in texts(parsed, text, "other")    # recorded as other, not graded


def test_half_written_tag_at_a_cut_is_not_answer_text():
    parsed = parse_output("Easy.</judge><think_off>\n<ans", J)
    assert not parsed.answer_started and parsed.answer == ""
    text = "Easy.</judge><think_off>\n<answer>\\boxed{6}</answ"
    parsed = parse_output(text, J)
    assert parsed.answer == "\\boxed{6}" and not parsed.answer_closed
    assert texts(parsed, text, "other").endswith("</answ")
    qwen = parse_output("<think>a</think>The answer is 4.\n<", "")
    assert qwen.answer == "The answer is 4."


def test_answer_closed_only_when_the_closing_tag_came():
    assert parse_output("e</judge><think_off><answer>6</answer>", J).answer_closed
    assert not parse_output("e</judge><think_off><answer>6", J).answer_closed
    assert not parse_output("<think>a</think>The answer is 4.", "").answer_closed
    assert parse_output("<think>a</think><answer>4</answer>", "").answer_closed


def test_forgotten_think_opener_is_still_thinking():
    text = "Hard.</judge>\n<think_on>\nLet me work: 2+2=4.\n</think>\n<answer>\\boxed{4}</answer>"
    parsed = parse_output(text, J)
    assert parsed.mode == "on" and parsed.think == "Let me work: 2+2=4." and parsed.answer == "\\boxed{4}"
    assert texts(parsed, text, "think") == "\nLet me work: 2+2=4.\n</think>"
    assert "Let me" not in texts(parsed, text, "other")
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(text)
    counts = count_tokens(parsed, text, ids, tokenizer)
    assert counts.think_tokens == len("\nLet me work: 2+2=4.\n") + 1       # the text and the </think> token
    assert counts.other_tokens == 2   # the newlines after </judge> and after </think>
    assert counts.completion_tokens == len(ids) == sum(
        (counts.judge_tokens, counts.think_tokens, counts.answer_tokens, counts.other_tokens))


def test_forgotten_think_opener_cut_mid_thought_or_followed_by_an_answer():
    cut = parse_output("Hard.</judge><think_on>\nworking on it", J)
    assert cut.think == "working on it" and not cut.answer_started
    straight = parse_output("Hard.</judge><think_on>\nworking <answer>5</answer>", J)
    assert straight.think == "working" and straight.answer == "5"


def test_unclosed_judge_ends_at_the_decision():
    text = "I think this is easy <think_off><answer>7</answer>"
    parsed = parse_output(text, J)
    assert parsed.judge == "I think this is easy" and parsed.mode == "off" and parsed.answer == "7"


def test_thinking_model_answer_follows_the_last_thought():
    parsed = parse_output("<think>a</think>draft 3</think>final 4", "")
    assert parsed.answer == "final 4" and "draft 3" in parsed.think and parsed.mode == "on"


@pytest.mark.parametrize("text, prefix", [
    ("Hard.</judge>\n<think_on>\nt</think>\n<answer>4</answer>", J),
    ("a</judge><judge>b</judge><think_off><answer>6</answer>x", J),
    ("Easy.</judge><think_off>\n<ans", J),
    ("<think>a</think>b</think>c<|im_end|>", ""),
    ("work\n</think>\n4", "<think>\n"),
    ("<think>é中</think>ü<", ""),
])
def test_token_counts_still_add_up(text, prefix):
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(text)
    parsed = parse_output(text, prefix)
    counts = count_tokens(parsed, text, ids, tokenizer)
    assert parsed.segments[0].start == 0 and parsed.segments[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(parsed.segments, parsed.segments[1:]))
    assert counts.completion_tokens == len(ids) == sum(
        (counts.judge_tokens, counts.think_tokens, counts.answer_tokens, counts.other_tokens))
