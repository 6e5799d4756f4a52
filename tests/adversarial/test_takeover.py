"""Taking over the worker: a job that reaches any process but its own descendants (ptrace, pidfd_getfd,
process_vm_readv, /proc/<pid>/mem and fd, signals, prlimit, scheduling knobs) can decide later verdicts.

The capability probe only asks (signal 0, a seize that is detached at once, setting a value to what it already
is); the attacks that do harm (stealing the control pipes, stopping or killing every process, crippling rlimits)
are bounded and stay inside the sandbox if it holds."""
from __future__ import annotations

import json

import pytest
from redteam import assert_controls, code, grade, passed, verdicts, wait_gone

from kateval.types import ExecJob, ExecLimits

CAPABILITIES = code(r'''
    import ctypes, errno, os, resource, signal, time

    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.syscall.restype = ctypes.c_long

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    def _ok(action):
        try:
            action()
            return True
        except OSError:
            return False

    def _rewrite(path):
        with open(path, "rb") as handle:
            value = handle.read()
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value)
        finally:
            os.close(fd)

    def reach(pid):
        """What this process can do to `pid`; every action leaves `pid` as it was."""
        found = {"signal": _ok(lambda: os.kill(pid, 0))}
        if libc.ptrace(0x4206, pid, None, None) == 0:     # PTRACE_SEIZE, detached at once
            libc.ptrace(17, pid, None, None)
            found["ptrace"] = True
        else:
            found["ptrace"] = False
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        if pidfd is not None:
            stolen = [libc.syscall(438, pidfd, fd, 0) for fd in range(0, 8)]   # pidfd_getfd
            found["pidfd_getfd"] = any(fd >= 0 for fd in stolen)
            for fd in stolen:
                if fd >= 0:
                    os.close(fd)
            found["pidfd_send_signal"] = libc.syscall(424, pidfd, 0, None, 0) == 0
            os.close(pidfd)
        buffer = ctypes.create_string_buffer(16)
        local = IoVec(ctypes.addressof(buffer), 16)
        remote = IoVec(id(reach), 16)          # the server forked us: this address is mapped there too
        read = libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)   # process_vm_readv
        found["process_vm_readv"] = read >= 0 or ctypes.get_errno() == errno.EFAULT
        found["kcmp"] = libc.syscall(312, os.getpid(), pid, 0, 0, 0) >= 0
        for name, flags in (("proc_mem_read", os.O_RDONLY), ("proc_mem_write", os.O_RDWR)):
            found[name] = _ok(lambda: os.close(os.open(f"/proc/{pid}/mem", flags)))
        for name in ("environ", "maps", "auxv", "syscall", "stack"):
            found["proc_" + name] = _ok(lambda: open(f"/proc/{pid}/{name}", "rb").read(1))
        found["proc_fd"] = _ok(lambda: os.listdir(f"/proc/{pid}/fd"))
        found["proc_fd_reopen"] = any(_ok(lambda: os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)))
                                      for fd in range(0, 8))
        found["proc_cwd"] = _ok(lambda: os.listdir(f"/proc/{pid}/cwd"))
        found["prlimit"] = _ok(lambda: resource.prlimit(pid, resource.RLIMIT_CORE))
        found["setpriority"] = _ok(lambda: os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid)))
        found["sched_setaffinity"] = _ok(lambda: os.sched_setaffinity(pid, os.sched_getaffinity(pid)))
        prio = libc.syscall(252, 1, pid)                                        # ioprio_get
        found["ioprio_set"] = prio >= 0 and libc.syscall(251, 1, pid, prio) == 0
        for knob in ("oom_score_adj", "coredump_filter", "comm", "timerslack_ns", "clear_refs", "attr/current"):
            found["write_" + knob] = _ok(lambda: _rewrite(f"/proc/{pid}/{knob}"))
        return found

    def survey():
        me = os.getpid()
        child = os.fork()
        if child == 0:
            libc.prctl(4, 1, 0, 0, 0)   # PR_SET_DUMPABLE: the harness may have made us undumpable
            time.sleep(30)
            os._exit(0)
        try:
            time.sleep(0.2)
            own = reach(child)
            others = {}
            for name in os.listdir("/proc"):
                if name.isdigit() and int(name) not in (me, child):
                    cmd = open(f"/proc/{name}/cmdline", "rb").read(80).replace(b"\0", b" ").decode("latin-1")
                    others[f"{name} {cmd}"] = sorted(k for k, v in reach(int(name)).items() if v)
            return {"own_child": own, "others": others}
        finally:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
''')


def test_a_job_reaches_no_process_but_its_own_descendants(sandbox):
    """ptrace, pidfd_getfd, process_vm_readv, /proc/<pid>/mem, signals, prlimit, scheduling knobs: none of them may
    work on the sandbox's init, the fork server or any other process (only on the job's own children)."""
    job = ExecJob("call", CAPABILITIES, ((),), entry_point="survey",
                  limits=ExecLimits(timeout_per_test_s=20.0, timeout_total_s=20.0, memory_mb=512))
    result = sandbox.run([job])[0]
    assert result.status == "completed" and result.tests[0].status == "ok", result
    found = result.tests[0].value
    # the survey itself works: its own child is reachable (ptrace too, unless a filter forbids ptrace outright)
    assert found["own_child"]["signal"], found["own_child"]
    # the kernel drops every signal a pid namespace's init has no handler for when it comes from inside that
    # namespace: a signal-0 probe of pid 1 is no reach (the handled ones are tried for real below)
    harmless = {"1": {"signal", "pidfd_send_signal"}}
    reachable = {process: [cap for cap in caps if cap not in harmless.get(process.split()[0], ())]
                 for process, caps in found["others"].items()}
    reachable = {process: caps for process, caps in reachable.items() if caps}
    assert not reachable, "a job can reach processes that are not its own:\n" + json.dumps(reachable, indent=1)


# ---------------------------------------------------------------- attacks that use that reach
STEAL_CONTROL_PIPES = code(r'''
    import ctypes, gc, json, os, pickle, struct, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def _stolen():
        fds = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                pidfd = os.pidfd_open(int(name))
            except OSError:
                continue
            for target in range(0, 64):
                fd = libc.syscall(438, pidfd, target, 0)
                if fd >= 0:
                    fds.append(fd)
        return fds

    def _jobs():
        found = [obj for obj in gc.get_objects() if type(obj) is dict and type(obj.get("id")) is int]
        return found or [{"id": n, "tests": [None]} for n in range(1, 4)]

    def _reply(job, count):
        return {"job": job["id"], "id": job["id"], "status": "completed", "error": None, "wall_s": 0.01,
                "tests": [{"status": "ok", "value": True, "error": None}] * count, "passed": True}

    def has_close_elements(numbers, threshold):
        fds = _stolen()
        for job in _jobs():
            count = len(job.get("tests") or [None])
            for frame in (json.dumps(_reply(job, count)).encode(), pickle.dumps(_reply(job, count))):
                for packed in (struct.pack(">I", len(frame)) + frame, struct.pack("<I", len(frame)) + frame,
                               struct.pack(">Q", len(frame)) + frame, frame + b"\n"):
                    for fd in fds:
                        try:
                            os.set_blocking(fd, False)
                            os.write(fd, packed)
                        except OSError:
                            pass
        for fd in fds:   # and swallow whatever the harness sends next
            try:
                os.set_blocking(fd, False)
                os.read(fd, 1 << 20)
            except OSError:
                pass
        time.sleep(1)
        return False
''')

HARM_EVERY_PROCESS = {
    "sigkill_everyone": "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
    "sigterm_hup_usr_everyone": ("import os, signal\nfor pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
                                 "    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,"
                                 " signal.SIGPIPE, signal.SIGINT, signal.SIGSEGV):\n"
                                 "        try:\n            os.kill(pid, sig) if pid != os.getpid() else None\n"
                                 "        except OSError:\n            pass\n"),
    "kill_init": "import os, signal\nos.kill(1, signal.SIGKILL)\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "kill_process_group_and_session": ("import os, signal\nfor target in (0, -os.getpgid(0), -os.getsid(0)):\n"
                                       "    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n"
                                       "        pass\n"),
    "prlimit_everyone": code(r'''
        import os, resource
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            for which, value in ((resource.RLIMIT_NOFILE, 3), (resource.RLIMIT_NPROC, 0), (resource.RLIMIT_CPU, 1),
                                 (resource.RLIMIT_AS, 1 << 24), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_STACK, 1 << 16),
                                 (resource.RLIMIT_DATA, 1 << 20), (resource.RLIMIT_MEMLOCK, 0)):
                try:
                    resource.prlimit(pid, which, (value, value))
                except (OSError, ValueError):
                    pass
    '''),
    # one limit at a time, on the sandbox's init only: low enough to break what it does next, not to kill it
    **{f"prlimit_init_{which[7:].lower()}": f"import resource\ntry:\n    resource.prlimit(1, resource.{which}, ({value}, {value}))\n"
       "except (OSError, ValueError):\n    pass\n"
       for which, value in (("RLIMIT_NOFILE", 12), ("RLIMIT_NPROC", 1), ("RLIMIT_AS", 200 << 20),
                            ("RLIMIT_FSIZE", 0), ("RLIMIT_CORE", 0), ("RLIMIT_MEMLOCK", 0))},
    "renice_and_starve_everyone": code(r'''
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            for action in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
                           lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)),
                           lambda: os.sched_setaffinity(pid, {0})):
                try:
                    action()
                except OSError:
                    pass
            libc.syscall(251, 1, pid, (3 << 13) | 7)    # ioprio_set: idle class
            for knob, value in (("oom_score_adj", b"1000"), ("coredump_filter", b"0xff"), ("comm", b"hijacked")):
                try:
                    with open(f"/proc/{pid}/{knob}", "wb") as handle:
                        handle.write(value)
                except OSError:
                    pass
    '''),
    "pidfd_signal_everyone": code(r'''
        import ctypes, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            libc.syscall(424, fd, signal.SIGKILL, None, 0)
    '''),
}


CARRIERS = {
    "check": ("humaneval", "HumanEval/0", lambda attack: attack),
    "call": ("livecodebench", "2819", lambda attack: attack + "class Solution:\n    def removeTrailingZeros(self, num):\n"
                                                          "        return has_close_elements(None, None) or num\n"),
    "stdio": ("livecodebench", "abc320_a", lambda attack: attack + "has_close_elements(None, None)\nprint(0)\n"),
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_stolen_control_pipes_forge_nothing(carrier, tasks, sandbox):
    """pidfd_getfd on the sandbox's init hands a job the worker's own pipes to the trusted parent."""
    task, problem_id, wrap = CARRIERS[carrier]
    record, = grade(tasks[task], sandbox, problem_id, wrap(STEAL_CONTROL_PIPES))
    assert not passed(record), f"forged pass: {verdicts([record])}"
    assert_controls(tasks, sandbox)


@pytest.mark.parametrize("name", sorted(HARM_EVERY_PROCESS))
def test_harming_other_processes_costs_only_this_sample(name, tasks, sandbox):
    body = HARM_EVERY_PROCESS[name]
    program = body + "def has_close_elements(numbers, threshold):\n    return False\n"
    inside = "def has_close_elements(numbers, threshold):\n" + "".join(
        "    " + line + "\n" for line in body.splitlines()) + "    return False\n"
    records = grade(tasks["humaneval"], sandbox, "HumanEval/0", program) + grade(
        tasks["humaneval"], sandbox, "HumanEval/0", inside)
    assert not any(passed(r) for r in records), verdicts(records)
    assert_controls(tasks, sandbox)
    # the same once more: a worker that was harmed twice still grades
    grade(tasks["humaneval"], sandbox, "HumanEval/0", program)
    assert_controls(tasks, sandbox, only=("humaneval", "livecodebench"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigstop_everyone", "sigstop_parent_then_exit"])
def test_stopping_the_worker_costs_only_this_sample(how, tasks, marker):
    """SIGSTOP to every process (or the fork server alone): the job is lost, the worker is replaced within the
    limits, and the controls after it grade right. (Small limits: the parent's wait for a silent worker follows
    them.)"""
    from kateval.sandbox import make_executor
    from kateval.types import ExecLimits

    sandbox = make_executor(workers=1, limits=ExecLimits(timeout_per_test_s=1.0, timeout_total_s=2.0,
                                                         memory_mb=512, output_bytes=1 << 16))
    body = {"sigstop_everyone": "os.kill(-1, signal.SIGSTOP)\n",
            "sigstop_parent_then_exit": "os.kill(os.getppid(), signal.SIGSTOP)\nos._exit(0)\n"}[how]
    program = ("import os, signal\ndef has_close_elements(numbers, threshold):\n"
               + "".join("    " + line + "\n" for line in body.splitlines()) + "    return False\n")
    try:
        record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", program)
        assert not passed(record), verdicts([record])
        assert_controls(tasks, sandbox)
    finally:
        sandbox.close()


# ---------------------------------------------------------------- escaping through /proc and namespaces
def escape_attempts(host_dir: str) -> str:
    return code(r'''
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)

        def _write_everywhere(path_in_host):
            targets = [path_in_host, "/proc/self/root" + path_in_host]
            for name in os.listdir("/proc"):
                if name.isdigit():
                    targets += [f"/proc/{name}/root{path_in_host}", f"/proc/{name}/cwd/escaped"]
            for target in targets:
                try:
                    with open(target, "w") as handle:
                        handle.write("escaped")
                except OSError:
                    pass

        def has_close_elements(numbers, threshold):
            _write_everywhere({{HOST}} + "/escaped")
            # a new user+mount namespace, then the same again from inside it
            if libc.unshare(0x10000000 | 0x00020000) == 0:     # CLONE_NEWUSER | CLONE_NEWNS
                libc.mount(b"none", b"/", None, 0x40000 | 0x4000, None)   # MS_REC | MS_PRIVATE
                _write_everywhere({{HOST}} + "/escaped-from-userns")
            return False
    ''', HOST=host_dir)


def test_no_path_through_proc_or_namespaces_reaches_the_host(tasks, sandbox, tmp_path):
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    host_dir.chmod(0o777)
    record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", escape_attempts(str(host_dir)))
    assert not passed(record), verdicts([record])
    assert sorted(p.name for p in host_dir.iterdir()) == []
    assert_controls(tasks, sandbox, only=("humaneval",))


def test_leftover_implant_is_gone_after_the_job(tasks, sandbox, marker, tmp_path):
    """A daemon (double fork, setsid, ignoring every catchable signal) that would keep running during later jobs."""
    program = code(r'''
        import os, signal, time
        def _daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    for sig in range(1, 32):
                        try:
                            signal.signal(sig, signal.SIG_IGN)
                        except (OSError, ValueError):
                            pass
                    os.execv("/bin/sleep", ["sleep", "120", {{MARK}}])
                os._exit(0)
        def has_close_elements(numbers, threshold):
            _daemon()
            time.sleep(0.5)
            return False
    ''', MARK=marker)
    record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", program)
    assert not passed(record), verdicts([record])
    assert wait_gone(marker) == [], "the implant outlived its job"
    assert_controls(tasks, sandbox, only=("humaneval",))



SHADOW_MODULES = code(r'''
    import os
    SHADOW = (
        "import sys, types\n"
        "try:\n    open({{HOST}} + '/imported-' + __name__, 'w').write('x')\nexcept OSError:\n    pass\n"
        "isclose = lambda *a, **k: True\nfabs = lambda x: 0.0\nsqrt = lambda x: 0.0\npi = 3.0\n"
        "getsizeof = lambda x: 0\nrandint = lambda a, b: a\nchoice = lambda s: s[0]\n"
        "def __getattr__(name):\n    return lambda *a, **k: True\n"
    )
    NAMES = ("math", "sys", "random", "copy", "string", "json", "re", "hashlib", "collections", "itertools", "numpy",
             "decimal", "fractions", "sitecustomize", "usercustomize", "encodings", "site", "typing", "builtins")
    def _plant():
        for top in {os.getcwd(), "/tmp", os.path.expanduser("~"), "/var/tmp", "/dev/shm"}:
            for name in NAMES:
                for path in (f"{top}/{name}.py", f"{top}/{name}/__init__.py"):
                    try:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        with open(path, "w") as handle:
                            handle.write(SHADOW)
                    except OSError:
                        pass
            try:
                with open(f"{top}/kateval-redteam.pth", "w") as handle:
                    handle.write("import sitecustomize\n")
            except OSError:
                pass
    _plant()
''')


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_planted_modules_are_never_imported_later(carrier, tasks, sandbox, tmp_path):
    """Modules named like the standard library's, sitecustomize and a .pth, planted wherever a job can write: no
    later job, judge or reference run may import them (a fake `math.isclose` would pass every MBPP float test)."""
    host = tmp_path / "host"
    host.mkdir()
    host.chmod(0o777)
    task, problem_id, wrap = CARRIERS[carrier]
    attack = code(SHADOW_MODULES, HOST=str(host)) + "def has_close_elements(numbers, threshold):\n    return False\n"
    record, = grade(tasks[task], sandbox, problem_id, wrap(attack))
    assert not passed(record), verdicts([record])
    assert_controls(tasks, sandbox)
    assert sorted(p.name for p in host.iterdir()) == [], "a planted module was imported outside the sandbox"
