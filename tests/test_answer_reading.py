"""Reading a math solution's final answer: the value a phrase introduces, the final statement, hedges, cuts, and
the best of kateval's reading and math-verify's (README, "How a math answer is read")."""
import pytest

from kateval.mathgrade import answer_key, read_answer
from kateval.tasks.aime import grade_integer_answer


@pytest.mark.parametrize("text, expected", [
    # the value a phrase introduces, past emphasis, wrappers and filler words
    ("**Answer:** **417**", "417"),
    ("ANSWER: __58__", "58"),
    ("Hence the answer is **the number** 907.", "907"),
    ("The answer is therefore exactly 12.", "12"),
    ("The answer is, therefore, 12.", "12"),
    ("\\textbf{Final Answer:} 640", "640"),
    ("So our final answer is $\\mathbf{76}$.", "76"),
    ("The answer to the problem is 250.", "250"),
    ("The final answer is \\( 31 \\).", "31"),
    ("Final answer:\n\n$$ 505 $$", "505"),
    ("### Final Answer\n\n118", "118"),
    # the result the statement arrives at
    ("The answer is $p+q = 23 + 9 = 32$.", "32"),
    ("Answer: 100 - 4 = 96", "96"),
    # the final statement wins when the text corrects itself
    ("The answer is 34. Wait, that double counts. The answer is 17.", "17"),
    ("\\boxed{50}\n\nHmm, I mis-added. Actually \\boxed{52}.", "52"),
    ("Answer: 9\n... on reflection the final answer is 10", "10"),
    # a phrase that introduces no value states nothing; the fallback still works
    ("The answer is not 34. Counting again gives 33 in total", "33"),
    ("To check the answer, note that 7 cases remain, so 14", "14"),
    ("What is the answer? We compute 6 * 7 = 42", "42"),
    ("We get 3 apples and 5 pears, total 8", "8"),
    ("x = \\tfrac13 and the sum is 55", "55"),        # 13 is not a standalone number, 55 is
    ("no number here at all", None),
])
def test_finished_text(text, expected):
    assert read_answer(text).answer == expected


@pytest.mark.parametrize("text, alternatives", [
    ("either \\boxed{118} or \\boxed{119}", {"118", "119"}),
    ("\\boxed{118} (or possibly \\boxed{119})", {"118", "119"}),
    ("The answer is \\boxed{118}. Alternatively, \\boxed{119}.", {"118", "119"}),
    ("\\boxed{118}, \\boxed{119}", {"118", "119"}),
    ("\\boxed{118 \\text{ or } 119}", {"118", "119"}),
    ("\\boxed{118, 119}", {"118", "119"}),
    ("The answer is either 118 or 119.", {"118", "119"}),
    ("The answer is 118 (or 119 if the ends count).", {"118", "119"}),
])
def test_alternatives_offered_together_are_a_hedge(text, alternatives):
    reading = read_answer(text)
    assert reading.problem == "hedge" and reading.answer is None
    assert {answer_key(a) for a in reading.alternatives} == alternatives


@pytest.mark.parametrize("text, expected", [
    ("so \\boxed{12} and then \\boxed{34}", "34"),                  # a sequence, not alternatives
    ("\\boxed{118} or, written differently, \\boxed{118.0}", "118.0"),   # one value twice
    ("\\boxed{1,000}", "1,000"),                                    # a thousands separator is no list
    ("The answer is 118 or so.", "118"),
    ("\\boxed{20}. Wait, I dropped a case: the answer is \\boxed{21}.", "21"),
])
def test_not_a_hedge(text, expected):
    assert read_answer(text).answer == expected


@pytest.mark.parametrize("text", [
    "The answer is \\boxed{25",                 # the box never closed
    "so the final answer is $\\boxed{",
    "Therefore the answer is 23",               # 23 could have become 230
    "Therefore the answer is 23 ",
    "Therefore the answer is $23",              # the math never closed
    "Thus the answer is",                       # the final statement is unfinished
    "\\boxed{23}. Let me double-check; the final answer is",
    "We have x = \\tfrac13, and then",          # no final answer yet: nothing made up from the working
    "**Final Answer**\n\n",
])
def test_cut_text_without_a_finished_final_statement_has_no_answer(text):
    reading = read_answer(text, cut=True)
    assert reading.answer is None and reading.problem == "unfinished"


@pytest.mark.parametrize("text, expected", [
    ("The answer is 23.", "23"),
    ("The answer is 23\nLet me verify this by", "23"),
    ("The answer is **23** and that", "23"),
    ("\\boxed{23}\n\nTo double-check, 5 * 5 = 2", "23"),    # a finished box stays finished
    ("The answer is $23$", "23"),
])
def test_cut_text_keeps_a_finished_final_statement(text, expected):
    assert read_answer(text, cut=True).answer == expected


@pytest.mark.parametrize("text", ["The answer is \\boxed{25", "The final answer is:", "\\boxed{}"])
def test_unfinished_statement_in_finished_text_is_no_answer(text):
    assert grade_integer_answer(text, 25, cut=False).status == "no_answer"


@pytest.mark.parametrize("text, gold", [
    ("\\boxed{33.}", 33), ("The answer is 33°.", 33), ("\\boxed{33^\\circ}", 33), ("Answer: ３３", 33),
    ("\\boxed{０７３}", 73), ("\\boxed{\\text{33}}", 33), ("\\boxed{\\boxed{33}}", 33), ("\\boxed{m+n=33}", 33),
    ("\\boxed{\\dfrac{66}{2}}", 33), ("\\boxed{3 \\cdot 11}", 33), ("The answer is 33.0", 33),
])
def test_kateval_reads_forms_of_an_integer(text, gold):
    grade = grade_integer_answer(text, gold, cut=False)
    assert grade.correct and grade.status == "correct"


@pytest.mark.parametrize("text, gold", [
    ("Adding the parts, the total comes to $\\frac{150}{6}$.", 25),   # no statement: math-verify's reading
    ("So $N = 5^2$ in the end.", 25),
])
def test_math_verify_credits_what_kateval_cannot_read(text, gold):
    grade = grade_integer_answer(text, gold, cut=False)
    assert grade.correct and grade.details["answer_source"] == "math_verify"


def test_explicit_wrong_answer_is_not_overruled_by_math_verify():
    grade = grade_integer_answer("At first I had $\\frac{50}{2}$; the answer is \\boxed{24}.", 25, cut=False)
    assert not grade.correct and grade.extracted_answer == "24" and grade.status == "wrong_answer"


def test_hedge_is_not_credited_even_where_math_verify_would_be():
    grade = grade_integer_answer("The answer is 33 or 34.", 33, cut=False)
    assert not grade.correct and grade.status == "no_answer" and set(grade.details["hedge"]) == {"33", "34"}


@pytest.mark.parametrize("text, cut, status", [
    ("The answer is \\boxed{25", True, "truncated"),
    ("We have x = \\tfrac13", True, "truncated"),
    ("", True, "truncated"),
    ("", False, "no_answer"),
    ("The answer is \\boxed{24}.", True, "wrong_answer"),
    ("The answer is \\boxed{25}.", True, "correct"),
])
def test_grade_statuses(text, cut, status):
    assert grade_integer_answer(text, 25, cut).status == status


@pytest.mark.parametrize("text", ["\\boxed{" + "9" * 5000 + "}", "The answer is " + "1" * 4301 + ".",
                                  "\\boxed{-" + "0" * 4400 + "25}", "\\boxed{" + "0" * 5000 + "25}"])
def test_an_integer_past_4300_digits_is_read_and_graded_like_any_other(text):
    # int() refuses such a string; the grade must not become a grading failure, nor maj@n's key raise.
    grade = grade_integer_answer(text, 25, cut=False)
    assert grade.status in ("correct", "wrong_answer")
    assert grade.correct is (answer_key(grade.extracted_answer) == "25")
    assert len(answer_key(grade.extracted_answer)) <= len(grade.extracted_answer)


@pytest.mark.parametrize("text", ["\\boxed{25} is the answer", "**25** is the final answer",
                                  "\\boxed{25}\n\n**Final Answer**", "So \\boxed{25} is my final answer**\n"])
def test_a_phrase_that_ends_finished_text_pointing_back_is_no_statement(text):
    # It names an answer given before it; only a phrase that points ahead (`is`, `:`, `=`) and ends there is unfinished.
    grade = grade_integer_answer(text, 25, cut=False)
    assert grade.correct and grade.extracted_answer == "25"
