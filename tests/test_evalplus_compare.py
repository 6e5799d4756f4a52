"""HumanEval+/MBPP+ output comparison in the trusted parent: a long output comes back as a digest that compares as
evalplus's == does (ints, bools and whole floats alike; dicts and sets in any order), and an output holding a
float comes back whole, for evalplus's tolerance."""
import random

import numpy as np
import pytest

from kateval.tasks.evalplus import (
    DIGEST_OVER,
    ENTRY_WRAPPER,
    ENTRY_WRAPPER_CODE,
    WRAPPER_HELPERS,
    canonical,
    evalplus_equal,
    holds_float,
    is_digest,
    sequence_digest,
)


@pytest.mark.parametrize("a, b", [
    ([1, 2, 3], [1.0, 2.0, 3.0]), ([True, False], [1, 0]), ((1, "a"), (1.0, "a")),
    ({"x": 1, "y": [2]}, {"y": [2.0], "x": 1}), ({3, 1, 2}, frozenset({2, 3, 1})), ([complex(2, 0)], [2]),
    ([np.int64(7), np.float64(2.0)], [7, 2]), ([[1, (2,)], []], [[1.0, (2,)], []]),
])
def test_canonical_text_is_shared_by_equal_values(a, b):
    assert a == b and canonical(a) == canonical(b)


@pytest.mark.parametrize("a, b", [
    ([1, 2], (1, 2)), ([1], [1, 1]), (["1"], [1]), ([1.5], [1.0]), ([{1: 2}], [{1: 3}]), ([None], [0]),
    ([("a", "b")], [("a,b",)]), (["a', 'b"], ["a", "b"]), ([b"x"], ["x"]), ({1, 2}, {1: 2}),
])
def test_canonical_text_differs_for_unequal_values(a, b):
    assert a != b and canonical(a) != canonical(b)


def test_fast_path_writes_the_same_text_as_the_general_one():
    rng = random.Random(0)
    plain = [lambda: rng.randint(-9, 9), lambda: rng.choice(["a", "b'", 'c"', ""]), lambda: None, lambda: b"z"]
    for _ in range(300):
        items = [rng.choice(plain)() for _ in range(rng.randint(0, 4))]
        value = tuple(items) if rng.random() < 0.5 else items
        assert canonical(value) == repr(value)
        # the same value with a bool in it takes the general path and must write the same text
        with_bool = type(value)([True if item == 1 and type(item) is int else item for item in value])
        assert canonical(with_bool) == canonical(value)


def test_holds_float():
    assert not holds_float([("a", 1), [2, None], {"k": 3}, {4}])
    assert holds_float([("a", 1.0)]) and holds_float({"k": 2.5}) and holds_float([[complex(1, 1)]])
    assert holds_float([np.float32(1.0)]) and not holds_float([np.int32(1)])


def run_wrapper(output, atol_task=False):
    """The sandbox side of a call job, run here on a plain function returning `output`."""
    namespace = {}
    source = "def f(*args):\n    return OUTPUT\n" + ENTRY_WRAPPER_CODE.format(
        helpers=WRAPPER_HELPERS, name=ENTRY_WRAPPER, entry="f", value="out", long=None if atol_task else DIGEST_OVER)
    exec(source, namespace)  # noqa: S102 - kateval's own wrapper source, the code the sandbox runs
    namespace["OUTPUT"] = output
    return namespace[ENTRY_WRAPPER]()


def test_wrapper_digests_long_outputs_without_floats_only():
    long_ints = list(range(DIGEST_OVER + 1))
    assert is_digest(run_wrapper(long_ints)) and run_wrapper(long_ints) == sequence_digest(long_ints)
    assert run_wrapper(long_ints[:DIGEST_OVER]) == long_ints[:DIGEST_OVER]          # not long: whole
    with_float = long_ints[:-1] + [0.5]
    assert run_wrapper(with_float) == with_float                                      # a float: whole
    assert run_wrapper(long_ints, atol_task=True) == long_ints                        # a tolerance: whole


def compare(out, exp, atol=0.0):
    return evalplus_equal("humaneval", "f", (), out, exp, atol)[0]


def test_digests_compare_as_evalplus_compares_values():
    ints = list(range(DIGEST_OVER + 5))
    floats = [float(x) for x in ints]
    assert compare(sequence_digest(ints), sequence_digest(ints))
    assert compare(floats, sequence_digest(ints))            # a whole float list against an int digest: ==
    assert compare(sequence_digest(ints), floats)
    assert not compare(sequence_digest(ints[:-1] + [-1]), sequence_digest(ints))
    assert not compare(sequence_digest(tuple(ints)), sequence_digest(ints))   # a tuple is not a list
    nudged = [x + 0.25 for x in floats]
    assert not compare(nudged, sequence_digest(ints))


def test_short_outputs_keep_evalplus_tolerance():
    assert compare([1.0, 2.0000000001], [1.0, 2.0])          # is_floats: atol 1e-6
    assert not compare([1.0, 2.1], [1.0, 2.0])
    assert compare([1, 2], [1.0, 2.0])                       # == holds
    ok, atol = evalplus_equal("humaneval", "f", (), sequence_digest(list(range(3))), [0.0, 1.0, 2.0], 0)
    assert ok and atol == 1e-6                               # evalplus raises atol for the inputs after a float one
