"""Nothing survives a job, limits bind, the worker stays bounded, odd values are records. Each attack is followed by
a probe of what it tried to leave behind and by a right and a wrong control on the same worker."""
from __future__ import annotations

import math
import time
import uuid
from pathlib import Path

import pytest
from hostile import (
    LIMITS,
    SERVER_PROCESSES,
    WRONG,
    call_job,
    check_job,
    passed,
    peak_memory_kb,
    sandbox_processes,
    server_pids,
    with_controls,
)

from kateval.sandbox import make_executor
from kateval.types import ExecJob, ExecLimits

PLANT = {
    "files, hidden by chmod": ("import os\nos.makedirs('/tmp/keep/deeper', exist_ok=True)\n"
                               "open('/tmp/keep/deeper/state', 'w').write('left')\nopen('state', 'w').write('left')\n"
                               "os.chmod('/tmp/keep/deeper', 0)\nos.chmod('/tmp/keep', 0)\nos.chmod('/tmp', 0)\n"),
    "3000 nested directories": ("import os\nos.chdir('/tmp')\nfor _ in range(3000):\n    os.mkdir('d')\n"
                                "    os.chdir('d')\nopen('state', 'w').write('left')\n"),
    "hostname": "import socket, ctypes\nctypes.CDLL(None).sethostname(b'left', 4)\n",
    "SysV shared memory, queues": ("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.shmget(0x4b41, 1 << 20, 0o1666)\n"
                                   "libc.msgget(0x4b41, 0o1666)\n"),
    "background processes": ("import os, subprocess, time\n"
                             "subprocess.Popen(['/usr/bin/sleep', '600'], start_new_session=True)\n"
                             "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                             "        while True:\n            open('/tmp/state', 'w').write('left')\n"
                             "            time.sleep(0.05)\n    os._exit(0)\n"),
    "environment and cwd": "import os\nos.environ['LEFT'] = 'left'\nos.chdir('/')\n",
}
PROBE = ("import os, socket, ctypes\n"
         "def f(x):\n    left = []\n"
         "    for top in ('/tmp', '/dev/shm', '.'):\n        try:\n            left += [top + '/' + n for n in os.listdir(top)]\n"
         "        except OSError as exc:\n            left.append(f'{top}: {exc}')\n"
         "    left += [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]\n"
         "    if socket.gethostname() != 'sandbox':\n        left.append(socket.gethostname())\n"
         "    if os.environ.get('LEFT'):\n        left.append('environ')\n"
         "    if os.getcwd() != '/tmp' or oct(os.stat('/tmp').st_mode & 0o7777) != '0o1777':\n"
         "        left.append(os.getcwd() + oct(os.stat('/tmp').st_mode))\n"
         "    libc = ctypes.CDLL(None)\n"
         "    left += [n for n, r in (('shm', libc.shmget(0x4b41, 0, 0)), ('msg', libc.msgget(0x4b41, 0))) if r != -1]\n"
         "    return left\n")


@pytest.fixture(scope="module")
def executor():
    pool = make_executor(workers=1, limits=LIMITS)
    if not pool.describe()["isolation"].startswith("bwrap"):
        pool.close()
        pytest.skip("per-job namespaces need bubblewrap isolation")
    yield pool
    pool.close()


@pytest.mark.parametrize("name", sorted(PLANT))
def test_nothing_a_job_leaves_reaches_the_next_job(executor, name):
    plant = PLANT[name] + WRONG
    before = executor.run([call_job(PROBE, tests=((1,),))])[0]
    assert before.tests[0].value == [], before
    planted, probed = with_controls(executor, check_job(plant), call_job(PROBE, tests=((1,),)))
    assert not passed(planted)
    assert probed.tests[0].status == "ok" and probed.tests[0].value == [], (name, planted, probed)
    assert len(sandbox_processes(executor)) <= SERVER_PROCESSES, sandbox_processes(executor)


REFUSED = ("import ctypes, ctypes.util, os, errno\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "libc.syscall.restype = ctypes.c_long\nrt = ctypes.CDLL('librt.so.1', use_errno=True)\n"
           "def attempt(call):\n    ctypes.set_errno(0)\n    try:\n        result = call()\n"
           "    except OSError as exc:\n        return errno.errorcode.get(exc.errno, str(exc.errno))\n"
           "    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if result == -1 else result\n"
           "def f(x):\n    return {\n"
           "        'shmget': attempt(lambda: libc.shmget(0x4b41, 1 << 20, 0o1666)),\n"
           "        'msgget': attempt(lambda: libc.msgget(0x4b41, 0o1666)),\n"
           "        'semget': attempt(lambda: libc.semget(0x4b41, 1, 0o1666)),\n"
           "        'mq_open': attempt(lambda: rt.mq_open(b'/kateval', os.O_CREAT | os.O_RDWR, 0o666, None)),\n"
           "        'add_key': attempt(lambda: libc.syscall(248, b'user', b'kateval', b'left', 4, -4)),\n"
           "        'keyctl': attempt(lambda: libc.syscall(250, 0, -4, 0, 0, 0)),\n"
           "        'mount': attempt(lambda: libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, b'size=1g')),\n"
           "        'unshare': attempt(lambda: libc.unshare(0x10020000)),\n"
           "        'memfd_create': attempt(lambda: libc.syscall(319, b'x', 0)),\n"
           "        'ptrace': attempt(lambda: libc.ptrace(16, 1, 0, 0)),\n"
           "        'io_uring_setup': attempt(lambda: libc.syscall(425, 4, ctypes.create_string_buffer(120))),\n"
           "        'dev_shm': attempt(lambda: os.open('/dev/shm/kateval', os.O_CREAT | os.O_WRONLY)),\n"
           "        'inotify_init1': attempt(lambda: libc.inotify_init1(0)),\n"
           "        'netlink': attempt(lambda: __import__('socket').socket(16, 2, 0) and 0),\n"
           "    }\n")


def test_channels_that_would_outlive_a_job_are_refused(executor):
    """SysV and POSIX IPC, keys, mounts, namespaces, memfd, tracing, io_uring: refused outright (and IPC objects
    and mounts would die with the job's namespaces anyway)."""
    if executor.describe()["seccomp"].startswith("none"):
        pytest.skip("no seccomp filter for this architecture")
    result, = with_controls(executor, call_job(REFUSED, tests=((1,),)))
    outcomes = result.tests[0].value
    assert all(value in ("EPERM", "EACCES", "EROFS", "ENOSYS") for value in outcomes.values()), outcomes


def test_the_first_and_the_hundredth_job_see_the_same_world(executor):
    results = executor.run([call_job(PROBE, tests=((1,),))] + [check_job(code + WRONG) for code in PLANT.values()]
                           + [call_job(PROBE, tests=((1,),))])
    assert results[0].tests[0].value == results[-1].tests[0].value == []


# ---------------------------------------------------------------- limits
def test_cpu_spent_in_children_counts(executor):
    limits = ExecLimits(timeout_per_test_s=1.0, timeout_total_s=1.0, memory_mb=256)
    burner = ("import os, time\ndef f(x):\n    for _ in range(4):\n        if os.fork() == 0:\n"
              "            while True:\n                pass\n    time.sleep(60)\n")
    started = time.monotonic()
    result, = with_controls(executor, check_job(burner, limits=limits))
    assert result.status == "timeout", result
    assert result.cpu_s < 1.0 + 0.5, result            # stopped once the children together had used the limit
    assert time.monotonic() - started < 20
    orphans = ("import os, time\ndef f(x):\n    if os.fork() == 0:\n        if os.fork() == 0:\n"
               "            end = time.process_time() + 3\n            while time.process_time() < end:\n"
               "                pass\n        os._exit(0)\n    time.sleep(60)\n")
    orphaned, = with_controls(executor, check_job(orphans, limits=limits))
    assert orphaned.status == "timeout" and orphaned.cpu_s < 1.5, orphaned
    relays = ("import os, time\ndef f(x):\n    for _ in range(20):\n        pid = os.fork()\n        if pid == 0:\n"
              "            if os.fork() == 0:\n                end = time.process_time() + 0.1\n"
              "                while time.process_time() < end:\n                    pass\n"
              "            os.wait() if False else None\n            os._exit(0)\n        os.waitpid(pid, 0)\n"
              "        time.sleep(0.05)\n    time.sleep(60)\n")
    relayed, = with_controls(executor, check_job(relays, limits=limits))
    assert relayed.status == "timeout", relayed   # grandchildren left to the job's pid 1 still count


def test_children_cannot_be_discarded_uncounted(executor):
    """With SIGCHLD ignored (or SA_NOCLDWAIT) the kernel would drop exited children's CPU time: refused."""
    code = ("import signal\ndef f(x):\n    try:\n        signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
            "    except OSError as exc:\n        return exc.errno\n    return 0\n")
    result, = with_controls(executor, call_job(code, tests=((1,),)))
    assert result.tests[0].value == 1, result   # EPERM


def test_the_wall_cap_cannot_be_stretched(executor):
    limits = ExecLimits(timeout_per_test_s=0.2, timeout_total_s=1.0, memory_mb=256)
    wall_cap = 3 * 1.0 + 5.0
    chatty = ("import sys, time\ndef f(x):\n    for _ in range(400):\n        print('still here', flush=True)\n"
              "        sys.stderr.write('still here\\n')\n        time.sleep(0.1)\n    return x\n")
    many = call_job(chatty, tests=tuple((i,) for i in range(20)), limits=limits)
    started = time.monotonic()
    checked, called = with_controls(executor, check_job(chatty, limits=limits), many)
    assert checked.status == "timeout" and called.status == "timeout", (checked, called)
    assert checked.wall_s < wall_cap + 1 and called.wall_s < wall_cap + 1
    assert time.monotonic() - started < 3 * wall_cap


def test_memory_in_tmp_and_in_children_counts(executor):
    limits = ExecLimits(timeout_per_test_s=5.0, timeout_total_s=5.0, memory_mb=64)   # the job's cap: 128 MB
    tmp_and_heap = ("import time\ndef f(x):\n    open('/tmp/fill', 'wb').write(b'x' * (60 << 20))\n"
                    "    hog = b'y' * (50 << 20)\n    more = b'z' * (30 << 20)\n    time.sleep(30)\n")
    children = ("import os, time\ndef f(x):\n    for _ in range(6):\n        if os.fork() == 0:\n"
                "            hog = b'x' * (40 << 20)\n            time.sleep(30)\n    time.sleep(30)\n")
    in_sockets = ("import os, socket, time\ndef f(x):\n    for _ in range(16):\n        held, socks = 0, []\n"
                  "        while held < (12 << 20):\n            a, b = socket.socketpair()\n"
                  "            a.setblocking(False)\n            try:\n                while True:\n"
                  "                    held += a.send(b'x' * 65536)\n            except BlockingIOError:\n"
                  "                pass\n            socks += [a, b]\n"
                  "        if os.fork() == 0:\n            time.sleep(30)\n"
                  "        for s in socks:\n            s.close()\n    time.sleep(30)\n")
    tcp_queues = ("import socket, time\ndef f(x):\n    server = socket.create_server(('127.0.0.1', 0))\n    held = []\n"
                  "    for _ in range(40):\n        c = socket.socket()\n"
                  "        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)\n"
                  "        c.connect(server.getsockname())\n        s, _ = server.accept()\n"
                  "        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n        c.setblocking(False)\n"
                  "        try:\n            while True:\n                c.send(b'x' * 65536)\n"
                  "        except BlockingIOError:\n            pass\n        held += [c, s]\n    time.sleep(30)\n")
    in_tmp, in_children, buffered, queued = with_controls(executor, check_job(tmp_and_heap, limits=limits),
                                                          check_job(children, limits=limits),
                                                          check_job(in_sockets, limits=limits),
                                                          check_job(tcp_queues, limits=limits))
    assert in_tmp.status == "memory" and in_children.status == "memory", (in_tmp, in_children)
    assert buffered.status == "memory" and queued.status == "memory", (buffered, queued)   # kernel socket buffers
    shm = ("import ctypes, mmap, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "def f(x):\n    return [libc.shmget(0, 1 << 30, 0o1600), libc.syscall(319, b'x', 0)]\n")   # memfd_create
    blocked, = with_controls(executor, call_job(shm, tests=((1,),)))
    assert blocked.tests[0].value == [-1, -1], blocked


def test_the_worker_stays_bounded_whatever_a_job_sends(executor):
    servers = server_pids(executor)
    floods = [
        check_job("import sys\nwhile True:\n    sys.stdout.write('x' * (1 << 16))\n" + WRONG),
        check_job("import os\ndef f(x):\n    while True:\n        os.write(2, b'x' * (1 << 16))\n"),
        call_job("def f(x):\n    return 'x' * (64 << 20)\n"),
        call_job("import os, struct\ndef f(x):\n    os.write(4, struct.pack('>I', 1 << 31))\n"
                 "    os.write(4, b'v' * (1 << 20))\n    return 1\n"),
        call_job("def f(x):\n    return x\n", tests=tuple((i,) for i in range(20000)), stop_on_failure=False),
        check_job("import os\ndef f(x):\n    os.write(3, b'\\xff' * (1 << 20))\n    return 5\n"),
        check_job("def f(x):\n    raise ValueError('x' * (8 << 20))\n"),
        ExecJob("stdio", "import sys\nwhile True:\n    sys.stdout.write('y' * (1 << 16))\n", ("",), limits=LIMITS),
    ]
    results = with_controls(executor, *floods)
    assert all(not passed(r) for r in results[:4] + results[5:7]), results
    assert results[4].status == "completed" and len(results[4].tests) == 20000
    assert results[7].tests[0].status == "output_limit" and len(results[7].tests[0].value) == LIMITS.output_bytes
    assert all(peak_memory_kb(pid) < 200_000 for pid in server_pids(executor) if pid in servers), \
        [peak_memory_kb(pid) for pid in server_pids(executor)]


# ---------------------------------------------------------------- odd values are records
ODD = {
    "lone surrogate": "def f(x):\n    return '\\ud800' + chr(0xdfff)\n",
    "lone surrogate in an exception": "def f(x):\n    raise ValueError('\\udcff')\n",
    "int over 4300 digits": "def f(x):\n    return 10 ** 5000 + x\n",
    "nan and infinities": "def f(x):\n    return [float('nan'), -float('inf'), complex(float('nan'), 1)]\n",
    "deep nesting": "def f(x):\n    v = []\n    for _ in range(5000):\n        v = [v]\n    return v\n",
    "unprintable exception": "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\n"
                             "def f(x):\n    raise E()\n",
    "bytes in the load report": "import os, struct\nos.write(4, struct.pack('>I', 5) + b'l\\xff\\xfe{{')\n" + WRONG,
    "surrogates in the program": "s = '\\ud800'\n" + WRONG,
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_values_become_a_status_never_an_exception(executor, name):
    code = ODD[name]
    called, checked = with_controls(executor, call_job(code, tests=((1,),)), check_job(code))
    assert called.status in ("completed", "runtime_error") and checked.status in ("completed", "runtime_error")
    assert not passed(checked)
    if name == "int over 4300 digits":
        assert called.tests[0].value == 10 ** 5000 + 1
    if name == "nan and infinities":
        nan, minus_inf, pair = called.tests[0].value
        assert math.isnan(nan) and minus_inf == -math.inf and math.isnan(pair.real)


def test_a_job_that_kills_its_worker_twice_is_a_sandbox_error_and_the_run_goes_on(executor, monkeypatch):
    worker = executor.workers[0]
    original = worker.execute
    calls = []

    def dying(job, limits):
        calls.append(job)
        if job.code.startswith("# dies"):
            worker.runner.stop()   # as if the sandbox had died under this job
        return original(job, limits)

    monkeypatch.setattr(worker, "execute", dying)
    marker = f"# dies {uuid.uuid4().hex}\n"
    died, = with_controls(executor, check_job(marker + WRONG))
    assert died.status == "sandbox_error" and "twice" in died.error, died
    assert len([job for job in calls if job.code.startswith("# dies")]) == 2   # retried once


def test_no_marker_reaches_the_host(executor, tmp_path):
    marker = f"kateval-left-{uuid.uuid4().hex}"
    targets = [tmp_path / marker, Path("/tmp") / marker, Path.home() / marker]
    writer = ("def f(x):\n    for path in " + repr([str(t) for t in targets]) + ":\n        try:\n"
              "            open(path, 'w').write('x')\n        except OSError:\n            pass\n    return 0\n")
    result, = with_controls(executor, check_job(writer))
    assert not passed(result) and not any(t.exists() for t in targets)
