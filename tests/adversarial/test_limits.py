"""Limits that bind: CPU spent in children, threads and exec'd programs counts; the wall cap cannot be stretched;
memory held in shared memory, memfd or forked children counts; the worker's (and the parent's) own memory stays
bounded whatever a job sends; fork and thread bombs are stopped. Every attack is bounded (it ends by itself after
at most 90 s, or 1.5 GB written) so that a broken limit costs time, not the machine."""
from __future__ import annotations

import time

import pytest
from redteam import (
    assert_controls,
    assert_same_state,
    code,
    descendants_rss_mb,
    grade,
    own_rss_mb,
    passed,
    probe,
    verdicts,
)

from kateval.types import ExecJob, ExecLimits

RIGHT_HE0 = ("    pairs = [(a, b) for i, a in enumerate(numbers) for b in numbers[i + 1:]]\n"
             "    return any(abs(a - b) < threshold for a, b in pairs)\n")


def right_with(prelude: str, imports: str = "import os, time, threading, subprocess, sys") -> str:
    """A RIGHT answer to HumanEval/0 that first runs `prelude` inside the function."""
    body = "".join("    " + line + "\n" for line in code(prelude).splitlines())
    return f"{imports}\ndef has_close_elements(numbers, threshold):\n{body}{RIGHT_HE0}"



CPU_ELSEWHERE = {
    # 2 x 1.2 CPU-s in parallel children while the program itself only waits: over the 1 CPU-s per test, and
    # (on an idle machine) well inside the wall cap, so only counting the children's CPU stops it
    "forked_children": right_with('''
        children = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                end = time.process_time() + 1.2
                while time.process_time() < end:
                    pass
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
    '''),
    # children reaped by nobody (SIGCHLD ignored: the kernel discards them, and their CPU with them), two at a
    # time, 0.2 CPU-s each, sixteen in all: 3.2 CPU-s, while no moment ever sees more than 0.4 s of it alive
    "auto_reaped_children_in_relays": right_with('''
        import signal
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        except OSError:
            pass   # refused: then the children are waited for below
        for _ in range(8):
            for _ in range(2):
                if os.fork() == 0:
                    end = time.process_time() + 0.2
                    while time.process_time() < end:
                        pass
                    os._exit(0)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                time.sleep(0.01)
    '''),
    "threads": right_with('''
        def spin():
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                pass
        workers = [threading.Thread(target=spin) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    '''),
    "exec_subprocesses": right_with('''
        loop = "import time\\nend = time.process_time() + 1.2\\nwhile time.process_time() < end: pass"
        for child in [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(2)]:
            child.wait()
    '''),
    # check() calls the function 7 times within its ONE test: 0.35 CPU-s each adds up to over 2 CPU-s
    "spread_over_the_calls_of_one_test": right_with('''
        end = time.process_time() + 0.35
        while time.process_time() < end:
            pass
    '''),
    "ignores_sigxcpu": right_with('''
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        end = time.process_time() + 2.5
        while time.process_time() < end:
            pass
    '''),
}


# Fixed limits (not calibrated from the reference solution's time): 1 CPU-s per test, so that each attack (2-3
# CPU-s, about half that in wall time on two idle cores) is stopped by its CPU, not by the wall cap.
CPU_LIMITS = ExecLimits(timeout_per_test_s=1.0, timeout_total_s=3.0, memory_mb=512, output_bytes=1 << 16,
                        calibrate=False)


@pytest.mark.parametrize("name", sorted(CPU_ELSEWHERE))
def test_cpu_spent_anywhere_in_the_job_counts(name, tasks):
    from kateval.sandbox import make_executor

    executor = make_executor(workers=1, limits=CPU_LIMITS)
    try:
        record, = grade(tasks["humaneval"], executor, "HumanEval/0", CPU_ELSEWHERE[name])
        assert not passed(record), f"a job that spent over 2 CPU-s passed a 1 s limit: {verdicts([record])}"
        assert record.status == "timeout", verdicts([record])
        assert_controls(tasks, executor, only=("humaneval",))
    finally:
        executor.close()


# ---------------------------------------------------------------- wall cap
STRETCH_LIMITS = ExecLimits(timeout_per_test_s=0.5, timeout_total_s=1.5, memory_mb=256, output_bytes=1 << 16)
# The job's cap is 3 x 1.5 + 5 s; uncapped, every stretcher runs 56 s or more (40 calls x 1.4 s, or 90 s): the
# bound sits between, far from the cap, since a loaded 2-core machine and worker restarts add seconds.
WALL_BOUND_S = 45.0

# What a per-job secret of the old design looked like (32 hex digits), gathered from every dict gc knows: the
# attacks below forge report lines with each, in case the process still held one.
SECRETS = code(r'''
    import gc, json, os, re
    keys = {v for o in gc.get_objects() if type(o) is dict for v in o.values()
            if type(v) is str and re.fullmatch(r"[0-9a-f]{32}", v)}
''')

STRETCHERS = {
    "sleeps": "time.sleep(90)",
    "stops_itself": "os.kill(os.getpid(), signal.SIGSTOP)\ntime.sleep(90)",
    "blocks_on_its_own_fifo": "os.mkfifo('wait')\nopen('wait').read()",
    "trickles_output": ("for _ in range(900):\n    os.write(1, b'.')\n    os.write(2, b'.')\n"
                        "    time.sleep(0.1)"),
    "floods_every_fd_slowly": ("for _ in range(900):\n    for fd in range(0, 64):\n        try:\n"
                               "            os.write(fd, b'{\"event\": \"test\", \"status\": \"ok\"}\\n')\n"
                               "        except OSError:\n            pass\n    time.sleep(0.1)"),
    "forged_progress_with_secret": SECRETS + code(r'''
        for _ in range(900):
            for key in keys:
                line = json.dumps({"event": "test", "status": "ok", "value": None, "error": None, "key": key})
                for fd in range(3, 64):
                    try:
                        os.write(fd, (line + "\n").encode())
                    except OSError:
                        pass
            time.sleep(0.1)
    '''),
    "closes_stdout_and_waits": "os.close(1)\nos.close(2)\ntime.sleep(90)",
    "select_on_nothing": "import select\nselect.select([], [], [], 90)",
    "sleeps_in_each_call": "time.sleep(1.4)",   # per call, under the per-test cap; the calls add up
}


def stretch_job(name: str, kind: str) -> ExecJob:
    body = "".join("    " + line + "\n" for line in STRETCHERS[name].splitlines())
    program = f"import os, signal, time\ndef f(x):\n{body}    return x\n"
    if kind == "stdio":
        return ExecJob("stdio", f"import os, signal, time\n{STRETCHERS[name]}\nprint(input())\n",
                       tuple(f"{n}\n" for n in range(12)), limits=STRETCH_LIMITS)
    return ExecJob("call", program, tuple((n,) for n in range(40)), entry_point="f", limits=STRETCH_LIMITS)


STDIO_STRETCHERS = ("sleeps", "stops_itself", "trickles_output", "closes_stdout_and_waits", "sleeps_in_each_call")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["call", "stdio"])
def test_wall_cap_cannot_be_stretched(kind, tasks):
    """Every stretcher at once, one worker each (they sleep, so they do not compete for the CPU): the batch takes
    as long as its slowest job, which must end near its cap, not when the attack gives up (90 s)."""
    from kateval.sandbox import make_executor

    names = sorted(STRETCHERS) if kind == "call" else STDIO_STRETCHERS
    executor = make_executor(workers=len(names), limits=STRETCH_LIMITS)
    try:
        started = time.monotonic()
        results = executor.run([stretch_job(name, kind) for name in names])
        took = time.monotonic() - started
        assert took < WALL_BOUND_S, f"a job ran {took:.0f} s past a {STRETCH_LIMITS.timeout_total_s} s limit: " + str(
            {name: (r.status, r.wall_s) for name, r in zip(names, results)})
        for name, result in zip(names, results):
            finished = result.status == "completed" and all(t.status == "ok" for t in result.tests)
            assert not (finished and len(result.tests) == len(stretch_job(name, kind).tests)), (name, result)
        assert_controls(tasks, executor, only=("humaneval", "livecodebench"))
    finally:
        executor.close()


# ---------------------------------------------------------------- memory outside the process's own heap
MEMORY_LIMITS = ExecLimits(timeout_per_test_s=20.0, timeout_total_s=20.0, memory_mb=128, output_bytes=1 << 16)
HOLD_MB = 700

# Socket pairs filled until the sender blocks, their ends handed to exec'd `sleep`s (40 of them, `per_sleeper`
# pairs each) and closed here: the queued data is held by processes of almost no memory of their own.
SLEEPERS = r'''
        import os, socket, time
        def fill_and_park(make_pair, mb, per_sleeper):
            held = 0
            for _ in range(40):
                fds = []
                try:
                    for _ in range(per_sleeper):
                        sender, receiver = make_pair()
                        sender.setblocking(False)
                        try:
                            while held < (mb << 20):
                                held += sender.send(b"x" * 65536)
                        except BlockingIOError:
                            pass
                        for sock in (sender, receiver):
                            fd = sock.detach()
                            os.set_inheritable(fd, True)
                            fds.append(fd)
                except OSError:
                    break
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "30"])
                for fd in fds:
                    os.close(fd)
                if held >= (mb << 20):
                    break
            time.sleep(2)
            return held >> 20
'''

# `count` children each run `fill` (a mapping, a heap block) and then stay; how many of them filled.
CHILDREN = r'''
        import os, time
        def in_children(count, fill):
            done_r, done_w = os.pipe()
            for _ in range(count):
                if os.fork() == 0:
                    try:
                        fill()
                        os.write(done_w, b"+")
                    except (OSError, MemoryError, ValueError):
                        pass
                    time.sleep(30)
                    os._exit(0)
            os.close(done_w)
            time.sleep(2)
            os.set_blocking(done_r, False)
            try:
                return len(os.read(done_r, 1024))
            except BlockingIOError:
                return 0
'''

HOLDERS = {
    "sysv_shm_detached": r'''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        def hold(mb):
            shm = libc.shmget(0, mb << 20, 0o1600)
            address = libc.shmat(shm, None, 0)
            if shm < 0 or address in (None, ctypes.c_void_p(-1).value):
                return 0
            ctypes.memset(address, 1, mb << 20)
            libc.shmdt(ctypes.c_void_p(address))
            return mb
    ''',
    "memfd_written_not_mapped": r'''
        import os
        KEEP = []
        def hold(mb):
            held = 0
            chunk = b"x" * (1 << 20)
            for _ in range(mb // 8):
                fd = os.memfd_create("hold")
                try:
                    for _ in range(8):
                        os.write(fd, chunk)
                except OSError:
                    os.close(fd)
                    break
                KEEP.append(fd)
                held += 8
            return held
    ''',
    "shared_anonymous_in_children": CHILDREN + r'''
        import mmap
        def fill():
            mmap.mmap(-1, 60 << 20, mmap.MAP_SHARED).write(b"x" * (60 << 20))
        def hold(mb):
            return 60 * in_children(mb // 60, fill)
    ''',
    # queued, unread data in socket pairs is kernel memory: in no file, and the processes holding the sockets
    # (tiny `sleep`s that inherited them) have almost no resident memory of their own
    "unix_socket_buffers_in_sleepers": SLEEPERS + r'''
        def hold(mb):
            return fill_and_park(socket.socketpair, mb, 100)
    ''',
    # the same in TCP connections over the loopback whose receiver's window is tiny: the data waits in the
    # SENDER's write queue
    "tcp_send_queues_in_sleepers": SLEEPERS + r'''
        def hold(mb):
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            def connection():
                sender = socket.create_connection(listener.getsockname())
                receiver, _ = listener.accept()
                sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
                return sender, receiver
            return fill_and_park(connection, mb, 50)
    ''',
    # inotify event queues: every instance watching /tmp queues an event (with a 255-byte name) for each file
    # made and removed there, up to 16384 each: kernel memory of no process
    "inotify_event_queues": r'''
        import ctypes, os
        def hold(mb):
            libc = ctypes.CDLL(None, use_errno=True)
            IN_CREATE, IN_DELETE = 0x100, 0x200
            instances = []
            for _ in range(128):
                fd = libc.inotify_init1(os.O_NONBLOCK)
                if fd < 0 or libc.inotify_add_watch(fd, b".", IN_CREATE | IN_DELETE) < 0:
                    break
                instances.append(fd)
            events = 0
            for index in range(8192):
                name = (str(index) + "n" * 255)[:255]
                try:
                    open(name, "w").close()
                    os.unlink(name)
                except OSError:
                    break
                events += 2
            queued = 0
            for fd in instances:          # what each queue holds, as read(2) would return it (FIONREAD)
                size = ctypes.c_int(0)
                libc.ioctl(fd, 0x541B, ctypes.byref(size))
                queued += size.value
            return queued >> 20
    ''',
    # /tmp and memory of processes that made themselves undumpable (their /proc/<pid>/root and maps close)
    "undumpable_tmpfs_and_heap": CHILDREN + r'''
        import ctypes
        def fill():
            block = bytearray(90 << 20)
            for index in range(0, len(block), 4096):
                block[index] = 1
        def hold(mb):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)            # PR_SET_DUMPABLE 0, inherited by children
            held = 0
            try:
                with open("hold.bin", "wb") as handle:
                    while held < mb:
                        handle.write(b"x" * (1 << 20))
                        handle.flush()
                        held += 1
            except OSError:
                pass
            return held + 90 * in_children(6, fill)
    ''',
    "tmpfs_files": r'''
        import os
        def hold(mb):
            held = 0
            chunk = b"x" * (1 << 20)
            for top in ("/dev/shm", "/tmp", "/var/tmp", "/run", "."):
                try:
                    with open(os.path.join(top, "hold.bin"), "wb") as handle:
                        while held < mb:
                            handle.write(chunk)
                            handle.flush()
                            held += 1
                except OSError:
                    continue
            return held
    ''',
}


@pytest.mark.parametrize("name", sorted(HOLDERS))
def test_memory_held_outside_the_heap_counts(name, tasks, sandbox, marker):
    before = probe(sandbox, [marker])
    program = code(HOLDERS[name]) + "\ndef f(mb):\n    import time\n    held = hold(mb)\n    time.sleep(1.5)\n    return held\n"
    result = sandbox.run([ExecJob("call", program, ((HOLD_MB,),), entry_point="f", limits=MEMORY_LIMITS)])[0]
    outcome = result.tests[0] if result.tests else None
    held = outcome.value if outcome is not None and outcome.status == "ok" else 0
    assert held <= 2 * MEMORY_LIMITS.memory_mb, f"held {held} MB under a {MEMORY_LIMITS.memory_mb} MB limit: {result}"
    assert_same_state(before, probe(sandbox, [marker]))
    assert_controls(tasks, sandbox, only=("humaneval",))


# ---------------------------------------------------------------- the worker's and the parent's memory
FLOODS = {
    "stdout": "import os\nchunk = b'x' * (1 << 20)\nfor _ in range(700):\n    os.write(1, chunk)\n",
    "stderr": "import os\nchunk = b'x' * (1 << 20)\nfor _ in range(700):\n    os.write(2, chunk)\n",
    "every_fd_without_newlines": ("import os\nchunk = b'[' * (1 << 20)\nfor _ in range(300):\n"
                                  "    for fd in range(0, 16):\n        try:\n            os.write(fd, chunk)\n"
                                  "        except OSError:\n            pass\n"),
    "report_lines_with_the_secret": SECRETS + code(r'''
        for key in keys:
            line = (json.dumps({"event": "test", "status": "ok", "value": "x" * 60000, "error": None,
                                "key": key}) + "\n").encode() * 16
            for _ in range(700):
                for fd in range(3, 16):
                    try:
                        os.write(fd, line)
                    except OSError:
                        pass
    '''),
    "huge_exception_message": "raise ValueError('x' * (400 << 20))\n",
}


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_worker_and_parent_memory_stay_bounded(name, tasks, sandbox):
    parent_before = own_rss_mb()
    program = FLOODS[name] + "def has_close_elements(numbers, threshold):\n    return False\n"
    inside = "def has_close_elements(numbers, threshold):\n" + "".join(
        "    " + line + "\n" for line in FLOODS[name].splitlines()) + "    return False\n"
    for attack in (program, inside):
        record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", attack)
        assert not passed(record), verdicts([record])
        worker_mb = descendants_rss_mb()
        assert worker_mb < 400, f"the worker holds {worker_mb:.0f} MB after the job"
    assert own_rss_mb() - parent_before < 300, "the parent kept what the job sent"
    assert_controls(tasks, sandbox, only=("humaneval",))


def test_huge_return_values_are_refused_not_kept(tasks, sandbox):
    job = ExecJob("call", "def f(n):\n    return 'x' * n\n", ((200 << 20,), ([1] * 10,)), entry_point="f",
                  stop_on_failure=False)
    parent_before = own_rss_mb()
    result = sandbox.run([job])[0]
    assert result.tests and result.tests[0].status != "ok"
    assert own_rss_mb() - parent_before < 300 and descendants_rss_mb() < 400
    assert_controls(tasks, sandbox, only=("livecodebench",))


# ---------------------------------------------------------------- bombs
BOMBS = {
    "fork_until_refused": ("import os, time\nfor _ in range(500):\n    try:\n        if os.fork() == 0:\n"
                           "            time.sleep(60)\n            os._exit(0)\n    except OSError:\n        break\n"),
    "fork_exit_churn": ("import os\nfor _ in range(20000):\n    try:\n        pid = os.fork()\n    except OSError:\n"
                        "        continue\n    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\n"),
    "thread_bomb": ("import threading, time\nfor _ in range(5000):\n    try:\n"
                    "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                    "    except (RuntimeError, MemoryError):\n        break\n"),
    "fork_bomb_of_forkers": ("import os, time\nfor _ in range(8):\n    try:\n        os.fork()\n    except OSError:\n"
                             "        break\ntime.sleep(30)\n"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_stopped_and_leave_nothing(name, tasks, sandbox, marker):
    before = probe(sandbox, [marker])
    program = BOMBS[name] + "def has_close_elements(numbers, threshold):\n    return False\n"
    record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", program)
    assert not passed(record), verdicts([record])
    assert_same_state(before, probe(sandbox, [marker]))
    assert_controls(tasks, sandbox, only=("humaneval", "livecodebench"))


def test_a_single_test_cannot_outlast_its_own_cap(tasks, marker):
    """HumanEval's check() is ONE test: with 0.5 CPU-s per test and a job allowance of 60 s, nothing the program
    does (here: "a test failed" lines forged with the job's secret, every 0.1 s for 40 s) may keep it running
    anywhere near the job's allowance."""
    from kateval.sandbox import make_executor

    executor = make_executor(workers=1, limits=ExecLimits(timeout_per_test_s=0.5, timeout_total_s=60.0,
                                                          memory_mb=256, output_bytes=1 << 16))
    program = ("import os, signal, time\ndef has_close_elements(numbers, threshold):\n"
               + "".join("    " + line + "\n" for line in STRETCHERS["forged_progress_with_secret"].replace(
                   "range(900)", "range(400)").replace('"ok"', '"error"').splitlines()) + "    return False\n")
    try:
        started = time.monotonic()
        record, = grade(tasks["humaneval"], executor, "HumanEval/0", program)
        took = time.monotonic() - started
        assert not passed(record), verdicts([record])
        assert took < 30, f"one test of 0.5 CPU-s ran {took:.0f} s"   # its cap: 6.5 s; the attack: 40 s
        assert_controls(tasks, executor, only=("humaneval",))
    finally:
        executor.close()


# ---------------------------------------------------------------- CPU accounting, measured not timed
ACCOUNTING = code(r'''
    import os, signal, subprocess, sys, threading, time

    def _discard_children():
        """Have exited children freed by the kernel (their CPU time added to nobody), any way that works."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        class KernelSigaction(ctypes.Structure):
            _fields_ = [("handler", ctypes.c_ulong), ("flags", ctypes.c_ulong), ("restorer", ctypes.c_ulong),
                        ("mask", ctypes.c_ulong)]
        SIG_DFL, SIG_IGN, SA_NOCLDWAIT = 0, 1, 2
        for number, handler, flags in ((17, SIG_DFL, SA_NOCLDWAIT), (17 | (1 << 32), SIG_IGN, 0),
                                       (17, SIG_IGN, 0)):
            action = KernelSigaction(handler, flags, 0, 0)
            if libc.syscall(13, ctypes.c_ulong(number), ctypes.byref(action), None, 8) == 0:   # rt_sigaction
                return True
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)
            return True
        except (OSError, ValueError):
            return False      # refused: the children stay waitable (zombies), as they should

    def _burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        return time.process_time()

    def _child(write_end, seconds):
        used = _burn(seconds)
        os.write(write_end, f"{used}\n".encode())
        os._exit(0)

    def spend(how):
        """Burn CPU in the way named; return the CPU seconds actually used (as each process measured itself)."""
        read_end, write_end = os.pipe()
        if how in ("auto_reaped_children", "tiny_auto_reaped_children"):
            _discard_children()
        if how == "undumpable_processes":      # /proc/<pid>/... of an undumpable process is closed to its uid
            import ctypes
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
            _burn(0.6)
        started = 0
        if how == "tiny_auto_reaped_children":     # each lives a few ms: between two looks of any sampler
            while started < 200:
                try:
                    pid = os.fork()
                except BlockingIOError:            # too many unreaped children (the refusal worked): reap some
                    try:
                        os.waitpid(-1, 0)
                    except ChildProcessError:
                        pass
                    continue
                if pid == 0:
                    _child(write_end, 0.005)
                started += 1
        for _ in range(4 if how != "tiny_auto_reaped_children" else 0):
            pids = []
            for _ in range(2):
                pid = os.fork()
                if pid == 0:
                    if how == "orphaned_grandchildren" and os.fork() != 0:
                        os._exit(0)           # the grandchild is left to the job's init
                    _child(write_end, 0.15)
                pids.append(pid)
            if how != "auto_reaped_children":
                for pid in pids:
                    os.waitpid(pid, 0)
        if how == "exec_subprocesses":
            script = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nprint(time.process_time())"
            for _ in range(2):
                os.write(write_end, subprocess.run([sys.executable, "-c", script], capture_output=True,
                                                   text=True).stdout.encode())
        if how == "threads":
            threads = [threading.Thread(target=_burn, args=(0.4,)) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        expected = {"threads": 0, "exec_subprocesses": 10, "tiny_auto_reaped_children": 200}.get(how, 8)
        os.close(write_end)
        reported, deadline = b"", time.monotonic() + 50
        while reported.count(b"\n") < expected and time.monotonic() < deadline:
            chunk = os.read(read_end, 1 << 16)      # every child (and grandchild) reports once, then exits
            if not chunk:
                break
            reported += chunk
        time.sleep(0.5)                            # and is gone
        return sum(float(value) for value in reported.split()) + time.process_time()
''')


@pytest.mark.parametrize("how", ["auto_reaped_children", "tiny_auto_reaped_children", "waited_children",
                                 "orphaned_grandchildren", "exec_subprocesses", "threads", "undumpable_processes"])
def test_the_sandbox_counts_every_cpu_second_of_the_job(how, sandbox):
    """Independent of how loaded the machine is: the CPU time the sandbox reports for a job (what its limits are
    checked against) is at least what the job's processes measured for themselves."""
    limits = ExecLimits(timeout_per_test_s=60.0, timeout_total_s=60.0, memory_mb=512, output_bytes=1 << 16,
                        calibrate=False)
    result = sandbox.run([ExecJob("call", ACCOUNTING, ((how,),), entry_point="spend", limits=limits)])[0]
    assert result.status == "completed" and result.tests[0].status == "ok", result
    spent = result.tests[0].value
    counted = getattr(result, "cpu_s", None)
    assert counted is not None, "the executor reports no CPU time for a job"
    assert counted >= 0.8 * spent, f"the job used {spent:.2f} CPU-s; the sandbox counted {counted:.2f}"


def test_large_answers_to_a_thousand_inputs_stay_bounded(tasks, sandbox, data_dir):
    """HumanEval+/0 calls the function on 1006 inputs: an answer just under the cap for each of them must not
    pile up in the worker or in the trusted parent (1006 x 60 KB = 60 MB here; with a user's larger cap, GBs)."""
    from kateval.tasks import load_task

    plus = load_task("humaneval_plus", data_dir)
    program = "def has_close_elements(numbers, threshold):\n    return 'x' * 60000 + str(len(numbers))\n"
    parent_before = own_rss_mb()
    record, = grade(plus, sandbox, "HumanEval/0", program)
    assert not passed(record), verdicts([record])
    assert own_rss_mb() - parent_before < 300 and descendants_rss_mb() < 400
    assert_controls(tasks, sandbox, only=("humaneval",))
