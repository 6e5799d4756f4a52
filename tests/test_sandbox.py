"""The executor's three job kinds, the plain-data codec, limits, recovery and what it records for run.json."""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from kateval import sandbox
from kateval.sandbox import SandboxExecutor, isolation, make_executor
from kateval.sandbox.protocol import Unencodable, decode, encode
from kateval.types import ExecJob, ExecLimits, KatevalError

LIMITS = ExecLimits(timeout_per_test_s=1.5, timeout_total_s=6.0, memory_mb=512, output_bytes=1 << 16)


@pytest.fixture(scope="session")
def executor():
    pool = make_executor(workers=2, limits=LIMITS)
    yield pool
    pool.close()


def run_one(executor, job):
    return executor.run([job])[0]


def test_call_returns_exact_plain_values(executor):
    code = "def f(x):\n    return x\n"
    values = [None, True, 3, -2**80, 1.5, -0.0, 2j, "é", b"\x00", [1, [2]], (1, (2,)), {"a": (1,)}, {1, 2},
              frozenset({3}), {(1, 2): frozenset()}]
    result = run_one(executor, ExecJob("call", code, tuple((v,) for v in values), "f"))
    assert result.status == "completed"
    assert [t.status for t in result.tests] == ["ok"] * len(values)
    for outcome, value in zip(result.tests, values):
        assert outcome.value == value and type(outcome.value) is type(value)


def test_call_preserves_nan_and_infinities(executor):
    result = run_one(executor, ExecJob("call", "def f():\n    return [float('nan'), float('inf'), -float('inf')]",
                                       ((),), "f"))
    nan, inf, minus_inf = result.tests[0].value
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf


def test_call_with_solution_class_and_errors(executor):
    code = "class Solution:\n    def twice(self, x):\n        return 2 * x\n"
    result = run_one(executor, ExecJob("call", code, ((2,), ("a",), (None,), (4,)), "Solution.twice",
                                       stop_on_failure=False))
    assert [t.status for t in result.tests] == ["ok", "ok", "error", "ok"]
    assert [t.value for t in result.tests] == [4, "aa", None, 8]
    assert result.tests[2].error.startswith("TypeError")


def test_call_stops_on_first_failure(executor):
    result = run_one(executor, ExecJob("call", "def f(x):\n    return 1 // x", ((1,), (0,), (1,)), "f"))
    assert result.status == "completed"
    assert [t.status for t in result.tests] == ["ok", "error"]


def test_check_runs_each_test_in_the_judge_against_the_program(executor):
    code = "def add(a, b):\n    return a + b\n"
    tests = ("assert add(1, 2) == 3", "assert add(2, 2) == 5", "assert add(0, 0) == 0")
    result = run_one(executor, ExecJob("check", code, tests, "add", stop_on_failure=False))
    assert result.status == "completed"
    assert [t.status for t in result.tests] == ["ok", "error", "ok"]
    assert result.tests[1].error.startswith("AssertionError")


def test_check_load_error_is_a_runtime_error(executor):
    result = run_one(executor, ExecJob("check", "def broken(:\n", ("assert True",)))
    assert result.status == "runtime_error" and result.tests == ()
    assert "SyntaxError" in result.error


def test_check_entry_point_may_shadow_a_builtin(executor):
    code = "def sum(a, b):\n    return a - b\n"
    result = run_one(executor, ExecJob("check", code, ("assert sum(3, 1) == 2",), "sum"))
    assert [t.status for t in result.tests] == ["ok"]


def test_stdio_runs_main_per_input(executor):
    code = "import sys\nif __name__ == '__main__':\n    print(sum(map(int, sys.stdin.read().split())))\n"
    result = run_one(executor, ExecJob("stdio", code, ("1 2\n", "5 5 5\n", "x\n"), stop_on_failure=False))
    assert [t.status for t in result.tests] == ["ok", "ok", "error"]
    assert [t.value for t in result.tests[:2]] == ["3\n", "15\n"]
    assert "ValueError" in result.tests[2].error


def test_stdio_waits_for_threads_and_atexit_like_python(executor):
    code = ("import atexit, sys, threading, time\n"
            "def main():\n    time.sleep(0.2)\n    print(int(sys.stdin.readline()) * 2)\n"
            "atexit.register(lambda: print('bye'))\n"
            "threading.stack_size(1 << 26)\nthreading.Thread(target=main).start()\n")
    result = run_one(executor, ExecJob("stdio", code, ("21\n",)))
    assert result.tests[0].status == "ok" and result.tests[0].value == "42\nbye\n"


def test_stdio_has_numpy_and_a_scratch_dir(executor):
    code = "import numpy as np, os\nopen('f.txt', 'w').write('hi')\nprint(int(np.arange(4).sum()), os.getcwd())\n"
    result = run_one(executor, ExecJob("stdio", code, ("",)))
    assert result.tests[0].status == "ok", result
    assert result.tests[0].value.split()[0] == "6"


def test_timeout_and_memory_are_reported_apart(executor):
    jobs = [ExecJob("call", "def f():\n    while True:\n        pass", ((),), "f"),
            ExecJob("call", "def f():\n    return len(bytearray(4 << 30))", ((),), "f"),
            ExecJob("stdio", "x = ' ' * (4 << 30)", ("",))]
    loop, memory, stdio_memory = executor.run(jobs)
    assert loop.status == "timeout" and loop.tests[0].status == "timeout"
    assert memory.status == "memory" and memory.tests[0].status == "memory"
    assert stdio_memory.status == "memory"


def test_results_keep_job_order_across_workers(executor):
    jobs = [ExecJob("call", f"import time\ndef f():\n    time.sleep({0.05 * (i % 3)})\n    return {i}", ((),), "f")
            for i in range(12)]
    assert [r.tests[0].value for r in executor.run(jobs)] == list(range(12))


def test_job_limits_override_the_executor_limits(executor):
    busy = "import time\ndef f():\n    end = time.process_time() + 0.5\n    while time.process_time() < end:\n" \
           "        pass\n    return 1"
    tight = ExecLimits(timeout_per_test_s=0.2, timeout_total_s=2.0, memory_mb=512)
    assert run_one(executor, ExecJob("call", busy, ((),), "f", limits=tight)).status == "timeout"
    assert run_one(executor, ExecJob("call", busy, ((),), "f")).status == "completed"
    assert executor.limits_for(ExecJob("call", "", ())) == LIMITS


def test_time_limits_count_cpu_and_cap_wall_time(executor):
    limits = ExecLimits(timeout_per_test_s=0.3, timeout_total_s=2.0, memory_mb=512)
    sleeper = ExecJob("call", "import time\ndef f(s):\n    time.sleep(s)\n    return s", ((0.5,), (60.0,)), "f",
                      limits=limits)
    result = run_one(executor, sleeper)
    assert [t.status for t in result.tests] == ["ok", "timeout"]   # 0.5 s asleep is no CPU; then the wall cap
    assert result.wall_s < 3 * 0.3 + 5.0 + 1.0


def test_describe_records_isolation_and_limits(executor):
    described = executor.describe()
    assert described["isolation"] in ("bwrap+uid", "bwrap", "uid", "rlimits")
    assert described["limits"]["memory_mb"] == 512
    assert described["workers"] == 2
    assert (described["warning"] is None) == described["isolation"].startswith("bwrap")


def test_codec_round_trips_and_rejects_malformed():
    values = [None, 1, 2**70, -2**70, 0.1, float("inf"), 1 + 2j, b"ab", "s", [1, (2, {3: frozenset({4})})], {1, 2},
              "\ud800 lone", 10 ** 5000]
    for value in values:
        assert decode(encode(value)) == value
    for bad in ({"X": 1}, {"I": 5}, {"D": [[[1], 2]]}, {"S": [[1]]}, {"F": "1.0"}, {"a": 1, "b": 2}, {"H": 1},
                {"R": "int"}, {"I": "zz"}, {"N": ["object", 1]}, {"A": ["float64", [3], [1.0]]}):
        with pytest.raises(ValueError):
            decode(bad)


def test_encode_rejects_subclasses_and_objects():
    class Int(int):
        pass

    looped: list = []
    looped.append(looped)
    for value in (Int(1), [Int(1)], object(), {1: object()}, looped, True.__class__):
        with pytest.raises((Unencodable, RecursionError)):
            encode(value)


def test_check_entry_point_may_return_stdlib_dict_variants(executor):
    code = ("from collections import Counter, defaultdict\n"
            "def f(items):\n    return Counter(items) if items else defaultdict(list, a=[1])\n")
    tests = ("assert f('aab') == {'a': 2, 'b': 1}", "assert f('') == {'a': [1]}")
    assert [t.status for t in run_one(executor, ExecJob("check", code, tests, "f")).tests] == ["ok", "ok"]
    class_code = "from collections import Counter\nclass C(Counter):\n    pass\ndef f(items):\n    return C(items)\n"
    assert run_one(executor, ExecJob("check", class_code, tests[:1], "f")).tests[0].status == "error"


def test_without_bwrap_it_warns_records_and_still_isolates_what_it_can(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    with pytest.warns(RuntimeWarning, match="bubblewrap is not installed"):
        fallback = isolation.detect()
    assert fallback.level == ("uid" if os.geteuid() == 0 and real_which("setpriv") else "rlimits")
    if fallback.level == "rlimits" and os.geteuid() == 0:
        pytest.skip("would run test programs as root")
    pool = SandboxExecutor(fallback, 1, LIMITS)
    try:
        code = "import os\ndef f(x):\n    open('scratch.txt', 'w').write('x')\n    return [x + 1, os.getuid()]\n"
        result = pool.run([ExecJob("call", code, ((1,),), "f")])[0]
        described = pool.describe()
    finally:
        pool.close()
    value, uid = result.tests[0].value
    assert value == 2
    if fallback.level == "uid":
        assert uid not in (0, os.getuid())
    assert described["isolation"] == fallback.level and "network" in described["warning"]


def test_numpy_values_come_back_as_numpy_values(executor):
    code = "import numpy as np\ndef f(x):\n    return np.float64(x) / 2 if x else np.arange(2)\n"
    tests = ("assert abs(f(1) - 0.5) < 1e-9 and type(f(1)).__name__ == 'float64'", "assert list(f(0)) == [0, 1]",
             "assert f(0) == [0, 1]")   # an array's truth value is ambiguous, as it would be beside the program
    result = run_one(executor, ExecJob("check", code, tests, "f", stop_on_failure=False))
    assert [t.status for t in result.tests] == ["ok", "ok", "error"], result
    called = run_one(executor, ExecJob("call", code, ((1,), (0,)), "f"))
    assert [type(t.value).__name__ for t in called.tests] == ["float64", "ndarray"]


def test_a_sandbox_that_cannot_start_is_a_one_line_error(monkeypatch):
    broken = isolation.Isolation("bwrap+uid" if os.geteuid() == 0 else "bwrap", "/nonexistent/python3")
    monkeypatch.setattr(sandbox, "detect", lambda: broken)
    with pytest.raises(KatevalError, match="sandbox worker failed to start"):
        make_executor(workers=1, limits=LIMITS)


def test_weak_levels_wipe_the_scratch_dir_whatever_was_left(tmp_path):
    """Without per-job namespaces the scratch dir is wiped: chmod 0 and depth cannot keep anything."""
    from kateval.sandbox.server import wipe

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    here = os.open(scratch, os.O_RDONLY)
    for _ in range(3000):   # deeper than PATH_MAX: made (and wiped) one directory fd at a time
        os.mkdir("d", dir_fd=here)
        inner = os.open("d", os.O_RDONLY, dir_fd=here)
        os.close(here)
        here = inner
    os.close(os.open("state", os.O_CREAT | os.O_WRONLY, dir_fd=here))
    os.fchmod(here, 0)
    os.close(here)
    hidden = scratch / "hidden" / "inner"
    hidden.mkdir(parents=True)
    (hidden / "state").write_text("left")
    hidden.chmod(0)
    (scratch / "hidden").chmod(0)
    (scratch / "link").symlink_to("/etc/passwd")
    wipe(str(scratch))
    assert list(scratch.iterdir()) == [] and Path("/etc/passwd").exists()


def recorded_plan(executor, reference, trusted_code, entry="f"):
    record = run_one(executor, ExecJob("check", reference, ("check(f)",), entry, trusted_code=trusted_code,
                                       trusted=True))
    assert record.status == "completed" and record.tests[0].status == "ok", record
    return record.tests[0].value


REPLAYS = {
    # the check's next call depends on the program's answer: a wrong program makes it ask another call
    "calls chosen by answers": (("def check(f):\n    if f(1) == 2:\n        assert f(10) == 11\n    else:\n"
                                "        assert f(20) == 21\n"),
                                "def f(x):\n    return x + 1\n", "def f(x):\n    return x + 5\n"),
    # the program's exception caught by the check, which goes on
    "exception caught": (("def check(f):\n    try:\n        f(0)\n        assert False\n    except ValueError:\n"
                         "        pass\n    assert f(2) == 4\n"),
                         "def f(x):\n    if x == 0:\n        raise ValueError\n    return 2 * x\n",
                         "def f(x):\n    return 2 * x\n"),
    # an object of the program's: its truth value is asked live
    "object's truth value": ("def check(f):\n    assert f(1)\n    assert not f(0)\n",
                             "def f(x):\n    return x > 0\n",
                             ("class A:\n    def __init__(self, x):\n        self.x = x\n"
                             "    def __bool__(self):\n        return self.x == 0\ndef f(x):\n    return A(x)\n")),
    # stateful: the calls reach one process in the same order either way
    "state across calls": ("def check(f):\n    assert [f(1), f(1), f(1)] == [101, 102, 103]\n",
                           "n = [100]\ndef f(x):\n    n[0] += x\n    return n[0]\n",
                           "def f(x):\n    return x\n"),
}


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_a_replayed_check_gives_the_live_verdict(executor, name):
    """With a plan, a check is replayed on the program's batch of answers; wherever the tests would ask for
    anything else it runs live. Either way the verdict is the live one."""
    from dataclasses import replace

    trusted_code, right, wrong = REPLAYS[name]
    plan = recorded_plan(executor, right, trusted_code)
    assert plan, name
    for program, passes in ((right, True), (wrong, False)):
        job = ExecJob("check", program, ("check(f)",), "f", trusted_code=trusted_code, plan=plan)
        replayed, live = executor.run([job, replace(job, plan=None)])
        assert [t.status for t in replayed.tests] == [t.status for t in live.tests], (name, replayed, live)
        assert (replayed.tests[0].status == "ok") is passes, (name, program, replayed)


@pytest.mark.parametrize("trusted_code", ["def check(f):\n    x = f(1)\n    assert f(x) == 3\n",
                                          "def check(f):\n    x = f(1)\n    assert f([0, {'k': (x,)}]) == 3\n"])
def test_no_plan_hands_the_program_an_answer_of_the_reference(executor, trusted_code):
    """A test that feeds an answer into a later call: a plan would show the program the reference's answer among
    the later call's arguments, so there is none and the program answers live."""
    right = "def f(x):\n    return 2 if x == 1 else 3\n"
    assert recorded_plan(executor, right, trusted_code) is None
    for program, passes in ((right, True), ("def f(x):\n    return 5 if x == 1 else 4\n", False)):
        record = run_one(executor, ExecJob("check", program, ("check(f)",), "f", trusted_code=trusted_code))
        assert (record.tests[0].status == "ok") is passes, (program, record)


def test_no_plan_is_recorded_where_the_tests_use_program_objects(executor):
    trusted_code = "p = Pair(1, 2)\ndef check(f):\n    assert f(p) == 3\n"
    reference = "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\ndef f(p):\n    return p.a + p.b\n"
    record = run_one(executor, ExecJob("check", reference, ("check(f)",), "f", trusted_code=trusted_code,
                                       names=("Pair",), trusted=True))
    assert record.tests[0].status == "ok" and record.tests[0].value is None, record
