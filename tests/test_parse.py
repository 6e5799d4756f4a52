"""The AutoThink parser on every output format the spine supports."""
from kateval.parse import parse_output

KAT_ON = "Hard problem.\n</judge>\n<think_on>\n<think>\nx = \\boxed{7}\n</think>\n<answer>\nSo \\boxed{12}\n</answer>"
KAT_OFF = "Easy.\n</judge>\n<think_off>\n<answer>\n\\boxed{5}\n</answer>"


def _texts(parsed, text):
    return {seg.kind: text[seg.start:seg.end] for seg in parsed.segments}


def test_kat_think_on_with_generation_prefix():
    parsed = parse_output(KAT_ON, prefix="<judge>\n")
    assert parsed.mode == "on" and parsed.well_formed and parsed.answer_started
    assert parsed.judge == "Hard problem."
    assert parsed.think == "x = \\boxed{7}"
    assert parsed.answer == "So \\boxed{12}"
    assert [s.kind for s in parsed.segments] == ["judge", "other", "judge", "other", "think", "other", "answer"]


def test_kat_think_off():
    parsed = parse_output(KAT_OFF, prefix="<judge>\n")
    assert parsed.mode == "off" and parsed.well_formed
    assert parsed.answer == "\\boxed{5}" and parsed.think == ""


def test_kat_output_without_prefix_starts_inside_judge():
    parsed = parse_output(KAT_OFF)
    assert parsed.judge == "Easy." and parsed.mode == "off" and parsed.well_formed


def test_kat_output_that_repeats_judge():
    parsed = parse_output("<judge>\n" + KAT_ON, prefix="<judge>\n")
    assert parsed.judge == "Hard problem." and parsed.mode == "on" and parsed.well_formed
    assert parsed.segments[0].kind == "judge" and parsed.segments[0].start == 0


def test_segments_cover_the_completion_exactly():
    for text, prefix in ((KAT_ON, "<judge>\n"), (KAT_OFF, ""), ("<think>a</think>b", ""), ("plain", "")):
        parsed = parse_output(text, prefix)
        assert parsed.segments[0].start == 0 and parsed.segments[-1].end == len(text)
        assert all(a.end == b.start for a, b in zip(parsed.segments, parsed.segments[1:]))


def test_truncated_while_thinking_has_no_answer():
    parsed = parse_output("Hmm.\n</judge>\n<think_on>\n<think>\nthe answer is \\boxed{42} maybe", prefix="<judge>\n")
    assert parsed.mode == "on" and not parsed.answer_started and not parsed.well_formed
    assert parsed.answer == "" and "boxed{42}" in parsed.think


def test_truncated_inside_judge():
    parsed = parse_output("This looks", prefix="<judge>\n")
    assert parsed.mode == "none" and not parsed.answer_started


def test_decided_on_but_thought_never_began():
    parsed = parse_output("x\n</judge>\n<think_on>\n", prefix="<judge>\n")
    assert parsed.mode == "on" and not parsed.answer_started


def test_qwen3_thinking_and_empty_think_block():
    on = parse_output("<think>\nlet me see\n</think>\n\nThe answer is 3.")
    assert on.mode == "on" and on.answer == "The answer is 3." and on.well_formed
    off = parse_output("<think>\n\n</think>\n\nThe answer is 3.")
    assert off.mode == "off" and off.answer == "The answer is 3."


def test_qwen3_non_thinking_prefix_from_template():
    parsed = parse_output("The answer is 3.", prefix="<think>\n\n</think>\n\n")
    assert parsed.mode == "off" and parsed.answer == "The answer is 3."
    assert [s.kind for s in parsed.segments] == ["answer"]


def test_r1_lone_closing_think():
    parsed = parse_output("I compute 2+2 = \\boxed{5}?\n</think>\nFinal: \\boxed{4}", prefix="<think>\n")
    assert parsed.mode == "on" and parsed.answer == "Final: \\boxed{4}"
    parsed_no_prefix = parse_output("I compute.\n</think>\nFinal: \\boxed{4}")
    assert parsed_no_prefix.mode == "on" and parsed_no_prefix.answer == "Final: \\boxed{4}"


def test_answer_tag_inside_thought_is_not_the_answer():
    text = "j</judge><think_on><think>draft <answer>\\boxed{1}</answer></think><answer>\\boxed{2}</answer>"
    parsed = parse_output(text, "<judge>")
    assert parsed.answer == "\\boxed{2}" and "boxed{1}" in parsed.think


def test_plain_output_is_all_answer():
    parsed = parse_output("The result is 17.")
    assert parsed.mode == "none" and parsed.answer == "The result is 17." and parsed.well_formed
    assert [s.kind for s in parsed.segments] == ["answer"]


def test_two_decisions_is_not_well_formed():
    parsed = parse_output("j</judge><think_off><think_on><answer>1</answer>", "<judge>")
    assert not parsed.well_formed


def test_text_after_answer_is_other():
    text = "j</judge><think_off><answer>1</answer>\n<|im_end|>"
    parsed = parse_output(text, "<judge>")
    assert _texts(parsed, text)["other"].endswith("<|im_end|>")
