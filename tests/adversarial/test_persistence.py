"""Nothing survives a job: each attack leaves something behind on its worker (files the wipe cannot remove, IPC
objects, keys, queues, processes, a full or unwritable scratch), then a probe job on the same worker must see
exactly what it saw before the attack, and the controls graded after it must be right."""
from __future__ import annotations

import pytest
from redteam import assert_controls, assert_same_state, code, grade, passed, probe, verdicts

WRONG = "\ndef has_close_elements(numbers, threshold):\n    return False\n"

LEFTOVERS = {
    "dir_chmod_000": (r'''
        import os
        for top in (".", "/tmp"):
            os.makedirs(os.path.join(top, "locked", "inner"), exist_ok=True)
            open(os.path.join(top, "locked", "inner", "kept.txt"), "w").write("x" * 1000)
            os.chmod(os.path.join(top, "locked", "inner"), 0)
            os.chmod(os.path.join(top, "locked"), 0)
    '''),
    "immutable_and_append_only_flags": (r'''
        import fcntl, os, struct
        FS_IOC_SETFLAGS, FS_IMMUTABLE_FL, FS_APPEND_FL = 0x40086602, 0x10, 0x20
        os.makedirs("frozen/inner", exist_ok=True)
        open("frozen/inner/kept.txt", "w").write("x")
        for path, flags in (("frozen/inner/kept.txt", FS_IMMUTABLE_FL), ("frozen/inner", FS_APPEND_FL),
                            ("frozen", FS_IMMUTABLE_FL), (".", FS_APPEND_FL)):
            try:
                fd = os.open(path, os.O_RDONLY)
                fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags))
                os.close(fd)
            except OSError:
                pass
    '''),
    "scratch_root_chmod_000": "import os\nopen('kept.txt', 'w').write('x')\nos.chmod('.', 0)\n"
                              "os.chmod('/tmp', 0) if os.path.isdir('/tmp') else None\n",
    "scratch_root_read_only": "import os\nos.chmod('.', 0o555)\nos.chmod('/tmp', 0o555) if os.path.isdir('/tmp') else None\n",
    "scratch_root_sticky_setgid": "import os\nos.chmod('.', 0o3777)\nos.chmod('/tmp', 0o1700) if os.path.isdir('/tmp') else None\n",
    "nested_3000_dirs": (r'''
        import os
        base = os.getcwd()
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
        open("bottom.txt", "w").write("x")
        os.chdir(base)
    '''),
    "path_longer_than_path_max": (r'''
        import os
        base = os.getcwd()
        for index in range(40):
            name = (str(index) + "n" * 255)[:255]
            os.mkdir(name)
            os.chdir(name)
        open("x" * 255, "w").write("x")
        os.chdir(base)
    '''),
    "twenty_thousand_inodes": (r'''
        import os
        os.mkdir("many")
        for index in range(20000):
            open(f"many/{index}", "w").close()
        for index in range(2000):
            os.link("many/0", f"many/link{index}")
    '''),
    "odd_names_and_special_files": (r'''
        import os, socket
        for name in (b"\xff\xfe bad utf8", b"new\nline", b".hidden", b"-rf", b" ", b"..."):
            open(name, "w").write("x")
        os.mkfifo("fifo")
        unix = socket.socket(socket.AF_UNIX)
        unix.bind("socket")
        os.symlink("/", "root-link")
        os.symlink("loop", "loop")
        os.symlink("/proc/self/cwd", "cwd-link")
        os.mkdir("xattr-dir")
        try:
            os.setxattr("xattr-dir", "user.kept", b"1")
        except OSError:
            pass
    '''),
    "scratch_filled": (r'''
        import os
        os.makedirs("full/inner")
        chunk = b"x" * (1 << 20)
        try:
            with open("full/inner/blob", "wb") as handle:
                for _ in range(4096):
                    handle.write(chunk)
        except OSError:
            pass
        index = 0
        try:
            while index < 200000:
                open(f"full/inner/{index}", "w").close()
                index += 1
        except OSError:
            pass
        os.chmod("full/inner", 0)
        os.chmod("full", 0)
    '''),
    "sysv_ipc_objects": (r'''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        key = {{KEY}}
        for flags in (0o1666,):   # IPC_CREAT | 0666
            shm = libc.shmget(key, 1 << 20, flags)
            libc.shmget(0, 1 << 16, flags)           # IPC_PRIVATE too
            address = libc.shmat(shm, None, 0)
            libc.msgget(key, flags)
            libc.msgget(0, flags)
            libc.semget(key, 4, flags)
            libc.semget(0, 4, flags)
    '''),
    "posix_message_queue": (r'''
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mq_open(("/" + {{NAME}}).encode(), os.O_CREAT | os.O_RDWR, 0o666, None)
    '''),
    "keyring_entries": (r'''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        name, payload = {{NAME}}.encode(), b"kept across jobs"
        for ring in (-4, -3, -5, -2):    # user, session, user-session, process keyrings
            libc.syscall(248, b"user", name, payload, len(payload), ctypes.c_long(ring))   # add_key
        persistent = libc.syscall(250, 22, -1, ctypes.c_long(-4))    # KEYCTL_GET_PERSISTENT into the user keyring
        if persistent >= 0:
            libc.syscall(248, b"user", name, payload, len(payload), ctypes.c_long(persistent))
        for index in range(150):     # and use up the key quota
            libc.syscall(248, b"user", name + str(index).encode(), payload, len(payload), ctypes.c_long(-4))
    '''),
    "namespaces_and_mounts": (r'''
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000 | 0x00020000 | 0x04000000 | 0x08000000) == 0:   # user, mount, uts, ipc
            libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
            libc.mount(b"tmpfs", os.getcwd().encode(), b"tmpfs", 0, None)
            libc.sethostname(b"owned", 5)
        open("after-unshare.txt", "w").write("x")
    '''),
    "environment_cwd_umask_rlimits": (r'''
        import os, resource
        os.environ["PYTHONSTARTUP"] = "/tmp/evil.py"
        os.putenv("LD_PRELOAD", "/tmp/evil.so")
        os.umask(0o777)
        os.chdir("/")
        for which in (resource.RLIMIT_NOFILE, resource.RLIMIT_STACK, resource.RLIMIT_CORE):
            soft, hard = resource.getrlimit(which)
            resource.setrlimit(which, (min(soft, 64) if soft > 0 else soft, min(hard, 64) if hard > 0 else hard))
        os.nice(19)
    '''),
    "sparse_and_fallocated_files": (r'''
        import os
        for size in (1 << 40, 1 << 34, 1 << 30):
            try:
                with open(f"sparse-{size}", "wb") as handle:
                    handle.truncate(size)
            except OSError:
                pass
        try:
            fd = os.open("allocated", os.O_CREAT | os.O_WRONLY)
            os.posix_fallocate(fd, 0, 60 << 20)
        except OSError:
            pass
        os.makedirs("held/inner")
        os.rename("allocated", "held/inner/allocated") if os.path.exists("allocated") else None
        os.chmod("held", 0o100)
    '''),
    "subreaper_with_disguised_children": (r'''
        import ctypes, os, time
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)                       # PR_SET_CHILD_SUBREAPER
        libc.prctl(1, 0, 0, 0, 0)                        # no parent-death signal
        if os.fork() == 0:
            libc.prctl(15, b"python3.11")                # PR_SET_NAME: looks like the server
            if os.fork() == 0:
                os.execv("/bin/sleep", ["bwrap", "60", {{MARK}}])
            os._exit(0)
        time.sleep(0.3)
    '''),
    # a process whose pid never stays the same (fork, parent exits, child goes on): a cleanup that lists pids and
    # then kills them finds each one gone and misses its successor
    "pid_hopping_forker": (r'''
        import ctypes, os, time
        libc = ctypes.CDLL(None, use_errno=True)
        if os.fork() == 0:
            os.setsid()
            libc.prctl(15, {{MARK}}.encode()[:15])      # PR_SET_NAME: every hop carries the marker
            end = time.monotonic() + 60
            hops = 0
            while time.monotonic() < end and hops < 100000:
                try:
                    if os.fork() != 0:
                        os._exit(0)
                except OSError:
                    time.sleep(0.01)
                hops += 1
            os._exit(0)
        time.sleep(0.3)
    '''),
    # sockets that only exist inside each other's queues (SCM_RIGHTS in flight), abstract names bound, buffers
    # full: no process holds them, so no kill reaches them; the network namespace is the worker's, not the job's
    "unix_sockets_in_flight_cycles": (r'''
        import socket
        for index in range(200):
            left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                named.bind("\0" + {{MARK}} + str(index))
            except OSError:
                pass
            left.setblocking(False)
            try:
                for _ in range(64):
                    left.send(b"x" * 4096)
            except OSError:
                pass
            try:
                socket.send_fds(left, [b"fds"], [left.fileno(), right.fileno(), named.fileno()])
                socket.send_fds(right, [b"fds"], [left.fileno(), right.fileno(), named.fileno()])
            except OSError:
                pass
            for sock in (left, right, named):
                sock.close()
    '''),
    # TCP state the kernel keeps after the processes are gone: connections closed cleanly (TIME_WAIT, 60 s),
    # half-closed (FIN_WAIT2), and ones left open with data queued both ways, over IPv4 and IPv6 loopback
    "tcp_connections_left_closing": (r'''
        import socket
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                listener = socket.socket(family)
                listener.bind((host, 0))
                listener.listen(64)
            except OSError:
                continue
            for index in range(20):
                client = socket.create_connection(listener.getsockname()[:2])
                server, _ = listener.accept()
                client.sendall(b"x" * 1000)
                server.sendall(b"y" * 1000)
                if index % 3 == 0:      # both closed, the client first: TIME_WAIT on its side
                    server.recv(1000)
                    client.recv(1000)
                    client.close()
                    server.close()
                elif index % 3 == 1:    # the client half-closed, the server still open when the job ends
                    client.shutdown(socket.SHUT_WR)
    '''),
    "leftover_processes": (r'''
        import ctypes, os, signal, time
        libc = ctypes.CDLL(None, use_errno=True)
        def spawn(body):
            if os.fork() == 0:
                try:
                    body()
                finally:
                    os._exit(0)
        def daemon():
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "60", {{MARK}} + "-daemon"])
        def in_new_pid_namespace():
            if libc.unshare(0x10000000 | 0x20000000) == 0:   # CLONE_NEWUSER | CLONE_NEWPID
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "60", {{MARK}} + "-pidns"])
                time.sleep(60)
        def traced_and_stopped():
            child = os.fork()
            if child == 0:
                libc.ptrace(0, 0, None, None)       # PTRACE_TRACEME
                os.kill(os.getpid(), signal.SIGSTOP)
                os.execv("/bin/sleep", ["sleep", "60", {{MARK}} + "-traced"])
            time.sleep(60)
        def ignores_signals():
            for sig in range(1, 32):
                try:
                    signal.signal(sig, signal.SIG_IGN)
                except (OSError, ValueError):
                    pass
            libc.prctl(15, ({{MARK}} + "-ign").encode()[:15])     # PR_SET_NAME
            time.sleep(60)
        for body in (daemon, in_new_pid_namespace, traced_and_stopped, ignores_signals):
            spawn(body)
        time.sleep(0.5)
    '''),
}


def leftover(name: str, marker: str) -> str:
    key = int(marker[3:], 16) % (1 << 30) + 1
    return code(LEFTOVERS[name], KEY=key, NAME=marker, MARK=marker) + WRONG


CARRIERS = {
    # the same leftover made by a check() job and by a stdin/stdout job (which runs a process per test)
    "check": ("humaneval", "HumanEval/0", lambda source: source + WRONG),
    "stdio": ("livecodebench", "abc320_a", lambda source: source + "print(0)\n"),
}


# a stdin/stdout job runs one process per test: the leftovers most likely to slip between those
STDIO_LEFTOVERS = ("tcp_connections_left_closing", "unix_sockets_in_flight_cycles", "dir_chmod_000", "keyring_entries", "leftover_processes", "pid_hopping_forker", "nested_3000_dirs", "scratch_filled",
                   "scratch_root_chmod_000", "sysv_ipc_objects")


@pytest.mark.parametrize(("name", "carrier"), [(name, "check") for name in sorted(LEFTOVERS)]
                         + [(name, "stdio") for name in STDIO_LEFTOVERS])
def test_nothing_survives_a_job(name, carrier, tasks, sandbox, marker):
    before = probe(sandbox, [marker])
    task, problem_id, wrap = CARRIERS[carrier]
    program = wrap(leftover(name, marker).replace(WRONG, ""))
    record, = grade(tasks[task], sandbox, problem_id, program)
    assert not passed(record), verdicts([record])
    assert_same_state(before, probe(sandbox, [marker]))
    assert_controls(tasks, sandbox)


SELF_TEST_MAKERS = r'''
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    MADE = {"shm": libc.shmget({{KEY}}, 4096, 0o1666) >= 0,
            "mqueue": libc.mq_open(("/" + {{NAME}}).encode(), os.O_CREAT | os.O_RDWR, 0o666, None) >= 0,
            "key": libc.syscall(248, b"user", {{NAME}}.encode(), b"x", 1, ctypes.c_long(-4)) >= 0}
    os.mkfifo("fifo")

    def _probe(names):
        return {"state": probe(names), "made": MADE}
'''


def test_probe_sees_its_own_leftovers_inside_one_job(sandbox, marker):
    """The probe is worth something: run inside the job that made them, it sees the files, and each IPC object,
    queue and key the job managed to create (so an empty diff after a job means they were removed, not unseen)."""
    from redteam import PROBE

    from kateval.types import ExecJob, ExecLimits

    makers = code(SELF_TEST_MAKERS, KEY=int(marker[3:], 16) % (1 << 30) + 1, NAME=marker)
    job = ExecJob("call", PROBE + "\n" + makers, (((marker,),),), entry_point="_probe",
                  limits=ExecLimits(timeout_per_test_s=20.0, timeout_total_s=20.0, memory_mb=512, output_bytes=8 << 20))
    result = sandbox.run([job])[0]
    assert result.tests and result.tests[0].status == "ok", result
    seen, made = result.tests[0].value["state"], result.tests[0].value["made"]
    assert any("fifo" in str(entry) for entry in seen["scratch"])
    assert bool(seen["sysvipc"]["shm"]) == made["shm"]
    assert seen["mqueues"][marker] == made["mqueue"]
    assert any(marker in line for line in seen["keys"]) == made["key"]
