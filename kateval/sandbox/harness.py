"""What runs in a job's own process: entering the job's isolation, loading a program, answering calls, or running
it as __main__ for a stdio test. Standard library only (handed to the sandbox servers as source).

TRUSTED / UNTRUSTED: JobSetup.enter() runs before any program code (it is the server's code, in the freshly forked
child); from the moment load() executes the program, everything in this process belongs to the program. The
process then holds nothing of value: no test code, no expected output, no secret, and its only channels are the
call pipe (it receives arguments) and the reply pipe (it sends values). A reply is just the program's answer:
the trusted side decodes it strictly and compares it itself, so a program that rewrites this harness, forges
frames or exits early only changes its own answers.
"""
import atexit
import builtins
import ctypes
import fcntl
import json
import os
import resource
import signal
import sys
import traceback
import types

from kateval.sandbox import protocol

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 22, 2, 47, 4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
CAPSET = {"x86_64": 126, "aarch64": 91}
CAP_VERSION_3 = 0x20080522
SIGKILL = 9
CALL_FD, REPLY_FD = 3, 4
# Per process. With the process limit it also bounds the kernel memory a job can hold through descriptors the
# server does not measure (pipe buffers, epoll watches).
OPEN_FILES = 128


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LIBC = []


def load_libc():
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        _LIBC.append(libc)
    return _LIBC[0]


def ensure(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


# ---------------------------------------------------------------- isolation (server code, before the program)
class JobSetup:
    """Entering a job's isolation, prepared once in the server before any fork (the libc calls, the capability
    and seccomp structures, the mount options, the signal handlers): a forked child then makes a few prepared
    calls and so touches, and copies, as little of the server's memory as it can."""

    def __init__(self, config):
        self.config, libc = config, load_libc()
        self.prctl, self.unshare, self.mount, self.syscall = libc.prctl, libc.unshare, libc.mount, libc.syscall
        self.tmpfs_options = f"size={config['tmpfs_bytes']},mode=1777,nr_inodes=16384".encode()
        self.cap_header, self.cap_data = CapHeader(CAP_VERSION_3, 0), (CapData * 2)()
        self.capset = CAPSET.get(os.uname().machine)
        program = bytes.fromhex(config["seccomp"]) if config.get("seccomp") else b""
        self.filter = ctypes.create_string_buffer(program, len(program))
        self.fprog = SockFprog(len(program) // 8, ctypes.cast(self.filter, ctypes.c_void_p))
        if config["namespaces"]:
            die_of_fatal_signals()   # inherited by every child

    def enter(self, limits, fds):
        """In the freshly forked child (pid 1 of a pid namespace of its own): move the job's pipes to fds 0-4,
        give it fresh mount, IPC and UTS namespaces with a size-capped /tmp and a /proc of its own (freed with
        the job), apply rlimits, drop every capability and install the seccomp filter. `fds` maps a target fd
        number to the fd holding it."""
        config = self.config
        ensure(self.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig")
        if not config["pidns"]:
            os.setsid()   # the weak levels find (and kill) a job's processes by its session
        _move_fds(fds)
        if config["namespaces"]:
            ensure(self.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
            ensure(self.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
            ensure(self.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, self.tmpfs_options), "mount /tmp")
            mount_proc(self.mount)   # the job is pid 1 of its own pid namespace: its /proc shows its own only
            os.chdir("/tmp")
        else:
            os.chdir(config["scratch"])
        set_limits(limits, config)
        # The server is not dumpable and a forked child inherits that; the program's own /proc files (its fds,
        # its memory) are its own business, and the server measures its /tmp through /proc/<pid>/root.
        ensure(self.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
        if config["namespaces"]:
            self._drop_capabilities()
        if self.fprog.len:
            ensure(self.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            ensure(self.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.fprog), 0, 0), "seccomp")

    def _drop_capabilities(self):
        """No capability survives into the program, nor into anything it executes (none may be ambient)."""
        ensure(self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
        if self.capset is None:
            raise OSError("no capset syscall number for this architecture")
        ensure(self.syscall(self.capset, ctypes.byref(self.cap_header), self.cap_data), "capset")


# Signals whose default action ends a process. A job's first process is pid 1 of its pid namespace, to which the
# kernel delivers no signal it sent itself unless a handler is set: with these handlers it ends as anywhere else
# (exit status 128 + the signal). A program may still set handlers of its own.
FATAL_SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGABRT",
                 "SIGTRAP", "SIGSYS", "SIGIO", "SIGPWR", "SIGSTKFLT")


def die_of_fatal_signals():
    for name in FATAL_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _die)


def _die(number, frame):
    os._exit(128 + number)


def enter_trusted(config, limits, fds):
    """The judge's child (the data's own code only): its pipes, rlimits and scratch directory."""
    ensure(load_libc().prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig")
    if not config["pidns"]:
        os.setsid()
    _move_fds(fds)
    os.chdir(config["scratch"])
    set_limits(limits, config)


def mount_proc(mount):
    ensure(mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")


def _move_fds(fds):
    """Place each source fd at its target number, close everything else. Sources above every target (the usual
    case) are moved directly; otherwise through temporary numbers, as sources may collide with targets."""
    highest = max(fds) if fds else -1
    if min(fds.values(), default=highest + 1) <= highest:
        fds = {target: fcntl.fcntl(source, fcntl.F_DUPFD, 1000) for target, source in fds.items()}
    for target, source in fds.items():
        os.dup2(source, target)
    os.closerange(highest + 1, 1 << 16)
    for target in range(highest + 1):
        if target not in fds:
            try:
                os.close(target)
            except OSError:
                pass


def set_limits(limits, config):
    memory = limits["memory_mb"] << 20
    cpu = int(limits["cpu_s"]) + 2
    caps = [(resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_FSIZE, config["file_bytes"]), (resource.RLIMIT_NOFILE, OPEN_FILES)]
    if config.get("nproc"):
        caps.append((resource.RLIMIT_NPROC, config["nproc"]))
    for which, value in caps:
        resource.setrlimit(which, (value, value))


# ---------------------------------------------------------------- the program
def describe_exception(exc):
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a program's exception may fail to print in any way
        text = "<unprintable>"
    return [type(exc).__name__[:100], text[:protocol.ERROR_CHARS]]


def fresh_module(name):
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    sys.modules[name] = module
    if name != "__main__":
        sys.modules["__main__"] = types.ModuleType("__main__")
    return module


def _send(kind, body):
    """One reply frame: a status byte (v value, e error, l load report) and JSON."""
    try:
        data = kind + protocol.dumps(body)
    except (ValueError, TypeError, RecursionError) as exc:
        data = b"e" + protocol.dumps(["Unencodable", str(exc)[:protocol.ERROR_CHARS]])
    protocol.send_frame(REPLY_FD, data)


def serve(code, cap):
    """A call job's process: load the program, report how that went, then answer calls until the pipe closes."""
    module = fresh_module("solution")
    try:
        exec(compile(code, "<solution>", "exec"), module.__dict__)  # noqa: S102 - running the program is the job
    except BaseException as exc:  # noqa: BLE001 - whatever the program raises is its verdict
        _send(b"l", {"ok": False, "memory": isinstance(exc, MemoryError), "error": describe_exception(exc)})
        return
    _send(b"l", {"ok": True})
    Server(module.__dict__, cap).loop()


class Server:
    """Answers the trusted side's requests about the program: call a name, a method or an object it holds."""

    def __init__(self, namespace, cap):
        self.namespace, self.cap = namespace, cap
        self.objects = {}          # handle id -> object kept here for the judge
        self.decode = protocol.Decoder(numpy=True, handle=self._object, builtin=self._builtin)

    def loop(self):
        while True:
            try:
                frame = protocol.recv_frame(CALL_FD, 1 << 30)
            except (OSError, ValueError):
                return
            if frame is None:
                return
            request = json.loads(frame)
            if request["op"] == "calls":   # a call job: every test's arguments at once, answered in turn
                for args in request["args"]:
                    self.answer({"op": "call", "target": request["target"], "args": args,
                                 "handles": request.get("handles", False)})
            else:
                self.answer(request)

    def answer(self, request):
        try:
            value = self.handle(request)
        except MemoryError as exc:
            _send(b"e", ["MemoryError", describe_exception(exc)[1]])
            return
        except BaseException as exc:  # noqa: BLE001 - the program's exception is its answer
            _send(b"e", describe_exception(exc))
            return
        self._reply(value, request.get("handles", False))

    def handle(self, request):
        op = request["op"]
        if op == "globals":
            return {name: self.namespace[name] for name in request["names"] if name in self.namespace}
        if op == "call":
            function = self._target(request["target"])
            args = [self.decode(arg) for arg in request.get("args", [])]
            kwargs = {key: self.decode(value) for key, value in request.get("kwargs", [])}
            return function(*args, **kwargs)
        target = self._object(request["h"])
        if op == "getattr":
            return getattr(target, request["name"])
        if op == "setattr":
            return setattr(target, request["name"], self.decode(request["value"]))
        if op == "bool":
            return bool(target)
        raise ValueError(f"unknown request {op!r}")

    def _target(self, target):
        if "h" in target:
            return self._object(target["h"])
        path = target["path"]
        owner, _, method = path.rpartition(".")
        if owner:   # LeetCode style "Solution.method": a fresh instance per call
            return getattr(self._global(owner)(), method)
        return self._global(path)

    def _global(self, name):
        try:
            return self.namespace[name]
        except KeyError:
            raise NameError(f"name '{name}' is not defined") from None

    def _object(self, number):
        return self.objects[number]

    @staticmethod
    def _builtin(name):
        value = getattr(builtins, name)
        if not isinstance(value, (type, types.BuiltinFunctionType)):
            raise TypeError(f"{name} is not a builtin")
        return value

    def _keep(self, value):
        number = len(self.objects) + 1
        self.objects[number] = value
        return {"H": number}

    def _reply(self, value, handles):
        try:
            encoded = protocol.encode(value, other=self._keep if handles else None)
            data = b"v" + protocol.dumps(encoded)
        except MemoryError as exc:
            _send(b"e", ["MemoryError", describe_exception(exc)[1]])
            return
        except BaseException as exc:  # noqa: BLE001 - not plain data, a cycle, a failing __repr__ ...
            _send(b"e", describe_exception(exc))
            return
        if len(data) > self.cap:
            _send(b"e", ["OutputLimit", f"returned value larger than {self.cap} bytes"])
            return
        protocol.send_frame(REPLY_FD, data)


# ---------------------------------------------------------------- stdio
def run_main(code):
    """A stdio test's process: the program as __main__; the exit status says how it ended (3: MemoryError)."""
    module = fresh_module("__main__")
    status = 0
    try:
        exec(compile(code, "<solution>", "exec"), module.__dict__)  # noqa: S102
    except SystemExit as exc:
        status = 0 if exc.code is None else exc.code if type(exc.code) is int else 1
    except MemoryError:
        status = 3
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        status = 1
    return finish_like_python(status)


def finish_like_python(status):
    """What the interpreter does at a normal exit: wait for non-daemon threads (many contest programs run main()
    in a thread for a bigger stack), then run atexit hooks (some print their output there)."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
    except MemoryError:
        return 3
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return status or 1
    return status


def flush_streams(status):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have broken its streams
            status = status or 1
    return status
