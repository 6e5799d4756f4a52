"""AIME answer extraction and comparison."""
import pytest

from kateval.mathgrade import extract_answer, matches_integer


@pytest.mark.parametrize("answer, expected", [
    ("so \\boxed{12} and then \\boxed{34}", "34"),                 # the last box wins
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),                     # nested braces
    ("Thus the final answer is 073.", "073"),
    ("We get 3 apples and 5 pears, total 8", "8"),                 # last integer
    ("no digits here", None),
])
def test_extract_answer(answer, expected):
    assert extract_answer(answer) == expected


@pytest.mark.parametrize("extracted, gold, ok", [
    ("073", 73, True), ("0", 0, True), ("1,000", 1000, False), ("999", 999, True),
    ("$25$", 25, True), ("25^\\circ", 25, True), ("\\text{25}", 25, True),
    ("\\frac{50}{2}", 25, True), ("2^{5}", 32, True), ("26", 25, False), ("x+1", 25, False),
])
def test_matches_integer(extracted, gold, ok):
    assert matches_integer(extracted, gold) is ok
