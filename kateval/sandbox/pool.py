"""The executor: one sandboxed fork server per worker, jobs spread over them, results in job order.

A worker whose server dies or hangs (a program that kills its parent, a wedged sandbox) costs only the job it
was running: that job is graded runtime_error, the worker is restarted, and the rest of the run goes on.
"""
from __future__ import annotations

import itertools
import json
import os
import pickle
import queue
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from kateval.sandbox import codec
from kateval.sandbox.forkserver import HEADER, WALL_FACTOR, send_frame
from kateval.sandbox.isolation import SERVER_SOURCE, Isolation, command, fresh_uid
from kateval.types import ExecJob, ExecLimits, ExecResult, TestOutcome

START_TIMEOUT_S = 60.0
GRACE_S = 10.0          # the server enforces limits itself; the parent steps in only when it stops answering


class WorkerDied(Exception):
    """The fork server stopped answering or exited."""


class Worker:
    """One fork server process and the pipes to it."""

    def __init__(self, isolation: Isolation):
        self.isolation, self.uid = isolation, fresh_uid()
        self.scratch = None
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.isolation.pid_namespace and self.scratch is None:
            self.scratch = tempfile.mkdtemp(prefix="kateval-scratch-")
            if self.isolation.own_uid:
                os.chown(self.scratch, self.uid, self.uid)
        source = os.memfd_create("kateval-forkserver", 0)
        try:
            os.write(source, SERVER_SOURCE.read_bytes())
            os.lseek(source, 0, os.SEEK_SET)
            argv, env = command(self.isolation, self.uid, self.scratch, source)
            # A file, not a pipe: nobody has to drain it while jobs run; closed in stop().
            self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                         env=env, cwd="/", start_new_session=True, pass_fds=(source,))
        finally:
            os.close(source)

    def wait_ready(self) -> dict:
        try:
            return json.loads(self._read_frame(time.monotonic() + START_TIMEOUT_S, 1 << 16))
        except WorkerDied as exc:
            err = self.stop()
            raise WorkerDied(f"sandbox worker failed to start: {err or exc}") from exc

    def execute(self, payload: bytes, timeout_s: float, max_reply: int) -> dict:
        try:
            send_frame(self.proc.stdin.fileno(), payload)
        except OSError as exc:
            raise WorkerDied(f"sandbox worker gone ({exc})") from exc
        return json.loads(self._read_frame(time.monotonic() + timeout_s, max_reply))

    def _read_frame(self, deadline: float, max_size: int) -> bytes:
        header = self._read(HEADER.size, deadline)
        size = HEADER.unpack(header)[0]
        if size > max_size:
            raise WorkerDied(f"sandbox reply of {size} bytes is over the limit")
        return self._read(size, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        fd, chunks = self.proc.stdout.fileno(), []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerDied("sandbox worker stopped answering")
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise WorkerDied(f"sandbox worker exited ({self.proc.poll()})")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> str:
        """Kill the server's whole session (bwrap takes its namespace down with it); returns its stderr."""
        if self.proc is None:
            return ""
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            stream.close()
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace").strip()[-2000:]
        self.stderr.close()
        return err

    def close(self) -> None:
        self.stop()
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _payload(job: ExecJob, limits: ExecLimits, job_id: int, secret: str) -> bytes:
    return pickle.dumps({"id": job_id, "kind": job.kind, "code": job.code, "tests": tuple(job.tests),
                         "entry_point": job.entry_point, "limits": asdict(limits),
                         "stop_on_failure": job.stop_on_failure, "secret": secret}, protocol=4)


def _outcome(kind: str, raw: Any) -> TestOutcome:
    if type(raw) is not dict:
        raise ValueError("malformed test outcome")
    status, value, error = raw.get("status"), raw.get("value"), raw.get("error")
    if status not in ("ok", "error", "timeout", "memory", "output_limit"):
        raise ValueError(f"bad test status {status!r}")
    if kind == "call" and status == "ok":
        value = codec.decode(value)
    elif kind == "script":
        value = None
    elif value is not None and type(value) is not str:
        raise ValueError("stdout is not text")
    return TestOutcome(status, value, None if error is None else str(error))


def _result(job: ExecJob, reply: dict, job_id: int, wall_s: float) -> ExecResult:
    if type(reply) is not dict or reply.get("job") != job_id:
        raise ValueError("reply for another job")
    status = reply.get("status")
    if status not in ("completed", "runtime_error", "timeout", "memory", "sandbox_error"):
        raise ValueError(f"bad job status {status!r}")
    if type(reply.get("tests")) is not list:
        raise ValueError("malformed test list")
    tests = tuple(_outcome(job.kind, raw) for raw in reply["tests"])
    if len(tests) > len(job.tests):
        raise ValueError("more outcomes than tests")
    error, server_wall = reply.get("error"), reply.get("wall_s")
    if type(server_wall) is float:   # the server's own clock: the job alone, not the round trip
        wall_s = min(wall_s, server_wall)
    return ExecResult(status, tests, None if error is None else str(error), round(wall_s, 4))


class SandboxExecutor:
    """Executor over `workers` sandboxed fork servers (see kateval.types.Executor)."""

    def __init__(self, isolation: Isolation, workers: int, limits: ExecLimits):
        self.isolation, self.limits = isolation, limits
        self.workers = [Worker(isolation) for _ in range(max(1, workers))]
        self._lock = threading.Lock()
        self._job_ids = itertools.count(1)   # a reply must name the job it answers
        try:
            for worker in self.workers:
                worker.start()
            self.server_python = [worker.wait_ready().get("python") for worker in self.workers].pop()
        except (WorkerDied, OSError):
            self.close()
            raise

    def limits_for(self, job: ExecJob) -> ExecLimits:
        """A job's own limits when the adapter set them, else the executor's (the CLI's) limits."""
        return self.limits if job.limits == ExecLimits() else job.limits

    def run(self, jobs: Sequence[ExecJob]) -> list[ExecResult]:
        results: list[ExecResult | None] = [None] * len(jobs)
        todo: queue.Queue = queue.Queue()
        for index in range(len(jobs)):
            todo.put(index)
        with self._lock:
            threads = [threading.Thread(target=self._drain, args=(worker, jobs, todo, results), daemon=True)
                       for worker in self.workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return results

    def _drain(self, worker: Worker, jobs, todo: queue.Queue, results: list) -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = self._run_one(worker, jobs[index])
            except Exception as exc:  # noqa: BLE001 - one job's surprise must not leave a hole in the results
                worker.stop()
                results[index] = ExecResult("sandbox_error", (), f"{type(exc).__name__}: {exc}")

    def _run_one(self, worker: Worker, job: ExecJob) -> ExecResult:
        limits = self.limits_for(job)
        job_id, secret = next(self._job_ids), secrets.token_hex(16)
        started = time.monotonic()
        try:
            payload = _payload(job, limits, job_id, secret)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            return ExecResult("sandbox_error", (), f"tests cannot be sent to the sandbox: {exc}")
        max_reply = (len(job.tests) + 2) * (4 * limits.output_bytes + 65536)
        if worker.proc is None:
            try:
                worker.start()
                worker.wait_ready()
            except (WorkerDied, OSError) as exc:
                return ExecResult("sandbox_error", (), str(exc))
        try:
            reply = worker.execute(payload, WALL_FACTOR * limits.timeout_total_s + GRACE_S, max_reply)
            return _result(job, reply, job_id, time.monotonic() - started)
        except (WorkerDied, ValueError) as exc:
            # The program killed or wedged its fork server (or the reply was garbage): this job fails alone.
            worker.stop()
            return ExecResult("runtime_error", (), f"sandbox worker lost during the job: {exc}",
                              round(time.monotonic() - started, 4))

    def describe(self) -> dict[str, Any]:
        return {**self.isolation.describe(), "workers": len(self.workers), "server_python": self.server_python,
                "limits": asdict(self.limits), "notes": list(self.isolation.notes),
                "time_limits": f"CPU seconds used by the program, per test and per job; wall clock capped at "
                               f"{WALL_FACTOR}x those",
                "output_cap": "stdout per test and each returned value, output_bytes each",
                "job_limits": "a job's own limits when it sets any, else these"}

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
