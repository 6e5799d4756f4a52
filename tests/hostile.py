"""Helpers for the hostile-program tests: one-worker executors (so a control graded after an attack runs on the
same worker), the right and wrong controls, and host-side probes. Attacks written with these are harmless if
they escaped: they write marker files under pytest's tmp_path and never signal anything outside the sandbox."""
from __future__ import annotations

import os
from pathlib import Path

from kateval.types import ExecJob, ExecLimits, ExecResult

LIMITS = ExecLimits(timeout_per_test_s=1.0, timeout_total_s=4.0, memory_mb=256, output_bytes=1 << 16)
CHECK = "def check(candidate):\n    assert candidate(2) == 5\n    assert candidate(3) == 7\n"
RIGHT = "def f(x):\n    return 2 * x + 1\n"
WRONG = "def f(x):\n    return 0\n"


def check_job(code: str, limits: ExecLimits = LIMITS, trusted_code: str = CHECK) -> ExecJob:
    return ExecJob("check", code, ("check(f)",), "f", limits=limits, trusted_code=trusted_code)


def call_job(code: str, tests: tuple = ((2,), (3,)), limits: ExecLimits = LIMITS, **kwargs) -> ExecJob:
    return ExecJob("call", code, tests, "f", limits=limits, **kwargs)


def passed(result: ExecResult) -> bool:
    return result.status == "completed" and bool(result.tests) and all(t.status == "ok" for t in result.tests)


def call_passed(result: ExecResult, expected: list) -> bool:
    return passed(result) and [t.value for t in result.tests] == expected


def with_controls(executor, *jobs: ExecJob) -> list[ExecResult]:
    """Run the jobs, then a right and a wrong program on the same (single) worker; the controls must be graded
    right, whatever the jobs did to the worker."""
    assert len(executor.workers) == 1
    *results, right, wrong, right_call = executor.run(
        [*jobs, check_job(RIGHT), check_job(WRONG), call_job(RIGHT)])
    assert passed(right), right
    assert not passed(wrong) and wrong.tests[0].error.startswith("AssertionError"), wrong
    assert call_passed(right_call, [5, 7]), right_call
    return results


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


SERVER_PROCESSES = 5   # per worker: runner (bwrap, its first process, the server) and judge (bwrap, the server)


def sandbox_processes(executor) -> list[str]:
    """Host processes running as the workers' uids: nothing but the servers, whatever the jobs started."""
    return processes_of({uid for worker in executor.workers for uid in worker.uids})


def host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def server_pids(executor) -> list[int]:
    """Host pids of the sandbox servers (bwrap's child: the server runs as the sandbox's pid 1)."""
    pids = []
    for worker in executor.workers:
        for server in (worker.runner, worker.judge):
            for task in os.listdir(f"/proc/{server.proc.pid}/task"):
                pids += [int(p) for p in Path(f"/proc/{server.proc.pid}/task/{task}/children").read_text().split()]
    return pids


def peak_memory_kb(pid: int) -> int:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0])
