"""Programs written to beat the grader: forged passes, objects that equal everything, redefined helpers, reaching
the judge, the server or the host. Each test asserts the verdict, that nothing reached the host, and that a right
and a wrong program graded after it on the same worker are graded right (hostile.with_controls)."""
from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from hostile import (
    CHECK,
    LIMITS,
    RIGHT,
    SERVER_PROCESSES,
    WRONG,
    call_job,
    check_job,
    host_processes_with,
    passed,
    sandbox_processes,
    with_controls,
)

from kateval.sandbox import make_executor
from kateval.sandbox.isolation import BASE_ENV
from kateval.types import ExecJob, ExecLimits

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def executor():
    pool = make_executor(workers=1, limits=LIMITS)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def isolated(executor):
    if not executor.describe()["isolation"].startswith("bwrap"):
        pytest.skip("bubblewrap isolation not available here")
    return executor


# ---------------------------------------------------------------- forging a pass
@pytest.mark.parametrize("escape", [
    "import sys\nsys.exit(0)",
    "import os\nos._exit(0)",
    "raise SystemExit",
    "import atexit, os\natexit.register(lambda: print('passed'))\nos._exit(0)",
    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
])
def test_ending_early_is_not_a_pass(executor, escape):
    at_top = check_job(WRONG + escape)
    inside = check_job("def f(x):\n" + "\n".join("    " + line for line in escape.splitlines()))
    top, in_function, called = with_controls(executor, at_top, inside, call_job(WRONG + escape))
    assert not passed(top) and top.status == "runtime_error"
    assert not passed(in_function) and in_function.tests[0].status == "error"
    assert not passed(called) and called.status == "runtime_error"


FORGERIES = {
    # frames that say "loaded" and answer every call with what a pass needs, written ahead of any request
    "frames ahead": ("import os, struct, json\n"
                     "def frame(kind, body):\n    data = kind + json.dumps(body).encode()\n"
                     "    os.write(4, struct.pack('>I', len(data)) + data)\n"
                     "for value in (5, 7) * 50:\n    frame(b'v', value)\n" + WRONG),
    # the judge's own report format, written on every fd the program holds
    "fake reports": ("import os, json, struct\n"
                     "for message in ({'load': 'ok'}, {'test': 0, 'status': 'ok'}, {'done': True}):\n"
                     "    data = json.dumps(message).encode()\n"
                     "    for fd in range(3, 64):\n        try:\n"
                     "            os.write(fd, struct.pack('>I', len(data)) + data)\n"
                     "        except OSError:\n            pass\n" + WRONG),
    # a trace function that swaps whatever the function returns
    "trace swap": ("import sys\ndef f(x):\n    return 0\n"
                   "def tracer(frame, event, arg):\n    if event == 'return' and frame.f_code.co_name == 'f':\n"
                   "        frame.f_locals['__return__'] = 5\n    return tracer\nsys.settrace(tracer)\n"),
    # walking the garbage collector for anything that looks like the harness's verdict machinery
    "gc walk": ("import gc\nfor obj in gc.get_objects():\n    if callable(obj) and getattr(obj, '__name__', '') in "
                "('emit', 'report', '_send', 'answer'):\n        obj.__globals__['__builtins__'] = {}\n" + WRONG),
    # replacing the harness's encoder and json so that every value looks right
    "patched harness": ("import json, sys\nfor module in list(sys.modules.values()):\n"
                        "    for name in ('dumps', 'encode'):\n        if hasattr(module, name):\n"
                        "            try:\n                setattr(module, name, lambda *a, **k: b'5')\n"
                        "            except (AttributeError, TypeError):\n                pass\n" + WRONG),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forging_answers_or_reports_from_inside_the_program_fails(executor, name):
    code = FORGERIES[name]
    checked, called = with_controls(executor, check_job(code), call_job(code))
    assert not passed(checked), (name, checked)
    assert not (passed(called) and [t.value for t in called.tests] == [5, 7]), (name, called)


ALWAYS_EQUAL = {
    "python class": "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
                    "def f(x):\n    return A()\n",
    "int subclass": "class A(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                    "def f(x):\n    return A(1)\n",
    "mock ANY": "from unittest import mock\ndef f(x):\n    return mock.ANY\n",
    "numpy iterator": "import numpy as np\ndef f(x):\n    return np.nditer(np.array([5, 7]))\n",
    "ctypes type": ("import ctypes\nclass S(ctypes.Structure):\n    _fields_ = [('x', ctypes.c_int)]\n"
                    "S.__eq__ = lambda self, other: True\ndef f(x):\n    return S()\n"),
    "builtin patched": "import builtins\nbuiltins.int.__eq__ if False else None\ndef f(x):\n    return NotImplemented\n",
    "str subclass": "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
                    "def f(x):\n    return S('x')\n",
    "numpy always-equal array": "import numpy as np\ndef f(x):\n    return np.ones(2, dtype=object)\n",
}


@pytest.mark.parametrize("name", sorted(ALWAYS_EQUAL))
def test_objects_that_equal_everything_never_pass(executor, name):
    code = ALWAYS_EQUAL[name]
    checked, called, truthy = with_controls(
        executor, check_job(code), call_job(code),
        check_job(code, trusted_code="def check(candidate):\n    assert candidate(2) == 5 and candidate(2) == 'x'\n"))
    assert not passed(checked) and not passed(truthy), (name, checked, truthy)
    assert all(t.status == "error" or type(t.value) in (int, str, bool) for t in called.tests), (name, called)
    assert not any(t.status == "ok" and t.value in (5, 7) and t.value is not True for t in called.tests)


HELPER_CHECK = ("def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n"
                "def check(candidate):\n    assert abs(poly([-6, 11, -6, 1], candidate([-6, 11, -6, 1]))) < 1e-6\n")


@pytest.mark.parametrize("redefinition", [
    "def poly(xs, x):\n    return 0\n",
    "import builtins\nbuiltins.abs = lambda x: 0\n",
    "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n",
    "import math\nmath.isclose = lambda *a, **k: True\n",
])
def test_the_tests_helpers_and_builtins_are_the_datas_not_the_programs(executor, redefinition):
    wrong = redefinition + "def f(xs):\n    return 42.0\n"
    right = redefinition + "def f(xs):\n    return 1.0\n"
    wrong_result, right_result = with_controls(executor, check_job(wrong, trusted_code=HELPER_CHECK),
                                               check_job(right, trusted_code=HELPER_CHECK))
    assert not passed(wrong_result) and wrong_result.tests[0].error.startswith("AssertionError"), wrong_result
    assert passed(right_result), right_result


def test_the_program_process_holds_no_test_code_and_no_expected_value(executor):
    marker = f"kateval-expected-{uuid.uuid4().hex}"
    trusted = CHECK + f"EXPECTED = {marker!r}\n"
    scan = ("import os\ndef f(x):\n    found = []\n"
            "    with open('/proc/self/maps') as maps:\n        regions = [l.split() for l in maps]\n"
            "    with open('/proc/self/mem', 'rb', 0) as mem:\n"
            "        for region in regions:\n"
            "            start, end = (int(v, 16) for v in region[0].split('-'))\n"
            "            if 'r' not in region[1] or end - start > 1 << 28:\n                continue\n"
            "            try:\n                mem.seek(start)\n"
            f"                found.append({marker[:20]!r}.encode() in mem.read(end - start))\n"
            "            except (OSError, ValueError, OverflowError):\n                pass\n"
            "    for pid in os.listdir('/proc'):\n        if pid.isdigit():\n            for part in ('cmdline', 'environ'):\n"
            "                try:\n"
            f"                    found.append({marker[:20]!r}.encode() in open(f'/proc/{{pid}}/{{part}}', 'rb').read())\n"
            "                except OSError:\n                    pass\n"
            "    return 5 if any(found) else 0\n")
    result, = with_controls(executor, check_job(scan, trusted_code=trusted))
    assert not passed(result) and "AssertionError" in result.tests[0].error, result


# ---------------------------------------------------------------- reaching other processes
def test_the_judge_and_the_host_are_not_visible_and_the_server_cannot_be_traced(isolated):
    probe = ("import ctypes, os, signal\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "def f(x):\n    seen = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
             "    traced = [libc.ptrace(16, pid, 0, 0) for pid in seen if pid != os.getpid()]\n"   # PTRACE_ATTACH
             "    traced += [libc.ptrace(0x4206, pid, 0, 0) for pid in seen if pid != os.getpid()]\n"  # SEIZE
             "    readable = []\n    for pid in seen:\n        try:\n"
             "            with open(f'/proc/{pid}/mem', 'rb') as mem:\n                readable.append(pid)\n"
             "        except OSError:\n            pass\n"
             "    for pid in (1, -1):\n        for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGSTOP):\n"
             "            try:\n                os.kill(pid, sig)\n            except OSError:\n                pass\n"
             "    return [seen, traced, [p for p in readable if p != os.getpid()]]\n")
    result, = with_controls(isolated, call_job(probe, tests=((1,),)))
    assert result.status in ("completed", "runtime_error"), result   # it may have killed itself with kill(-1)
    if result.tests and result.tests[0].status == "ok":
        seen, traced, readable = result.tests[0].value
        assert seen[0] == 1 and len(seen) <= 3, seen   # the server (pid 1), the program, nothing of the judge
        assert all(code == -1 for code in traced) and readable == [], result
    assert len(sandbox_processes(isolated)) <= SERVER_PROCESSES, sandbox_processes(isolated)


def test_the_server_and_its_sources_are_out_of_sight(isolated):
    """The program's /proc shows its own pid namespace only (pid 1 is the program itself), and no kateval source
    is there to read."""
    code = ("import os\ndef f(path):\n    try:\n        with open(path, 'rb') as handle:\n"
            "            return handle.read(1 << 16)\n    except OSError as exc:\n        return type(exc).__name__\n")
    paths = (str(REPO / "kateval" / "sandbox" / "server.py"), str(REPO / "kateval" / "sandbox" / "pool.py"),
             "/proc/1/cmdline", "/proc/1/environ", "/proc/2/cmdline")
    result, = with_controls(isolated, call_job(code, tests=tuple((p,) for p in paths), stop_on_failure=False))
    server, pool, cmdline, environ, other = (t.value for t in result.tests)
    assert server == pool == other == "FileNotFoundError", result
    assert b"def check" not in cmdline and b"assert " not in cmdline   # pid 1 is the program's own process
    assert {item.split(b"=")[0].decode() for item in environ.split(b"\0") if item} <= {*BASE_ENV, "PWD"}


def home_secret() -> str | None:
    try:
        fd, name = tempfile.mkstemp(dir=Path.home(), prefix="kateval-secret-")
    except OSError:
        return None
    with os.fdopen(fd, "w") as handle:
        handle.write("host secret")
    return name


def test_host_files_are_not_readable(isolated, tmp_path):
    (tmp_path / "secret.txt").write_text("host secret")
    home_file = home_secret()
    paths = [str(REPO / "pyproject.toml"), str(tmp_path / "secret.txt"), "/etc/shadow", "/etc/passwd",
             str(Path.home() / ".cache" / "kateval")]
    paths += [home_file] if home_file else []
    code = "def f(path):\n    try:\n        return open(path).read()\n    except OSError as exc:\n        return None\n"
    try:
        result, = with_controls(isolated, call_job(code, tests=tuple((p,) for p in paths), stop_on_failure=False))
    finally:
        if home_file:
            os.unlink(home_file)
    assert [t.value for t in result.tests] == [None] * len(paths)


def test_network_connect_to_host_loopback_fails(isolated):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    accepted, finished = [], threading.Event()

    def accept():
        while not finished.is_set() and not accepted:
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    code = ("import socket\ndef f(port):\n    s = socket.create_connection(('127.0.0.1', port), timeout=1)\n"
            "    s.sendall(b'leak')\n    return 'connected'\n")
    try:
        result, = with_controls(isolated, call_job(code, tests=((port,),)))
    finally:
        finished.set()
        thread.join()
        listener.close()
    assert result.tests[0].status == "error" and result.tests[0].value is None
    assert not accepted


def test_killing_the_server_or_segfaulting_costs_only_that_sample(executor):
    kill_server = check_job("import os, signal\ndef f(x):\n    for s in (9, 2, 15, 19):\n        try:\n"
                            "            os.kill(os.getppid(), s)\n            os.kill(1, s)\n"
                            "        except OSError:\n            pass\n    return 0")
    segfault = check_job("import ctypes\ndef f(x):\n    return ctypes.string_at(0)")
    killed, crashed = with_controls(executor, kill_server, segfault)
    assert not passed(killed) and not passed(crashed)
    assert "SIGSEGV" in crashed.tests[0].error, crashed


def test_no_process_is_left_behind(executor):
    marker = str(900000 + os.getpid() % 99999)
    code = ("import os, subprocess\n"
            f"subprocess.Popen(['/usr/bin/sleep', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n    os.setsid()\n"
            f"    os.execv('/usr/bin/sleep', ['sleep', '{marker}1'])\n" + WRONG)
    result, = with_controls(executor, check_job(code))
    assert not passed(result)
    assert host_processes_with(marker) == []
    if executor.isolation.own_uid:
        assert len(sandbox_processes(executor)) <= SERVER_PROCESSES, sandbox_processes(executor)


def test_fork_bomb_is_stopped_and_the_pool_goes_on(executor):
    bomb = "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n" \
           "            pass\n"
    limits = ExecLimits(timeout_per_test_s=0.3, timeout_total_s=1.0, memory_mb=256)
    bombed, = with_controls(executor, check_job(bomb, limits=limits))
    assert not passed(bombed) and bombed.status in ("timeout", "runtime_error", "memory"), bombed
    if executor.isolation.own_uid:
        assert len(sandbox_processes(executor)) <= SERVER_PROCESSES, sandbox_processes(executor)


def test_job_kinds_keep_their_meaning(executor):
    """A check job's tests run in the judge: the program cannot see them, only its handle calls."""
    code = "def f(x):\n    import sys\n    return [m for m in sys.modules if 'judge' in m or 'check' in m]\n"
    result = executor.run([ExecJob("call", code, ((1,),), "f")])[0]
    assert result.tests[0].value == [] or all("kateval.sandbox" in m for m in result.tests[0].value), result
    assert passed(executor.run([check_job(RIGHT)])[0])


POISON = ("import ctypes, os, resource, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
          "def f(x):\n    done = []\n"
          "    for path in ('/usr/lib/python3.11/json/__init__.py', '/usr/bin/python3.11', '/etc/ld.so.cache',\n"
          "                 '/bin/sh', '/dev/null', '/proc/sys/kernel/pid_max'):\n"
          "        try:\n            with open(path, 'ab') as handle:\n                handle.write(b'# poisoned')\n"
          "            done.append(path)\n        except OSError:\n            pass\n"
          "    for pid in range(0, 64):\n        if pid == os.getpid():\n            continue\n"
          "        limit = (ctypes.c_ulong * 2)(3, 3)\n"
          "        if libc.prlimit(pid, resource.RLIMIT_NOFILE, limit, None) == 0 and pid != 0:\n"
          "            done.append(f'prlimit {pid}')\n"
          "        if pid and libc.setpriority(0, pid, 19) == 0:\n            done.append(f'renice {pid}')\n"
          "    return done\n")


def test_a_job_can_change_nothing_a_later_job_uses(executor):
    """Files of the interpreter, the libraries or the system, and the limits or priority of any other process."""
    result, = with_controls(executor, call_job(POISON, tests=((1,),)))
    assert result.tests[0].status == "ok" and result.tests[0].value == ["/dev/null"], result
