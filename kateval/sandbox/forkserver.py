"""The fork server that runs inside the sandbox, one per worker.

It runs under the system interpreter (/usr/bin/python3.11), so it uses the standard library only and imports
nothing from kateval: the parent hands this file's source over an inherited file descriptor. It reads jobs from
the trusted parent (length-prefixed pickles on stdin), forks a fresh child per job (per test for stdio), watches
the child (per-test and per-job deadlines, an output cap), kills every process the job left behind, wipes the
scratch directory, and answers with one length-prefixed JSON reply per job on stdout.

Why a test counts as passed: the child reports each finished test on a private pipe, and every report line
carries the job's secret, which the parent generated and which the program never sees as data it is handed.
Exiting early (sys.exit, os._exit, atexit, excepthook) writes no report; printing "passed" goes to stdout, not
the report pipe; a line without the secret is ignored. Return values of "call" jobs are encoded here with exact
type checks and compared by the parent; nothing the program built is ever compared. Limit of the design: the
program shares the child process with the harness, so a program written specifically to dig the secret out of
this harness's memory could forge a report; the isolation (no network, no host files, rlimits) still holds.
"""
import atexit
import builtins
import collections
import ctypes
import gc
import hmac
import json
import os
import pickle
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types

PRELOAD = ("array", "bisect", "collections", "copy", "datetime", "decimal", "fractions", "functools", "heapq",
           "itertools", "json", "math", "operator", "random", "re", "statistics", "string", "typing")
MAX_DEPTH = 100
ERR_TAIL = 4096
HEADER = struct.Struct(">I")
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
WALL_FACTOR = 3
HEAP_TYPE = 1 << 9   # Py_TPFLAGS_HEAPTYPE: a class made at run time (by the program, say), not a C type
CLOCK_TICKS, PAGE_BYTES = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
MEMORY_POLL_S = 0.05
HONEST_CONTAINERS = {kind: (plain, dict(vars(kind))) for kind, plain in (
    (collections.Counter, dict), (collections.OrderedDict, dict), (collections.defaultdict, dict),
    (collections.deque, list))}

# A function looks builtins up in the dict its module had when it was defined: with a private copy, a program that
# replaces builtins.exec, builtins.int or __import__ changes nothing the harness calls. Module attributes the
# child calls after the program started (os.write, sys.modules) are bound here for the same reason.
__builtins__ = dict(builtins.__dict__)
_type, _len, _str, _repr, _format, _exit, _write = type, len, str, repr, format, os._exit, os.write
_compare, _modules = hmac.compare_digest, sys.modules
_quote = json.encoder.encode_basestring_ascii   # C code: no Python-level hook a program could patch


class Unencodable(Exception):
    """A return value that is not plain data (a subclass, a custom object, a cycle)."""


# ---------------------------------------------------------------- framing (shared with the parent)
def send_frame(fd: int, data: bytes) -> None:
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(fd: int) -> bytes | None:
    header = read_exact(fd, HEADER.size)
    return None if header is None else read_exact(fd, HEADER.unpack(header)[0])


# ---------------------------------------------------------------- plain-data encoding (child side)
def encode(value, depth=0, lenient=False):
    """Plain data to JSON-able form, exact types only; the parent's codec.decode inverts it. The standard
    library's dict and deque variants (classes unchanged) come back as the plain dict or list they hold, as
    `==` treats them. `lenient` (a check only, for what assert-based tests compare) also takes numpy scalars:
    their comparisons run C code, not the program's."""
    if depth > MAX_DEPTH:
        raise Unencodable(f"value nested deeper than {MAX_DEPTH} levels")
    kind = _type(value)
    if lenient and not kind.__flags__ & HEAP_TYPE and kind.__module__ == "numpy" and kind.__name__ != "ndarray":
        return None   # a numpy scalar: C code compares it, the program cannot have defined or patched it
    if kind in HONEST_CONTAINERS:
        plain, original = HONEST_CONTAINERS[kind]
        if _len(kind.__dict__) != _len(original) or any(kind.__dict__.get(k) is not v for k, v in original.items()):
            raise Unencodable(f"returned a {kind.__qualname__} whose class the program changed")
        value, kind = plain(value), plain
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if -(1 << 53) < value < (1 << 53) else {"I": _format(value, "x")}
    if kind is float:
        return value if value - value == 0.0 else {"F": _repr(value)}
    if kind is complex:
        return {"C": [encode(value.real, depth + 1, lenient), encode(value.imag, depth + 1, lenient)]}
    if kind is bytes:
        return {"B": value.hex()}
    if kind is list:
        return [encode(item, depth + 1, lenient) for item in value]
    if kind is dict:
        return {"D": [[encode(k, depth + 1, lenient), encode(v, depth + 1, lenient)] for k, v in dict.items(value)]}
    tag = {tuple: "T", set: "S", frozenset: "Z"}.get(kind)
    if tag is None:
        raise Unencodable(f"returned a {kind.__module__}.{kind.__qualname__}, not plain data")
    return {tag: [encode(item, depth + 1, lenient) for item in value]}


def to_json(value):
    """JSON text of encode()'s output (str keys, finite floats). Not json.dumps: a program can patch json's
    Python classes, and the report lines it would then write carry the secret."""
    kind = _type(value)
    if kind is str:
        return _quote(value)
    if value is None or kind is bool:
        return {None: "null", True: "true", False: "false"}[value]
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return float.__repr__(value)
    if kind is list:
        return "[" + ",".join([to_json(item) for item in value]) + "]"
    if kind is dict:
        return "{" + ",".join([_quote(k) + ":" + to_json(v) for k, v in dict.items(value)]) + "}"
    raise Unencodable(f"cannot write a {kind.__name__}")


# ---------------------------------------------------------------- the child
def describe_exception(exc) -> str:
    try:
        text = _str(exc)
    except BaseException:  # noqa: BLE001 - a program's exception may fail to print in any way
        text = "<unprintable>"
    return f"{_type(exc).__name__}: {text}"[:500]


def make_emitter(fd, secret):
    def emit(**fields):
        fields["key"] = secret
        data = (to_json(fields) + "\n").encode()
        while data:
            data = data[_write(fd, data):]
    return emit


def set_limits(limits, config):
    memory = limits["memory_mb"] << 20
    cpu = int(limits["timeout_total_s"]) + 2
    caps = [(resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_FSIZE, config["file_bytes"]), (resource.RLIMIT_NOFILE, 256)]
    if config.get("nproc"):
        caps.append((resource.RLIMIT_NPROC, config["nproc"]))
    for which, value in caps:
        resource.setrlimit(which, (value, value))


def enter_child(stdin_fd, out_fd, err_fd, report_fd, job, config):
    """Redirect the standard streams, keep only the report pipe (as fd 3), apply the rlimits."""
    if config["kill"] == "group":
        os.setpgid(0, 0)
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    if report_fd is not None:
        os.dup2(report_fd, 3)
    os.closerange(3 if report_fd is None else 4, 1 << 16)
    os.chdir(config["scratch"])
    set_limits(job["limits"], config)
    sys.argv = ["solution.py"]   # sys.stdin/stdout/stderr already point at fds 0-2, which the server never uses


def fresh_module(name):
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    _modules[name] = module
    if name != "__main__":
        _modules["__main__"] = types.ModuleType("__main__")
    return module


def resolve(namespace, entry_point):
    owner, _, method = entry_point.rpartition(".")
    if owner:
        return getattr(namespace[owner](), method)
    return namespace[entry_point]


def checked(function):
    """The entry point as assert-based tests see it: what it returns must be plain data, so no object of the
    program's making (an __eq__ that always answers True) reaches the test's comparisons."""
    def entry_point(*args, **kwargs):
        value = function(*args, **kwargs)
        encode(value, lenient=True)
        return value
    return entry_point


class Pristine:
    """The preloaded modules and the builtins as they were before any program ran. Tests get these back:
    a program that replaces builtins, __import__ or a module's functions fools only itself."""

    def __init__(self):
        for name in PRELOAD:
            try:
                __import__(name)
            except ImportError:
                pass
        self.modules = {name: module for name, module in sys.modules.items()
                        if _type(module) is types.ModuleType and name not in ("sys", "__main__")}
        self.saved = {name: dict(module.__dict__) for name, module in self.modules.items()}
        self.names_by_id = {id(module): name for name, module in self.modules.items()}
        self.builtins = dict(builtins.__dict__)
        gc.freeze()   # the preloaded objects stay shared with every forked child instead of being copied by its gc

    def module(self, name):
        module = self.modules[name]
        _modules[name] = module
        module.__dict__.update(self.saved[name])
        return module

    def importer(self):
        real_import = self.builtins["__import__"]

        def pristine_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0:
                for prefix in {name.partition(".")[0], name}:
                    if prefix in self.modules:
                        self.module(prefix)
            return real_import(name, globals, locals, fromlist, level)
        return pristine_import

    def test_names(self, module, kind, entry_point):
        """The tests see the program's names, except ones that shadow a builtin (unless it is the entry point)."""
        keep = entry_point or ""
        names = {k: v for k, v in module.__dict__.items()
                 if k == keep or k.startswith("__") or k not in BUILTIN_NAMES}
        if kind == "script" and keep in names and "." not in keep:
            names[keep] = checked(names[keep])
        names["__builtins__"] = {**self.builtins, "__import__": self.importer()}
        return names

    def refresh(self, names):
        """Before each test: the modules the tests can reach by name get their original contents back."""
        for value in list(names.values()):
            name = self.names_by_id.get(id(value))
            if name is not None and self.modules[name] is value:
                self.module(name)


def run_test(kind, test, module, names, entry_point, cap):
    if kind == "script":
        exec(compile(test, "<test>", "exec"), names)  # noqa: S102 - running untrusted code is the job
        return None
    value = encode(resolve(module.__dict__, entry_point)(*test))
    if _len(to_json(value)) > cap:
        raise OverflowError(f"returned value larger than {cap} bytes")
    return value


def run_program(job, pristine):
    """Child of a script/call job: load the code, run each test, report each verdict with the secret."""
    emit = make_emitter(3, job["secret"])
    module = fresh_module("solution")
    try:
        exec(compile(job["code"], "<solution>", "exec"), module.__dict__)  # noqa: S102
    except BaseException as exc:  # noqa: BLE001 - whatever the program raises is its verdict
        emit(event="load", status="memory" if isinstance(exc, MemoryError) else "error",
             error=describe_exception(exc))
        return
    emit(event="loaded")
    names = pristine.test_names(module, job["kind"], job["entry_point"])
    cap = job["limits"]["output_bytes"]
    for test in job["tests"]:
        pristine.refresh(names)
        try:
            outcome = {"status": "ok", "value": run_test(job["kind"], test, module, names, job["entry_point"], cap)}
        except MemoryError as exc:
            outcome = {"status": "memory", "error": describe_exception(exc)}
        except OverflowError as exc:
            outcome = {"status": "output_limit", "error": describe_exception(exc)}
        except BaseException as exc:  # noqa: BLE001
            outcome = {"status": "error", "error": describe_exception(exc)}
        emit(event="test", **outcome)
        if job["stop_on_failure"] and outcome["status"] != "ok":
            return
    emit(event="done")


def run_main(code):
    """Child of a stdio test: the program as __main__; the exit status says how it ended."""
    module = fresh_module("__main__")
    status = 0
    try:
        exec(compile(code, "<solution>", "exec"), module.__dict__)  # noqa: S102
    except SystemExit as exc:
        status = 0 if exc.code is None else exc.code if _type(exc.code) is int else 1
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
        threading = _modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
    except MemoryError:
        return 3
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return status or 1
    return status


def child_main(job, stdin_fd, pipes, config, pristine):
    try:
        enter_child(stdin_fd, pipes["out"][1], pipes["err"][1], pipes.get("report", (None, None))[1], job, config)
        streams = (sys.stdout, sys.stderr)
        status = run_main(job["code"]) if job["kind"] == "stdio" else run_program(job, pristine) or 0
        for stream in {*streams, sys.stdout, sys.stderr}:
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - the program may have broken its streams
                status = status or 1
    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
        status = 4
    _exit(status & 0xFF)


# ---------------------------------------------------------------- the server: watching a child
class Watch:
    """What the server saw of one child: report lines, capped stdout, stderr tail, why it was stopped."""

    def __init__(self, secret, cap):
        self.secret, self.cap = secret, cap
        self.reports, self.stdout, self.err_tail = [], bytearray(), b""
        self.partial = b""
        self.stopped = None
        self.exit_status = None

    def feed_report(self, data):
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if _len(self.partial) > 4 * self.cap + 65536:
            self.partial = b""
        for line in lines:
            try:
                message = json.loads(line)
                ok = _type(message) is dict and _compare(str(message.pop("key", "")), self.secret)
            except (ValueError, TypeError, RecursionError):   # whatever a program wrote on the pipe
                continue
            if ok:
                self.reports.append(message)

    def feed_stdout(self, data):
        self.stdout += data
        if _len(self.stdout) > self.cap:
            del self.stdout[self.cap:]
            self.stopped = "output_limit"

    def feed_stderr(self, data):
        self.err_tail = (self.err_tail + data)[-ERR_TAIL:]


def kill_leftovers(pid, config):
    """Kill the child and everything it started; reap them all."""
    if config["kill"] == "all":
        try:
            os.kill(-1, signal.SIGKILL)   # every process of this uid in the namespace, except us and init
        except ProcessLookupError:
            pass
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def drain(fds, handlers):
    """Read what is left in the pipes after the child ended (descendants may hold them open: no blocking)."""
    for fd in list(fds):
        while select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            handlers[fd](data)


class Budget:
    """The time limits of one job. They count the CPU seconds the program used, so a busy host does not turn a
    pass into a timeout; a wall-clock cap of WALL_FACTOR times the limit stops programs that sleep or block."""

    def __init__(self, limits):
        self.per_test, self.total = limits["timeout_per_test_s"], limits["timeout_total_s"]
        self.spent = 0.0   # CPU seconds of this job's finished children (stdio runs one per test)
        self.wall_end = time.monotonic() + WALL_FACTOR * self.total

    def left(self, used, test_start, test_wall_end):
        """Seconds the child may still run: the smallest of its CPU and wall allowances."""
        now = time.monotonic()
        return min(self.per_test - (used - test_start), self.total - self.spent - used,
                   test_wall_end - now, self.wall_end - now)


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def pump(fds, pidfd, handlers, timeout):
    """Feed what the child wrote to its handlers; True once the child has exited."""
    ready = select.select(list(fds) + [pidfd], [], [], timeout)[0]
    for fd in ready:
        if fd == pidfd:
            continue
        data = os.read(fd, 1 << 16)
        if data:
            handlers[fd](data)
        else:
            fds.discard(fd)
    if pidfd in ready:
        drain(fds, handlers)
        return True
    return False


class MemoryGuard:
    """RLIMIT_AS caps each process; a program that forks could still hold memory_mb in every child. Inside the
    sandbox's pid namespace every process but init and the server belongs to the job, so their resident memory
    is summed every MEMORY_POLL_S once the job has run that long."""

    def __init__(self, limits, config):
        self.cap = 2 * (limits["memory_mb"] << 20)
        self.next_check = time.monotonic() + MEMORY_POLL_S if config["kill"] == "all" and config["pidns"] else None
        self.skip = {"1", _str(os.getpid())}

    def wait_at_most(self, seconds):
        return seconds if self.next_check is None else max(0.0, min(seconds, self.next_check - time.monotonic()))

    def exceeded(self):
        if self.next_check is None or time.monotonic() < self.next_check:
            return False
        self.next_check = time.monotonic() + MEMORY_POLL_S
        pages = 0
        for name in os.listdir("/proc"):
            if name.isdigit() and name not in self.skip:
                try:
                    with open(f"/proc/{name}/statm", "rb") as handle:
                        pages += int(handle.read().split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        return pages * PAGE_BYTES > self.cap


def watch(pid, pipes, watcher, budget, config, limits):
    handlers = {pipes["out"][0]: watcher.feed_stdout, pipes["err"][0]: watcher.feed_stderr}
    if "report" in pipes:
        handlers[pipes["report"][0]] = watcher.feed_report
    pidfd, guard = os.pidfd_open(pid), MemoryGuard(limits, config)
    open_fds, seen = set(handlers), 0
    test_start, test_wall_end = 0.0, time.monotonic() + WALL_FACTOR * budget.per_test
    try:
        while watcher.stopped is None:
            used = cpu_seconds(pid)
            if _len(watcher.reports) > seen:   # a test finished: the next one gets a fresh allowance
                seen, test_start = _len(watcher.reports), used
                test_wall_end = time.monotonic() + WALL_FACTOR * budget.per_test
            remaining = budget.left(used, test_start, test_wall_end)
            if remaining <= 0:
                watcher.stopped = "timeout"
            elif guard.exceeded():
                watcher.stopped = "memory"
            elif pump(open_fds, pidfd, handlers, guard.wait_at_most(remaining)):
                status, usage = os.wait4(pid, 0)[1:]
                watcher.exit_status = status
                budget.spent += usage.ru_utime + usage.ru_stime
                return
    finally:
        os.close(pidfd)
        kill_leftovers(pid, config)


# ---------------------------------------------------------------- the server: jobs
def wipe(scratch):
    for entry in os.listdir(scratch):
        path = os.path.join(scratch, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def spawn(job, stdin_data, with_report, config, pristine):
    """Fork a child for `job`; returns its pid and the parent's ends of its pipes."""
    names = ("out", "err", "report") if with_report else ("out", "err")
    pipes = {name: os.pipe() for name in names}
    stdin_fd = os.memfd_create("stdin")
    os.write(stdin_fd, stdin_data)
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    pid = os.fork()
    if pid == 0:
        child_main(job, stdin_fd, pipes, config, pristine)
    os.close(stdin_fd)
    for read_end, write_end in pipes.values():
        os.close(write_end)
    return pid, pipes


def close_pipes(pipes):
    for read_end, _ in pipes.values():
        os.close(read_end)


def exit_reason(status):
    if status is None:
        return "stopped"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return "cpu time limit" if sig == signal.SIGXCPU else f"killed by signal {signal.Signals(sig).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def stopped_outcome(watcher, limits):
    if watcher.stopped == "timeout":
        return {"status": "timeout", "error": f"time limit ({limits['timeout_per_test_s']} CPU s per test, "
                                              f"{limits['timeout_total_s']} CPU s per job, x{WALL_FACTOR} wall)"}
    if watcher.stopped == "memory":
        return {"status": "memory", "error": f"the job's processes held over {2 * limits['memory_mb']} MB together"}
    if watcher.stopped == "output_limit":
        return {"status": "output_limit", "error": f"output over {limits['output_bytes']} bytes"}
    status = watcher.exit_status
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return {"status": "timeout", "error": "cpu time limit"}
    return {"status": "error", "error": f"process ended during the test ({exit_reason(status)})"}


def job_status(tests, error_status=None):
    for status, job in (("timeout", "timeout"), ("memory", "memory")):
        if any(t["status"] == status for t in tests) or error_status == status:
            return job
    if error_status or any(t["status"] == "output_limit" for t in tests):
        return "runtime_error"
    return "completed"


def run_program_job(job, config, pristine):
    limits = job["limits"]
    pid, pipes = spawn(job, b"", True, config, pristine)
    watcher = Watch(job["secret"], limits["output_bytes"])
    try:
        watch(pid, pipes, watcher, Budget(limits), config, limits)
    finally:
        close_pipes(pipes)
    return summarize(job, watcher)


def summarize(job, watcher):
    events = watcher.reports
    if not events or events[0].get("event") not in ("load", "loaded"):
        outcome = stopped_outcome(watcher, job["limits"])
        error = f"while loading the code: {outcome['error']}"
        if watcher.err_tail:
            error += "\n" + watcher.err_tail.decode("utf-8", "replace")[-1000:]
        return {"status": job_status([], outcome["status"]), "tests": [], "error": error}
    if events[0]["event"] == "load":
        return {"status": job_status([], events[0]["status"]), "tests": [], "error": events[0]["error"]}
    tests = [{k: e.get(k) for k in ("status", "value", "error")} for e in events[1:] if e.get("event") == "test"]
    tests = tests[:_len(job["tests"])]
    finished = any(e.get("event") == "done" for e in events)
    stopped_early = bool(job["stop_on_failure"] and tests and tests[-1]["status"] != "ok")
    if not finished and not stopped_early and _len(tests) < _len(job["tests"]):
        tests.append(stopped_outcome(watcher, job["limits"]))
    status = job_status(tests)
    if status == "completed" and not finished and not stopped_early:
        status = "runtime_error"
    return {"status": status, "tests": tests, "error": None}


def run_stdio_job(job, config, pristine):
    limits, tests = job["limits"], []
    budget = Budget(limits)
    for stdin in job["tests"]:
        data = stdin if _type(stdin) is bytes else _str(stdin).encode("utf-8")
        pid, pipes = spawn(job, data, False, config, pristine)
        watcher = Watch(job["secret"], limits["output_bytes"])
        try:
            watch(pid, pipes, watcher, budget, config, limits)
        finally:
            close_pipes(pipes)
        tests.append(stdio_outcome(watcher, limits))
        wipe(config["scratch"])
        if job["stop_on_failure"] and tests[-1]["status"] != "ok":
            break
    return {"status": job_status(tests), "tests": tests, "error": None}


def stdio_outcome(watcher, limits):
    stdout = bytes(watcher.stdout).decode("utf-8", "replace")
    status = watcher.exit_status
    if watcher.stopped is None and status is not None and os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code == 0:
            return {"status": "ok", "value": stdout, "error": None}
        if code == 3:
            return {"status": "memory", "value": stdout, "error": "MemoryError"}
        tail = watcher.err_tail.decode("utf-8", "replace").strip().splitlines()
        return {"status": "error", "value": stdout, "error": tail[-1][:500] if tail else exit_reason(status)}
    outcome = stopped_outcome(watcher, limits)
    outcome["value"] = stdout
    return outcome


def run_job(job, config, pristine):
    try:
        if job["kind"] == "stdio":
            return run_stdio_job(job, config, pristine)
        return run_program_job(job, config, pristine)
    finally:
        wipe(config["scratch"])


# ---------------------------------------------------------------- the server: startup and loop
def harden():
    """No ptrace or /proc/<pid>/mem access to the server from its children; orphans are reparented to us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


BUILTIN_NAMES = frozenset(dir(builtins))


def serve(config):
    control_in, control_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    harden()
    pristine = Pristine()
    send_frame(control_out, json.dumps({"ready": True, "python": sys.version.split()[0]}).encode())
    while True:
        frame = recv_frame(control_in)
        if frame is None:
            return
        job = pickle.loads(frame)
        started = time.monotonic()
        try:
            reply = run_job(job, config, pristine)
        except Exception as exc:  # noqa: BLE001 - a server fault on one job: report it, keep serving
            reply = {"status": "sandbox_error", "tests": [], "error": describe_exception(exc)}
        reply["job"], reply["wall_s"] = job["id"], time.monotonic() - started
        send_frame(control_out, json.dumps(reply).encode())


if __name__ == "__main__":
    serve(json.loads(sys.argv[-1]))
