"""The executor: per worker, a runner sandbox (programs run there) and a judge sandbox (the data's test code and
reference solutions run there), both owned by one thread that lives as long as the executor; jobs are spread over
the workers and results come back in job order.

TRUSTED: this is the kateval parent. It reads the servers' frames with bounded sizes and deadlines fixed before it
reads; a program's answers are decoded by protocol.decode (exact built-in types, bounded depth), and an answer that
does not decode is that test's failure. Nothing a job sends can raise out of run(): every job gets a result. A
worker that dies or stops answering is restarted by its own long-lived thread (bubblewrap's --die-with-parent
follows the thread that started it, so a restart from a short-lived thread would die with that thread) and the job
is retried once; a job that kills a worker twice is graded sandbox_error and the run goes on.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from kateval.sandbox import protocol
from kateval.sandbox.isolation import Isolation, command, fresh_uid, server_payload
from kateval.sandbox.results import (
    Collected,
    assemble,
    assemble_record,
    check_collected,
    collect_event,
    replay_answers,
    split_bulk,
)
from kateval.sandbox.server import FLUSH_BYTES
from kateval.types import ExecJob, ExecLimits, ExecResult

START_TIMEOUT_S = 60.0
GRACE_S = 10.0            # the servers enforce the limits; the parent steps in only when one stops answering
JUDGE_EXTRA_S = 10.0      # the judge's own allowance on top of the program's (its code is the data's, and quick)
WALL_FACTOR, WALL_SLACK_S = 3, 5.0   # wall-clock cap: 3 x the CPU limit + 5 s (a busy host stretches wall time)
MESSAGE_BYTES = 4 << 20   # a server's event frames (bulk ones hold up to FLUSH_BYTES of events)
JOB_BYTES_FACTOR = 8      # a job's answers together may take this many times output_bytes (and 64 MB at least)


class WorkerDied(Exception):
    """A sandbox server stopped answering, exited or broke the protocol."""


class ServerProcess:
    """One sandbox server (runner or judge) and the socket to it."""

    def __init__(self, isolation: Isolation, role: str):
        self.isolation, self.role, self.uid = isolation, role, fresh_uid()
        self.scratch: str | None = None
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.python = None

    def start(self) -> None:
        if not self.isolation.namespaces and self.scratch is None:
            self.scratch = tempfile.mkdtemp(prefix=f"kateval-{self.role}-")
            if self.isolation.own_uid:
                os.chown(self.scratch, self.uid, self.uid)
        mine, theirs = socket.socketpair()
        source = os.memfd_create("kateval-sandbox-server", 0)
        try:
            config = self.isolation.server_config(self.role, self.scratch, theirs.fileno())
            os.write(source, server_payload(config))
            os.lseek(source, 0, os.SEEK_SET)
            argv, env = command(self.isolation, self.uid, self.scratch, source, self.role)
            self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self.stderr, env=env, cwd="/", start_new_session=True,
                                         pass_fds=(source, theirs.fileno()))
        finally:
            os.close(source)
            theirs.close()
        self.sock = mine
        try:
            ready = self.message(time.monotonic() + START_TIMEOUT_S)
        except WorkerDied as exc:
            err = self.stop()
            raise WorkerDied(f"sandbox worker failed to start: {err or exc}") from exc
        self.python = ready.get("python")

    def send(self, message: dict, fds: Sequence[int] = ()) -> None:
        try:
            protocol.send_with_fds(self.sock, protocol.dumps(message), fds)
        except OSError as exc:
            raise WorkerDied(f"sandbox {self.role} gone ({exc})") from exc

    def frame(self, deadline: float, max_size: int) -> bytes:
        header = self._read(protocol.HEADER.size, deadline)
        size = protocol.HEADER.unpack(header)[0]
        if size > max_size:
            raise WorkerDied(f"sandbox {self.role} sent {size} bytes, over the limit of {max_size}")
        return self._read(size, deadline)

    def message(self, deadline: float) -> dict:
        try:
            message = protocol.loads(self.frame(deadline, MESSAGE_BYTES))
        except ValueError as exc:
            raise WorkerDied(f"sandbox {self.role} broke the protocol ({exc})") from exc
        if type(message) is not dict:
            raise WorkerDied(f"sandbox {self.role} broke the protocol")
        return message

    def _read(self, size: int, deadline: float) -> bytes:
        chunks = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise WorkerDied(f"sandbox {self.role} stopped answering")
            chunk = self.sock.recv(min(size, 1 << 20))
            if not chunk:
                raise WorkerDied(f"sandbox {self.role} exited ({self.proc.poll() if self.proc else None})")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> str:
        """Kill the server's whole session (bwrap takes its namespaces down with it); returns its stderr."""
        if self.proc is None:
            return ""
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        self.sock.close()
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace").strip()[-2000:]
        self.stderr.close()
        return err

    def close(self) -> None:
        self.stop()
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def server_limits(job: ExecJob, limits: ExecLimits) -> dict[str, Any]:
    """What the runner enforces. A check job's tests are told apart only by the judge, so its program gets one
    CPU allowance for them all: per test times the number of tests, at most the job's total."""
    cpu = limits.timeout_total_s
    per_test: float | None = limits.timeout_per_test_s
    if job.kind == "check":
        cpu, per_test = min(cpu, limits.timeout_per_test_s * max(1, len(job.tests))), None
    return {"per_test_s": per_test, "cpu_s": cpu, "wall_s": WALL_FACTOR * cpu + WALL_SLACK_S,
            "test_wall_s": None if per_test is None else WALL_FACTOR * per_test + WALL_SLACK_S,
            "memory_mb": limits.memory_mb,
            "memory_cap": 2 * (limits.memory_mb << 20), "output_bytes": limits.output_bytes}


def judge_limits(program: dict[str, Any]) -> dict[str, Any]:
    return {**program, "per_test_s": None, "cpu_s": program["cpu_s"] + JUDGE_EXTRA_S,
            "wall_s": program["wall_s"] + JUDGE_EXTRA_S, "memory_mb": max(program["memory_mb"], 2048)}


class Worker:
    """A runner and a judge, used by one thread at a time."""

    def __init__(self, isolation: Isolation):
        self.runner, self.judge = ServerProcess(isolation, "runner"), ServerProcess(isolation, "judge")
        self._ids = itertools.count(1)   # a frame must name the job it belongs to

    @property
    def uids(self) -> tuple[int, int]:
        return self.runner.uid, self.judge.uid

    @property
    def running(self) -> bool:
        return self.runner.proc is not None and self.judge.proc is not None

    def start(self) -> None:
        self.stop()
        self.runner.start()
        self.judge.start()

    def stop(self) -> str:
        """Both servers killed (with all they ran); their stderr."""
        return "; ".join(filter(None, (self.runner.stop(), self.judge.stop())))

    def close(self) -> None:
        self.runner.close()
        self.judge.close()

    def execute(self, job: ExecJob, limits: ExecLimits) -> ExecResult:
        program = server_limits(job, limits)
        message = {"id": next(self._ids), "kind": job.kind, "code": job.code, "entry_point": job.entry_point,
                   "stop_on_failure": job.stop_on_failure, "limits": program}
        if job.kind == "check":
            return self._check(job, message, program)
        if job.kind == "call":
            message["tests"] = [[protocol.encode(arg) for arg in args] for args in job.tests]
        else:
            message["tests"] = [str(stdin) for stdin in job.tests]
        server = self.judge if job.trusted and job.kind == "call" else self.runner
        server.send(message)
        collected = self._collect(server, message["id"], job, program)
        return assemble(job, collected)

    def _collect(self, server: ServerProcess, job_id: int, job: ExecJob, program: dict[str, Any]) -> Collected:
        deadline = time.monotonic() + program["wall_s"] + GRACE_S
        collected = Collected()
        budget = max(64 << 20, JOB_BYTES_FACTOR * program["output_bytes"])
        while True:
            event = server.message(deadline)
            if event.get("job") != job_id:
                raise WorkerDied(f"sandbox {server.role} answered for another job")
            if "bulk" not in event:
                raise WorkerDied(f"sandbox {server.role} broke the protocol")
            ended = False
            for item, raw in split_bulk(event, server.frame(deadline, FLUSH_BYTES + program["output_bytes"])):
                budget -= len(raw or b"")
                if budget < 0 and "test" in item:
                    item = {**item, "status": "output_limit", "error": "the job's answers together are too large"}
                    raw = None
                ended = collect_event(collected, job, item, raw) or ended
            if ended:
                return collected
            if budget < 0:
                server.send({"stop": job_id})

    def _check(self, job: ExecJob, message: dict, program: dict[str, Any]) -> ExecResult:
        """The program in the runner, the tests in the judge. With a plan (the calls the tests made of the
        reference solution), the program answers them in one batch and the judge replays the tests on those
        answers; a replay that meets any other call is dropped and the tests run again against the live program.
        A trusted job (the data's own solution) records that plan."""
        if job.trusted:
            self.judge.send(self._judge_message(job, message, program, mode="record", code=job.code))
            return assemble_record(job, self._collect(self.judge, message["id"], job, judge_limits(program)))
        if job.plan is not None:
            replayed = self._replay(job, message, program)
            if replayed is not None:
                return replayed
            message = {**message, "id": next(self._ids)}
        return self._live(job, message, program)

    def _judge_message(self, job: ExecJob, message: dict, program: dict[str, Any], **mode: Any) -> dict:
        return {**message, "code": "", "tests": list(job.tests), "trusted_code": job.trusted_code,
                "names": list(job.names), "limits": judge_limits(program), **mode}

    def _live(self, job: ExecJob, message: dict, program: dict[str, Any]) -> ExecResult:
        """A socket between the program and the judge that only they hold; the judge calls the program live."""
        to_program, to_judge = socket.socketpair()
        try:
            self.runner.send(message, [to_judge.fileno()])
            self.judge.send(self._judge_message(job, message, program), [to_program.fileno()])
        finally:
            to_program.close()
            to_judge.close()
        judged = self._collect(self.judge, message["id"], job, judge_limits(program))
        self.runner.send({"stop": message["id"]})
        ran = self._collect(self.runner, message["id"], job, program)
        return assemble(job, check_collected(judged, ran))

    def _replay(self, job: ExecJob, message: dict, program: dict[str, Any]) -> ExecResult | None:
        calls = [json.loads(entry) for entry in job.plan]
        batch = {**program, "per_test_s": program["cpu_s"], "test_wall_s": program["wall_s"]}
        self.runner.send({**message, "kind": "call", "tests": calls, "handles": True, "stop_on_failure": False,
                          "limits": batch})
        ran = self._collect(self.runner, message["id"], replace(job, kind="call", tests=tuple(calls)), batch)
        self.judge.send(self._judge_message(job, message, program, mode="replay", plan=list(job.plan),
                                            answers=replay_answers(ran, len(calls)), load=ran.load_report))
        judged = self._collect(self.judge, message["id"], job, judge_limits(program))
        if any("diverged" in report for report in judged.reports):
            return None
        return assemble(job, check_collected(judged, ran))


class Batch:
    """The results of one run() call, filled in by the worker threads."""

    def __init__(self, size: int):
        self.results: list[ExecResult | None] = [None] * size
        self.left = size
        self.done = threading.Condition()

    def put(self, index: int, result: ExecResult) -> None:
        with self.done:
            self.results[index] = result
            self.left -= 1
            self.done.notify_all()

    def wait(self) -> list[ExecResult]:
        with self.done:
            self.done.wait_for(lambda: self.left == 0)
        return self.results  # type: ignore[return-value]


class SandboxExecutor:
    """Executor over `workers` runner/judge pairs (see kateval.types.Executor)."""

    def __init__(self, isolation: Isolation, workers: int, limits: ExecLimits):
        self.isolation, self.limits = isolation, limits
        self.workers = [Worker(isolation) for _ in range(max(1, workers))]
        self._jobs: queue.Queue = queue.Queue()
        self._started = [threading.Event() for _ in self.workers]
        self._failures: list[str] = []
        self._threads = [threading.Thread(target=self._serve, args=(worker, started), daemon=True,
                                          name=f"kateval-sandbox-{index}")
                         for index, (worker, started) in enumerate(zip(self.workers, self._started))]
        for thread in self._threads:
            thread.start()
        for started in self._started:
            started.wait()
        if self._failures:
            self.close()
            raise WorkerDied(self._failures[0])
        self.server_python = self.workers[0].runner.python

    def limits_for(self, job: ExecJob) -> ExecLimits:
        """A job's own limits when the adapter set them, else the executor's (the CLI's) limits."""
        return self.limits if job.limits == ExecLimits() else job.limits

    def run(self, jobs: Sequence[ExecJob]) -> list[ExecResult]:
        batch = Batch(len(jobs))
        for index, job in enumerate(jobs):
            self._jobs.put((batch, index, job))
        return batch.wait()

    def _serve(self, worker: Worker, started: threading.Event) -> None:
        """The worker's own thread: starts its servers, runs jobs, restarts the servers when they die."""
        try:
            worker.start()
        except (WorkerDied, OSError) as exc:
            self._failures.append(str(exc))
            started.set()
            return
        started.set()
        try:
            while True:
                item = self._jobs.get()
                if item is None:
                    return
                batch, index, job = item
                try:
                    result = self._run_one(worker, job)
                except BaseException as exc:  # noqa: BLE001 - a batch must never wait for a result that cannot come
                    result = ExecResult("sandbox_error", (), f"{type(exc).__name__}: {exc}"[:500])
                batch.put(index, result)
        finally:
            worker.close()

    def _run_one(self, worker: Worker, job: ExecJob) -> ExecResult:
        """The job's result; a worker that dies under it (or breaks the protocol) is replaced and the job tried
        once more; a second death makes it a sandbox_error, and the next job gets a fresh worker."""
        started, deaths = time.monotonic(), []
        for _attempt in range(2):
            try:
                if not worker.running:
                    worker.start()
                return worker.execute(job, self.limits_for(job))
            except protocol.Unencodable as exc:
                return ExecResult("sandbox_error", (), f"the tests cannot be sent to the sandbox: {exc}")
            except Exception as exc:  # noqa: BLE001 - died, stopped answering, broke the protocol: replace it
                err = worker.stop()
                deaths.append(f"{type(exc).__name__}: {exc}" + (f" ({err[-300:]})" if err else ""))
        return ExecResult("sandbox_error", (), "sandbox worker died running this program, twice: "
                          + " / ".join(deaths)[:1000], round(time.monotonic() - started, 4))

    def describe(self) -> dict[str, Any]:
        return {**self.isolation.describe(), "workers": len(self.workers), "server_python": self.server_python,
                "limits": asdict(self.limits), "notes": list(self.isolation.notes),
                "time_limits": f"CPU seconds used by all the program's processes, per test and per job; wall "
                               f"clock capped at {WALL_FACTOR}x those + {WALL_SLACK_S:g} s, counted from the "
                               "start of the job (and of each test), never extended",
                "output_cap": "stdout per test and each returned value, output_bytes each",
                "job_limits": "a job's own limits when it sets any, else these"}

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
