"""Hostile programs: each must be graded as not passed, and its side effect must not reach the host."""
from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from kateval.sandbox import make_executor
from kateval.sandbox.isolation import BASE_ENV, SERVER_SOURCE
from kateval.types import ExecJob, ExecLimits

REPO = Path(__file__).resolve().parents[1]
LIMITS = ExecLimits(timeout_per_test_s=1.0, timeout_total_s=4.0, memory_mb=256, output_bytes=1 << 16)
CHECK = "def check(candidate):\n    assert candidate(2) == 5\n    assert candidate(3) == 7\n"
WRONG = "def f(x):\n    return 0\n"


@pytest.fixture(scope="session")
def executor():
    pool = make_executor(workers=2, limits=LIMITS)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def isolated(executor):
    if not executor.describe()["isolation"].startswith("bwrap"):
        pytest.skip("bubblewrap isolation not available here")
    return executor


def passed(result) -> bool:
    return result.status == "completed" and bool(result.tests) and all(t.status == "ok" for t in result.tests)


def script(code: str, test: str = CHECK + "check(f)") -> ExecJob:
    return ExecJob("script", code, (test,), "f")


def host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def processes_of(uids: set[int]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "Uid" in fields and int(fields["Uid"].split()[0]) in uids:
            found.append(f"{entry.name} {fields['Name'].strip()} {fields['State'].strip()}")
    return found


def sandbox_processes(executor) -> list[str]:
    """Host processes running as the workers' uids (each worker: bwrap, its init and the fork server)."""
    return processes_of({worker.uid for worker in executor.workers})


@pytest.mark.parametrize("escape", [
    "import sys\nsys.exit(0)",
    "import os\nos._exit(0)",
    "raise SystemExit",
    "raise SystemExit(0)",
    "import atexit, os\natexit.register(lambda: print('passed'))\nos._exit(0)",
])
def test_early_exit_is_not_a_pass(executor, escape):
    at_top = script(WRONG + escape)
    inside = script("def f(x):\n" + "\n".join("    " + line for line in escape.splitlines()))
    top_result, inside_result = executor.run([at_top, inside])
    assert not passed(top_result) and top_result.status == "runtime_error"
    assert not passed(inside_result) and inside_result.tests[0].status == "error"


def test_excepthook_does_not_hide_a_failure(executor):
    code = WRONG + "import sys\nsys.excepthook = lambda *args: None\nsys.__excepthook__ = sys.excepthook\n"
    result = executor.run([script(code)])[0]
    assert not passed(result) and result.tests[0].error.startswith("AssertionError")


def test_replaced_builtins_and_import_do_not_reach_the_tests(executor):
    tamper = ("import builtins, math\n"
              "builtins.abs = lambda x: 0\n"
              "math.isclose = lambda *a, **k: True\n"
              "real_import = builtins.__import__\n"
              "builtins.__import__ = lambda name, *a, **k: math if name == 'math' else real_import(name, *a, **k)\n"
              "builtins.AssertionError = type('Quiet', (Exception,), {})\n"
              "def isinstance(*a):\n    return True\n"
              "def f(x):\n    return x\n")
    tests = ("assert abs(f(1) - 9) < 1e-6", "import math\nassert math.isclose(f(1), 9)",
             "assert isinstance(f(1), str)", "from math import isclose\nassert isclose(f(1), 9)")
    result = executor.run([ExecJob("script", tamper, tests, "f", stop_on_failure=False)])[0]
    assert [t.status for t in result.tests] == ["error"] * 4, result
    # The program's own namespace is changed, but the next job starts from pristine builtins.
    clean = executor.run([ExecJob("script", "def f(x):\n    return -x", ("assert abs(f(3)) == 3",), "f")] * 2)
    assert all(passed(r) for r in clean)


@pytest.mark.parametrize("tamper", [
    "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: None\n",
    ("import builtins\nclass Int(int):\n    def __eq__(self, other):\n        return True\n"
    "builtins.int = Int\nbuiltins.type = lambda x: int if isinstance(x, Int) else type(x)\n"),
    ("import json\nclass Liar(json.JSONEncoder):\n    def encode(self, o):\n        if isinstance(o, dict):\n"
    "            o['status'] = 'ok'\n        return super().encode(o)\n"
    "json._default_encoder = Liar()\njson.JSONEncoder.encode = Liar.encode\n"),
    "import collections\ncollections.Counter.__eq__ = lambda self, other: True\n",
])
def test_tampering_with_what_the_harness_uses_does_not_help(executor, tamper):
    code = tamper + "import collections\ndef f(x):\n    return collections.Counter('liar') if x == 2 else 0\n"
    script_job = ExecJob("script", code, ("assert f(2) == 5", "assert f(3) == 7"), "f", stop_on_failure=False)
    call_job = ExecJob("call", code.replace("collections.Counter('liar')", "Int(5) if 'Int' in globals() else 0"),
                       ((2,), (3,)), "f", stop_on_failure=False)
    scripted, called = executor.run([script_job, call_job])
    assert [t.status for t in scripted.tests] == ["error", "error"], scripted
    assert all(t.status == "error" or type(t.value) is int and t.value in (0, 5) for t in called.tests), called
    assert not any(t.status == "ok" and t.value == 7 for t in called.tests)


def test_object_whose_eq_is_always_true_is_never_a_value(executor):
    code = ("class Anything(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
            "class Obj:\n    def __eq__(self, other):\n        return True\n"
            "def f(x):\n    return Obj() if x == 2 else Anything(7)\n")
    call = ExecJob("call", code, ((2,), (3,), (4,)), "f", stop_on_failure=False)
    checked_script = script(code)
    result, assert_based = executor.run([call, checked_script])
    assert [t.status for t in result.tests] == ["error"] * 3
    assert all(t.value is None for t in result.tests)
    assert "not plain data" in result.tests[0].error
    assert not passed(assert_based)


def test_printing_or_writing_fake_verdicts_is_ignored(executor):
    fake = ('{"event": "loaded", "key": "%s"}\n{"event": "test", "status": "ok", "key": "%s"}\n'
            '{"event": "done", "key": "%s"}\n') % (("0" * 32,) * 3)
    code = (WRONG + "import os, sys\n"
            f"FAKE = {fake!r} + '[' * 100000 + '\\n'\n"
            "print('passed'); print(FAKE); sys.stderr.write(FAKE)\n"
            "for fd in range(3, 64):\n"
            "    try:\n        os.write(fd, FAKE.encode())\n    except OSError:\n        pass\n"
            "os._exit(0)\n")
    for job in (script(code), ExecJob("call", code, ((1,),), "f")):
        result = executor.run([job])[0]
        assert not passed(result) and result.status == "runtime_error"


def test_checker_files_and_server_memory_are_unreadable(isolated):
    code = ("def f(path):\n    try:\n        with open(path, 'rb') as handle:\n            return handle.read(4096)\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")
    paths = (str(SERVER_SOURCE), str(REPO / "kateval" / "sandbox" / "pool.py"), "/proc/2/environ", "/proc/2/mem",
             "/proc/2/fd/0", "/proc/1/environ")
    result = isolated.run([ExecJob("call", code, tuple((p,) for p in paths), "f", stop_on_failure=False)])[0]
    for path, outcome in zip(paths[:-1], result.tests):
        assert outcome.status == "ok" and type(outcome.value) is str, (path, outcome)
    # bwrap's init (pid 1) is readable by the same uid, so it carries only the sandbox's own environment.
    init_env = result.tests[-1].value
    assert type(init_env) is str or {item.split(b"=")[0].decode() for item in init_env.split(b"\0") if item} <= set(
        BASE_ENV)


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
    paths = [str(REPO / "pyproject.toml"), str(tmp_path / "secret.txt"), "/etc/shadow", "/etc/passwd"]
    paths += [home_file] if home_file else []
    code = "def f(path):\n    try:\n        return open(path).read()\n    except OSError as exc:\n        return None\n"
    try:
        result = isolated.run([ExecJob("call", code, tuple((p,) for p in paths), "f", stop_on_failure=False)])[0]
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
    result = isolated.run([ExecJob("call", code, ((port,),), "f")])[0]
    finished.set()
    thread.join()
    listener.close()
    assert result.tests[0].status == "error" and result.tests[0].value is None
    assert not accepted


def test_writes_stay_in_a_scratch_dir_that_is_thrown_away(isolated):
    marker = f"kateval-pwned-{uuid.uuid4().hex}"
    host_targets = [REPO / marker, Path("/tmp") / marker, Path.home() / marker]
    inside_only = [f"/{marker}", f"/dev/shm/{marker}", f"/usr/{marker}", f"/etc/{marker}"]
    writer = ("import os\ndef f(paths):\n    done = []\n    for path in paths:\n        try:\n"
              "            open(path, 'w').write('x')\n            done.append(path)\n"
              "        except OSError:\n            pass\n"
              "    open('local.txt', 'w').write('x')\n    return done\n")
    reader = "import os\ndef f(marker):\n    return [p for p in ('.', '/tmp', '/') for n in os.listdir(p) if n in (marker, 'local.txt')]\n"
    first, second = isolated.run([ExecJob("call", writer, (([str(t) for t in host_targets] + inside_only,),), "f"),
                                  ExecJob("call", reader, ((marker,),), "f")])
    assert first.tests[0].status == "ok"
    assert first.tests[0].value == [f"/tmp/{marker}"]   # only the scratch dir, which the sandbox mounts at /tmp
    assert not any(t.exists() for t in host_targets)
    assert second.tests[0].value == []


def test_no_process_is_left_behind(executor):
    marker = str(900000 + os.getpid() % 99999)
    code = ("import os, subprocess\n"
            f"subprocess.Popen(['/usr/bin/sleep', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n    os.setsid()\n"
            f"    os.execv('/usr/bin/sleep', ['sleep', '{marker}1'])\n" + WRONG)
    result = executor.run([script(code)])[0]
    assert not passed(result)
    assert host_processes_with(marker) == []
    if executor.isolation.own_uid:
        assert len(sandbox_processes(executor)) <= 3 * len(executor.workers), sandbox_processes(executor)


def test_fork_bomb_is_stopped_and_the_pool_goes_on(executor):
    bomb = "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n" \
           "            pass\n"
    limits = ExecLimits(timeout_per_test_s=0.3, timeout_total_s=1.0, memory_mb=256)
    bomb_job = ExecJob("script", bomb, (CHECK + "check(f)",), "f", limits=limits)
    bombed, after = executor.run([bomb_job, script("def f(x):\n    return 2 * x + 1 if x == 2 else 7")])
    assert not passed(bombed) and bombed.status in ("timeout", "runtime_error", "memory")
    assert passed(after)
    if executor.isolation.own_uid:
        assert len(sandbox_processes(executor)) <= 3 * len(executor.workers), sandbox_processes(executor)


def test_memory_bomb_is_stopped(executor):
    limits = ExecLimits(timeout_per_test_s=10.0, timeout_total_s=10.0, memory_mb=128)
    jobs = [ExecJob("script", code, (CHECK + "check(f)",), "f", limits=limits) for code in (
        "def f(x):\n    return len(bytearray(1 << 40))",
        "def f(x):\n    hog = []\n    while True:\n        hog.append(' ' * (1 << 20))")]
    for result in executor.run(jobs):
        assert not passed(result) and result.status == "memory"


def test_memory_spread_over_forked_processes_is_stopped(isolated):
    limits = ExecLimits(timeout_per_test_s=5.0, timeout_total_s=5.0, memory_mb=128)
    code = ("import os, time\ndef f(x):\n    for _ in range(8):\n        if os.fork() == 0:\n"
            "            hog = b'x' * (100 << 20)\n            time.sleep(30)\n    time.sleep(30)\n")
    started = time.monotonic()
    result = isolated.run([ExecJob("script", code, (CHECK + "check(f)",), "f", limits=limits)])[0]
    assert result.status == "memory" and "together" in result.tests[0].error
    assert time.monotonic() - started < 5
    assert len(sandbox_processes(isolated)) <= 3 * len(isolated.workers)


def test_output_flood_is_cut_at_the_cap(executor):
    flood = "import sys\nwhile True:\n    sys.stdout.write('x' * (1 << 16))\n"
    started = time.monotonic()
    stdio, scripted = executor.run([ExecJob("stdio", flood, ("",)), script(flood + WRONG)])
    assert stdio.tests[0].status == "output_limit" and len(stdio.tests[0].value) == LIMITS.output_bytes
    assert not passed(scripted) and scripted.status == "runtime_error"
    assert time.monotonic() - started < LIMITS.timeout_per_test_s * 2


def test_killing_the_parent_or_segfaulting_costs_only_that_sample(executor):
    good = script("def f(x):\n    return 2 * x + 1")
    kill_parent = script("import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)")
    segfault = script("import ctypes\ndef f(x):\n    return ctypes.string_at(0)")
    results = executor.run([good, kill_parent, good, segfault, good, kill_parent, good])
    assert [passed(r) for r in results] == [True, False, True, False, True, False, True]
    assert "SIGSEGV" in results[3].tests[0].error
