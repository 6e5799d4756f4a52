"""The sandbox server: one per worker and side, started by the trusted parent inside bubblewrap. Standard library
only (the parent hands the sources over an inherited fd).

Two roles, one program:
  runner  runs programs (the model's). It first makes user, pid and mount namespaces of its own (spaces.py), in
          which it is pid 1. Each job's process is then pid 1 of a fresh pid namespace, enters fresh mount, IPC
          and UTS namespaces with its own size-capped /tmp and /proc, drops every capability and runs under the
          seccomp filter before the program's first line (harness.JobSetup). When the job ends its processes are
          killed and its namespaces, files, IPC objects and mounts go with them: the next job starts from the
          state the first one did.
  judge   runs only the data's code, never a program: reference solutions (their outputs become expected
          values) in forked children, and test code (judge.py) in its own process, which reaches the program
          through a socket to the runner.

TRUSTED / UNTRUSTED: the server is trusted and runs no program code. A job cannot address it at all (it is in
another pid namespace), trace it or read its memory (it is not dumpable; the filter refuses ptrace), and shares
nothing with it but pipes, which it reads without blocking into buffers of bounded size (pipes.py). It enforces
the limits (measure.py): CPU time summed over every process of the job, a wall-clock deadline fixed when the job
starts, memory (resident memory of all the job's processes, its /tmp, its sockets' buffers) and output caps. It
answers the parent with bulk frames of events (one per test, the job's end last); a program's answer is passed on
as raw bytes for the parent to decode.
"""
import gc
import json
import os
import select
import signal
import socket
import sys
import time

from kateval.sandbox import harness, judge, plans, protocol
from kateval.sandbox.measure import Tracker
from kateval.sandbox.pipes import FrameReader, Limit, Output
from kateval.sandbox.spaces import fork_into_own_pid_namespace, own_namespaces, wipe

FLUSH_BYTES = 1 << 20    # events and answers queued for the parent are sent once they reach this size
EVENT_BYTES = 128        # an event's own JSON, short of its texts (errors, a stderr tail)
MAX_JOB_BYTES = 1 << 31
SETUP_FAILED = 125       # exit status of a child whose isolation could not be set up (not the program's fault)
KILL_GIVE_UP_S = 10
CPU_READING_S = 0.005    # how old a reading of the job's CPU time may be while it is watched
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
# Modules programs often import, loaded once in the server so that a job's process finds them ready. Not
# threading: its after-fork hook would cost every job more than importing it costs the few that use it.
PRELOAD = {"runner": ("array", "bisect", "collections", "copy", "datetime", "decimal", "fractions", "functools",
                      "heapq", "itertools", "json", "math", "operator", "random", "re", "statistics", "string",
                      "typing"),
           "judge": ("collections", "copy", "functools", "itertools", "json", "math", "random", "re", "string")}


# ---------------------------------------------------------------- a job's processes
class Process:
    """One forked child of a job: its pidfd, its output, the reader of its frames (answers or reports) and the
    write end of its call pipe."""

    def __init__(self, pid, output, reader=None, calls=None):
        self.pid, self.output, self.reader, self.calls = pid, output, reader, calls
        self.pidfd = os.pidfd_open(pid)

    def close(self):
        for fd in (self.pidfd, self.output.out_fd, self.output.err_fd, self.calls,
                   None if self.reader is None else self.reader.fd):
            if fd is not None:
                os.close(fd)


class Stopped(Exception):
    """The parent ended the job (its judge is done)."""


# ---------------------------------------------------------------- one job
class Job:
    def __init__(self, message, fds, control, config):
        self.job, self.fds, self.control, self.config = message, fds, control, config
        self.limits = message["limits"]
        self.started = time.monotonic()
        self.deadline = self.started + self.limits["wall_s"]    # fixed now: nothing the job does extends it
        self.spent = 0.0          # CPU of this job's finished processes (stdio runs one per test)
        self.tracker = None
        self.processes = []       # closed when the job ends
        self.events, self.raws, self.sizes, self.queued = [], [], [], 0
        self.outbox, self.outbox_fd = bytearray(), None   # call frames not yet taken by the program

    # -- talking to the parent
    def emit(self, message, raw=None):
        """Queue an event (and the raw answer or output that goes with it) for the parent; sent in bulk, at the
        latest when the queue holds FLUSH_BYTES, so the server never holds more than that."""
        self.events.append(message)
        self.raws.append(b"" if raw is None else raw)
        self.sizes.append(-1 if raw is None else len(raw))
        self.queued += len(self.raws[-1]) + EVENT_BYTES + sum(len(v) for v in message.values() if type(v) is str)
        if self.queued >= FLUSH_BYTES:
            self.flush()

    def flush(self, end=None):
        """Send the queued events (and the job's end, when given, last) as one bulk frame and its raw bytes."""
        if end is not None:
            self.events.append(end)
            self.sizes.append(-1)
        if not self.events:
            return
        message = {"job": self.job["id"], "bulk": self.events, "sizes": self.sizes, "raw": True}
        protocol.send_frame(self.control.fileno(), protocol.dumps(message), b"".join(self.raws))
        self.events, self.raws, self.sizes, self.queued = [], [], [], 0

    def run(self):
        end = {"end": True, "stopped": None, "error": None}
        try:
            kind, role = self.job["kind"], self.config["role"]
            if kind == "stdio":
                self.run_stdio()
            elif kind == "call":
                self.run_calls()
            elif role == "judge":
                self.run_judge()
            else:
                self.run_for_judge()
        except Limit as limit:
            end.update(stopped=limit.status, error=str(limit))
        except Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - a server fault on one job is reported, and the server goes on
            end.update(stopped="sandbox_error", error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            self.spent += self.kill_all()
            for process in self.processes:
                process.close()
            for fd in self.fds:
                os.close(fd)
            if not self.config["namespaces"]:
                wipe(self.config["scratch"])
        end.update(cpu_s=round(self.spent, 4), wall_s=round(time.monotonic() - self.started, 4))
        self.flush(end)

    # -- processes
    def start(self, mode, fd_map, stdin=b"", reader=None, calls=None):
        """Fork the job's process with `fd_map` (target fd -> fd) in place; the server's copies of those fds are
        closed here, except the job's own (self.fds). `reader` (fd, cap) are the frames the server reads."""
        # A call job's prints are nobody's business: its stdout goes to /dev/null (a flood costs only its own
        # time); a stdio test's stdout is its answer.
        out_r, out_w = os.pipe() if mode == "main" else (None, os.dup(DEVNULL[0]))
        err_r, err_w = os.pipe()
        if stdin:
            stdin_fd = os.memfd_create("stdin")
            os.write(stdin_fd, stdin)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
        else:
            stdin_fd = os.dup(DEVNULL[0])
        pid = fork_into_own_pid_namespace() if self.config["namespaces"] else os.fork()
        if pid == 0:
            self.child(mode, {0: stdin_fd, 1: out_w, 2: err_w, **fd_map})
        for fd in {out_w, err_w, stdin_fd, *fd_map.values()} - set(self.fds):
            os.close(fd)
        self.tracker = Tracker(self.config, pid)
        output = Output(out_r, err_r, self.limits["output_bytes"], keep=mode == "main")
        process = Process(pid, output, None if reader is None else FrameReader(*reader), calls)
        self.tracker.pidfd = process.pidfd
        self.processes.append(process)
        return process

    def child(self, mode, fds):
        status = SETUP_FAILED
        try:
            if self.config["role"] == "runner":
                SETUP[0].enter(self.limits, fds)
            else:
                harness.enter_trusted(self.config, self.limits, fds)
            status = 4
            if mode == "serve":
                harness.serve(self.job["code"], self.limits["output_bytes"])
                status = 0
            else:
                status = harness.run_main(self.job["code"])
            status = harness.flush_streams(status)
        except BaseException as exc:  # noqa: BLE001 - the child must never return into the server's loop
            if status == SETUP_FAILED:
                try:
                    os.write(2, f"sandbox setup failed: {type(exc).__name__}: {exc}\n".encode())
                except OSError:
                    pass
        os._exit(status & 0xFF)

    def wait(self, process, frame=False, test_start=None, test_wall_end=None):
        """Pump the process's pipes until a frame arrives (when `frame`; returned), the process ends (None), a
        limit is hit (Limit) or the parent says stop (Stopped)."""
        tracker = self.tracker
        wall_end = self.deadline if test_wall_end is None else min(test_wall_end, self.deadline)
        while True:
            if frame:
                ready = process.reader.pop()
                if ready is not None or process.reader.eof:
                    return ready
            if tracker.root_status is not None:
                process.output.drain()
                if not frame:
                    return None
                while not process.reader.eof and select.select([process.reader.fd], [], [], 0)[0]:
                    process.reader.feed()
                process.reader.eof = True
                continue
            now = time.monotonic()
            if now >= tracker.next_scan:
                tracker.scan()
                if tracker.memory > self.limits["memory_cap"]:
                    raise Limit("memory", f"the job's processes held over {self.limits['memory_cap'] >> 20} MB "
                                          "together (resident memory and /tmp)")
            left = self.allowance(tracker.cpu(CPU_READING_S), test_start, wall_end, now)
            if left <= 0 and self.allowance(tracker.cpu(), test_start, wall_end, now) <= 0:
                raise Limit("timeout", self.timeout_message())
            watched = [*process.output.open, process.pidfd, self.control.fileno()]
            if frame:
                watched.append(process.reader.fd)
            writing = [self.outbox_fd] if self.outbox else []
            timeout = max(0.0005, min(left, tracker.next_scan - now))
            readable, writable, _ = select.select(watched, writing, [], timeout)
            if writable:
                self.write_calls()
            for fd in readable:
                if fd == process.pidfd:
                    tracker.reap()
                elif fd == self.control.fileno():
                    self.read_control()
                elif frame and fd == process.reader.fd:
                    process.reader.feed()
                else:
                    process.output.feed(fd)

    def allowance(self, used, test_start, wall_end, now):
        """Seconds the job may still run: the least of its CPU (per job, per test) and wall allowances."""
        left = min(self.limits["cpu_s"] - self.spent - used, wall_end - now)
        per_test = self.limits.get("per_test_s")
        if per_test is not None and test_start is not None:
            left = min(left, per_test - (used - test_start))
        return left

    def write_calls(self):
        """Hand the program as much of its pending calls as its pipe takes, without blocking: a program that
        never reads them cannot stall the server."""
        try:
            written = os.write(self.outbox_fd, self.outbox[: 1 << 16])
        except BlockingIOError:
            return
        except OSError:   # the program closed its end: its answers will say so
            self.outbox.clear()
            return
        del self.outbox[:written]

    def timeout_message(self):
        per_test = self.limits.get("per_test_s")
        test = f"{per_test} CPU s per test, " if per_test is not None else ""
        return f"time limit ({test}{self.limits['cpu_s']} CPU s per job, {self.limits['wall_s']} s wall)"

    def read_control(self):
        message, fds = protocol.recv_with_fds(self.control, 1 << 16)
        for fd in fds:
            os.close(fd)
        if message is None:
            raise SystemExit(0)   # the parent is gone
        if protocol.loads(message).get("stop") == self.job["id"]:
            raise Stopped()

    def kill_all(self):
        """Kill every process of the job and reap them all; returns the CPU they used (the reaped total). Each is
        signalled by pid (kill(-1) would walk every process of the host); one forked meanwhile turns up in the
        next listing. A job whose processes cannot all be killed ends the server: the parent then replaces the
        whole sandbox, and nothing of the job is left."""
        tracker = self.tracker
        if tracker is None:
            return 0.0
        if tracker.root_status is None:   # first the job's pid 1: in its own pid namespace, that ends them all
            _signal(tracker.root)
            select.select([tracker.pidfd], [], [], 0.05)
            tracker.reap()
        give_up = time.monotonic() + KILL_GIVE_UP_S
        while True:
            targets = tracker.members()
            if not targets:
                break
            if time.monotonic() > give_up:
                os._exit(SETUP_FAILED)
            for pid in targets:
                _signal(pid)
            if tracker.root_status is None:
                select.select([tracker.pidfd], [], [], 0.05)   # a killed process is gone within microseconds
            else:
                time.sleep(0.0002)
            tracker.reap()
        self.tracker = None
        return tracker.reaped

    def ended(self, process):
        """How the job's process ended, once it has: (exit status, its stderr tail)."""
        status = self.tracker.root_status
        process.output.drain()
        tail = process.output.err_tail.decode("utf-8", "replace").strip()
        if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == SETUP_FAILED:
            raise RuntimeError(tail[-300:] or "sandbox setup failed")
        if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
            raise Limit("timeout", self.timeout_message())
        return status, tail

    def report_ended(self, process, where):
        status, tail = self.ended(process)
        self.emit({"ended": where, "error": f"process ended ({exit_reason(status)})", "stderr": tail[-1000:]})

    # -- the job kinds
    def run_calls(self):
        """A call job: load the program (or reference solution), then call its entry point with each test's
        arguments; each answer goes to the parent as it comes."""
        calls_r, calls_w = os.pipe()
        reply_r, reply_w = os.pipe()
        process = self.start("serve", {harness.CALL_FD: calls_r, harness.REPLY_FD: reply_w},
                             reader=(reply_r, self.limits["output_bytes"] + 1), calls=calls_w)
        os.set_blocking(calls_w, False)
        self.outbox_fd = calls_w
        load = self.wait(process, frame=True)
        if load is None:
            return self.report_ended(process, "load")
        self.emit({"load": True}, raw=load)
        # Every call in one frame: the program answers them in turn, and each answer starts the next test's
        # CPU and wall allowances (no round trip per test).
        request = {"op": "calls", "target": {"path": self.job["entry_point"]}, "args": self.job["tests"],
                   "handles": self.job.get("handles", False)}
        body = protocol.dumps(request)
        self.outbox += protocol.HEADER.pack(len(body)) + body
        test_start = self.tracker.cpu()
        for index in range(len(self.job["tests"])):
            test_wall_end = time.monotonic() + self.limits["test_wall_s"]
            try:
                answer = self.wait(process, frame=True, test_start=test_start, test_wall_end=test_wall_end)
            except Limit as limit:
                self.emit({"test": index, "status": limit.status, "error": str(limit)})
                raise
            if answer is None:
                return self.report_ended(process, index)
            test_end = self.tracker.cpu()
            self.emit({"test": index, "status": "ok", "cpu_s": round(test_end - test_start, 4)}, raw=answer)
            test_start = test_end
            if self.job["stop_on_failure"] and not answer.startswith(b"v"):
                return None
        return None

    def run_stdio(self):
        """One fresh process (and fresh namespaces) per test: the program as __main__ with the test on stdin."""
        for index, stdin in enumerate(self.job["tests"]):
            process = self.start("main", {}, stdin=stdin.encode("utf-8", "surrogatepass"))
            test_wall_end = time.monotonic() + self.limits["test_wall_s"]
            try:
                self.wait(process, test_start=0.0, test_wall_end=test_wall_end)
                status, tail = self.ended(process)
            except Limit as limit:
                self.emit({"test": index, "status": limit.status, "error": str(limit)},
                          raw=bytes(process.output.stdout))
                raise
            used = self.kill_all()
            self.spent += used
            outcome = stdio_outcome(status, tail)
            outcome.update(test=index, cpu_s=round(used, 4))
            self.emit(outcome, raw=bytes(process.output.stdout))
            if self.job["stop_on_failure"] and outcome["status"] != "ok":
                return

    def run_for_judge(self):
        """The program side of a check job: the judge talks to the program over the socket the parent handed
        both; the server only watches the program until the parent says the judge is done."""
        channel = self.fds[0]
        process = self.start("serve", {harness.CALL_FD: channel, harness.REPLY_FD: channel})
        self.wait(process)
        self.report_ended(process, "run")

    def run_judge(self):
        """The test side of a check job, run here in the judge server itself: it runs only the data's code, and
        a fork per job would cost more than the whole check. judge.judge puts back what a check may change. The
        program is reached live over the socket the parent handed both sides, or stands in as a replay of its
        batch of answers, or (a plan being recorded) is the data's reference solution."""
        def report(message):
            self.emit({"report": True}, raw=protocol.dumps(message))
        mode = self.job.get("mode", "live")
        if mode == "record":
            channel = plans.RecordChannel(self.job["code"])
        elif mode == "replay":
            channel = plans.ReplayChannel(self.job["plan"], self.job["answers"], self.job["load"])
        else:
            channel = judge.Channel(self.fds[0], self.limits["output_bytes"])
        try:
            judge.judge(self.job, channel, report, self.deadline - time.monotonic())
        except judge.Diverged:
            report({"diverged": True})
        except judge.JudgeTimeout:
            raise RuntimeError("the data's test code ran past the judge's deadline") from None
        except MemoryError:
            raise RuntimeError("the data's test code ran out of memory") from None


def _signal(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def exit_reason(status):
    if status is None:
        return "stopped"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by signal {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def stdio_outcome(status, stderr_tail):
    if status is not None and os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code == 0:
            return {"status": "ok"}
        if code == 3:
            return {"status": "memory", "error": "MemoryError"}
        lines = stderr_tail.splitlines()
        return {"status": "error", "error": lines[-1][:500] if lines else exit_reason(status)}
    return {"status": "error", "error": f"process ended ({exit_reason(status)})"}


# ---------------------------------------------------------------- startup and loop
def harden(config):
    """Not dumpable (no ptrace, no /proc/<pid>/mem), no SIGINT handler (a handled signal is the only kind a
    namespace's pid 1 receives from inside), and a subreaper where it is not pid 1."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = harness.load_libc()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.getpid() != 1:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def preload(role):
    for name in PRELOAD[role]:
        try:
            __import__(name)
        except ImportError:
            pass
    gc.freeze()   # shared with every forked child instead of being copied by its garbage collector


DEVNULL, SETUP = [], []


def main(config):
    control = socket.socket(fileno=config["control_fd"])
    devnull = os.open(os.devnull, os.O_RDWR)
    DEVNULL.append(devnull)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    if config["namespaces"]:
        own_namespaces()
    harden(config)
    if config["role"] == "runner":
        SETUP.append(harness.JobSetup(config))
    preload(config["role"])
    harness.load_libc()   # loaded once, before any fork
    protocol.send_frame(control.fileno(), protocol.dumps({"ready": True, "python": sys.version.split()[0],
                                                          "role": config["role"], "pid": os.getpid()}))
    while True:
        frame, fds = protocol.recv_with_fds(control, MAX_JOB_BYTES)
        if frame is None:
            return
        message = json.loads(frame)
        if "stop" in message:   # for a job that already ended
            for fd in fds:
                os.close(fd)
            continue
        Job(message, fds, control, config).run()
