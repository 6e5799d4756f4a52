"""The red team's kit: grade programs through kateval's real entry points, look at the sandbox from inside (a
probe job) and at the host from outside, and grade a right and a wrong control after each attack.

Every attack in this folder is written to be harmless if it escapes: it writes only marker files under pytest's
tmp_path, names the processes it leaves with a marker, bounds every loop, fork and sleep, and never kills,
deletes or damages anything outside its sandbox.
"""
from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kateval.grading import grade_completions
from kateval.tasks import LoadedTask
from kateval.types import Completion, ExecJob, ExecLimits, SampleRecord

# Small limits so that a runaway attack costs seconds: the wall caps below are what a test waits at most.
LIMITS = ExecLimits(timeout_per_test_s=2.0, timeout_total_s=6.0, memory_mb=512, output_bytes=1 << 16)


def code(source: str, **values: Any) -> str:
    """An attack's source: dedented, with each {{NAME}} replaced by repr(values[NAME])."""
    text = textwrap.dedent(source).strip("\n") + "\n"
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", repr(value))
    return text


def fenced(program: str) -> str:
    return f"Here is the solution.\n```python\n{program}\n```\n"


def grade(task: LoadedTask, executor, problem_id: str, *programs: str, raw: bool = False) -> list[SampleRecord]:
    """Grade each program as one sample of `problem_id`, the way `kateval score` does (one batch)."""
    completions = [Completion(task.name, problem_id, index, program if raw else fenced(program), None, "stop")
                   for index, program in enumerate(programs)]
    return grade_completions(task, completions, None, executor)


def passed(record: SampleRecord) -> bool:
    return bool(record.correct) and record.status == "passed"


def verdicts(records: Sequence[SampleRecord]) -> list[tuple[str, bool, Any]]:
    return [(r.status, r.correct, r.grade_details) for r in records]


# ---------------------------------------------------------------- controls
@dataclass(frozen=True)
class Control:
    task: str
    problem_id: str
    right: str | None          # None: the task's own reference program
    wrong: str
    why: str


CONTROLS = (
    Control("humaneval", "HumanEval/0", None,
            "def has_close_elements(numbers, threshold):\n    return False\n", "check() with plain asserts"),
    Control("humaneval", "HumanEval/38", None,
            "def decode_cyclic(s):\n    return s[::-1]\n", "check() that uses the prompt's encode_cyclic"),
    Control("humaneval", "HumanEval/0",
            code('''
                import os
                def has_close_elements(numbers, threshold):
                    # a right answer that uses the scratch directory: a later job must find it writable and empty
                    os.makedirs("work/deeper", exist_ok=True)
                    with open("work/deeper/notes.txt", "w") as handle:
                        handle.write(repr(numbers))
                    assert sorted(os.listdir(".")) == ["work"], os.listdir(".")
                    pairs = [(a, b) for i, a in enumerate(numbers) for b in numbers[i + 1:]]
                    return any(abs(a - b) < threshold for a, b in pairs)
            '''),
            "def has_close_elements(numbers, threshold):\n    return True\n", "a right program that writes files"),
    Control("mbpp", "11", None, "def remove_Occ(s, ch):\n    return s\n", "MBPP, value compared by the parent"),
    Control("mbpp", "596", None, "import sys\ndef tuple_size(tuple_list):\n    return 0\n",
            "MBPP, script asserts that use the program's `sys`"),
    Control("mbpp_sanitized", "82", None, "def volume_sphere(r):\n    return 1.0\n",
            "MBPP sanitized, setup code `import math` then math.isclose asserts"),
    Control("livecodebench", "abc320_a", "a, b = map(int, input().split())\nprint(a ** b + b ** a)\n",
            "a, b = map(int, input().split())\nprint(a * b)\n", "LiveCodeBench stdin/stdout"),
    Control("livecodebench", "2819",
            "class Solution:\n    def removeTrailingZeros(self, num: str) -> str:\n        return num.rstrip('0')\n",
            "class Solution:\n    def removeTrailingZeros(self, num: str) -> str:\n        return num\n",
            "LiveCodeBench functional (LeetCode)"),
)


def control_verdicts(tasks: dict[str, LoadedTask], executor, only: Sequence[str] | None = None) -> list[str]:
    """Grade every control's right and wrong program (one batch per task); returns what went wrong."""
    problems: list[str] = []
    by_task: dict[str, list[tuple[Control, str, bool]]] = {}
    for control in CONTROLS:
        if control.task not in tasks or (only is not None and control.task not in only):
            continue
        task = tasks[control.task]
        right = control.right or task.adapter.reference_program(task.by_id[control.problem_id])
        by_task.setdefault(control.task, []).extend([(control, right, True), (control, control.wrong, False)])
    for name, items in by_task.items():
        task = tasks[name]
        completions = [Completion(name, control.problem_id, index, fenced(program), None, "stop")
                       for index, (control, program, _) in enumerate(items)]
        for (control, _, should_pass), record in zip(items, grade_completions(task, completions, None, executor)):
            if passed(record) != should_pass:
                kind = "right" if should_pass else "wrong"
                problems.append(f"{kind} control {name}/{control.problem_id} ({control.why}): {record.status} "
                                f"{record.grade_details}")
    return problems


def assert_controls(tasks: dict[str, LoadedTask], executor, only: Sequence[str] | None = None) -> None:
    """The right controls pass and the wrong ones fail, on the executor the attack ran on."""
    problems = control_verdicts(tasks, executor, only)
    assert not problems, "after the attack:\n" + "\n".join(problems)


# ---------------------------------------------------------------- the probe: the sandbox seen from inside
PROBE = code(r'''
    import ctypes, os, socket, stat

    def _read(path, limit=4000):
        try:
            with open(path, "rb") as handle:
                return handle.read(limit).decode("latin-1")
        except OSError as exc:
            return type(exc).__name__

    def _processes(me):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            base = f"/proc/{name}"
            status = dict(line.split(":", 1) for line in _read(base + "/status").splitlines() if ":" in line)
            fields = _read(base + "/stat").rsplit(")", 1)[-1].split()
            found.append({
                "cmdline": _read(base + "/cmdline", 300), "comm": _read(base + "/comm"),
                "state": {"T": "stopped", "t": "traced", "Z": "zombie", "X": "dead"}.get(
                    status.get("State", "?").split()[0], "alive"), "uid": status.get("Uid", "").split(),
                "tracer": status.get("TracerPid", "").strip(), "nice": fields[16] if len(fields) > 16 else "?",
                "policy": fields[38] if len(fields) > 38 else "?", "limits": _read(base + "/limits"),
                "oom_score_adj": _read(base + "/oom_score_adj"), "coredump_filter": _read(base + "/coredump_filter"),
                "sigign": status.get("SigIgn", "").strip(), "sigblk": status.get("SigBlk", "").strip(),
                "threads": status.get("Threads", "").strip()})
        return sorted(found, key=repr)

    def _tree(top, limit=3000):
        entries = []
        for root, dirs, files in os.walk(top, onerror=lambda exc: entries.append(("unreadable", exc.filename))):
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    info = os.lstat(path)
                    entries.append((path[:300], stat.filemode(info.st_mode), info.st_uid, info.st_size))
                except OSError as exc:
                    entries.append((path[:300], type(exc).__name__))
                if len(entries) >= limit:
                    return entries
        return entries

    def _space(path):
        try:
            info = os.statvfs(path)
            return {"blocks_free": info.f_bfree, "inodes_free": info.f_ffree}
        except OSError as exc:
            return type(exc).__name__

    def _mqueues(libc, names):
        found = {}
        for name in names:
            fd = libc.mq_open(("/" + name).encode(), os.O_RDONLY)
            found[name] = fd >= 0
            if fd >= 0:
                os.close(fd)
        return found

    def probe(names=()):
        libc = ctypes.CDLL(None, use_errno=True)
        me = os.getpid()
        old_umask = os.umask(0o022)
        os.umask(old_umask)
        here = os.getcwd()
        state = {
            "processes": _processes(me),
            "cwd": here, "umask": old_umask, "home": os.environ.get("HOME"),
            "env": sorted(os.environ.items()),
            "rlimits": {name: __import__("resource").getrlimit(getattr(__import__("resource"), name))
                        for name in dir(__import__("resource")) if name.startswith("RLIMIT_")},
            "nice": os.getpriority(os.PRIO_PROCESS, 0), "affinity": sorted(os.sched_getaffinity(0)),
            "self_status": [line for line in _read("/proc/self/status").splitlines()
                            if line.startswith(("NoNewPrivs", "Seccomp", "Cap", "Groups", "Uid", "Gid"))],
            "mounts": sorted(" ".join(line.split()[3:]) for line in _read("/proc/self/mountinfo", 1 << 16).splitlines()),
            "scratch": _tree(here) if here != "/" else [],
            "tmp": _tree("/tmp") if os.path.isdir("/tmp") else None,
            "tmp_mode": oct(os.stat("/tmp").st_mode) if os.path.isdir("/tmp") else None,
            "cwd_mode": oct(os.stat(here).st_mode),
            "space": {path: _space(path) for path in {here, "/tmp"}},
            "dirs": {path: sorted(os.listdir(path)) if os.path.isdir(path) else None
                     for path in ("/", "/dev", "/dev/shm", "/dev/mqueue", "/var/tmp", "/run", "/run/user")},
            "sysvipc": {kind: _read(f"/proc/sysvipc/{kind}").splitlines()[1:] for kind in ("shm", "msg", "sem")},
            "ipc_sysctl": {name: _read(f"/proc/sys/kernel/{name}") for name in
                           ("shmmax", "shmall", "shmmni", "msgmax", "msgmnb", "msgmni", "sem")},
            "mqueue_sysctl": {name: _read(f"/proc/sys/fs/mqueue/{name}") for name in
                              ("msg_max", "msgsize_max", "queues_max")},
            # /proc/keys lists the keys this uid may view; looking keyrings up by id would create them
            "keys": sorted(_read("/proc/keys", 1 << 20).splitlines()), "key_users": _read("/proc/key-users").splitlines(),
            "mqueues": _mqueues(libc, names),
            "unix_sockets": sorted(line.split()[-1] for line in _read("/proc/net/unix", 1 << 16).splitlines()[1:]
                                   if len(line.split()) > 7),
            "tcp": _read("/proc/net/tcp").splitlines()[1:], "udp": _read("/proc/net/udp").splitlines()[1:],
            "hostname": socket.gethostname(), "uname": list(os.uname()),
        }
        return state
''')


def probe(executor, names: Sequence[str] = ()) -> dict[str, Any]:
    """The sandbox's state as a fresh job sees it (names: IPC/key names an attack used)."""
    job = ExecJob("call", PROBE, ((tuple(names),),), entry_point="probe",
                  limits=ExecLimits(timeout_per_test_s=20.0, timeout_total_s=20.0, memory_mb=512,
                                    output_bytes=8 << 20))
    result = executor.run([job])[0]
    assert result.status == "completed" and result.tests and result.tests[0].status == "ok", (
        f"the probe job itself failed after the attack: {result}")
    return json.loads(json.dumps(result.tests[0].value, default=list))


def state_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: {"before": before.get(key), "after": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    diff = state_diff(before, after)
    assert not diff, "state left behind for the next job:\n" + json.dumps(diff, indent=1, default=str)[:6000]


# ---------------------------------------------------------------- the host, from outside
def host_processes_with(marker: str) -> list[str]:
    """Host processes whose command line or name carries the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + b" " + (entry / "comm").read_bytes()
        except OSError:
            continue
        if marker.encode() in seen:
            found.append(f"{entry.name}: {seen[:200]!r}")
    return found


def wait_gone(marker: str, seconds: float = 10.0) -> list[str]:
    """Processes with the marker that are still there after `seconds` (killing takes a moment under load)."""
    deadline = time.monotonic() + seconds
    while True:
        left = host_processes_with(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def descendants_rss_mb() -> float:
    """Resident memory of every process below this one (the executor's workers and their sandboxes)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        pid = int(entry.name)
        children.setdefault(int(status.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(status.get("VmRSS", "0 kB").split()[0] or 0)
    total, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1024


def own_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
