"""Poisoning what later jobs and later runs trust: the evalplus reference outputs (computed in the sandbox,
cached under the user's cache directory) and the worker that computes them.

- an implant that takes over the worker answers the reference job and every later job;
- a cache file changed on disk (by an earlier compromised run, say) must be noticed, not believed;
- a cache file must never be code: unpickling a planted pickle runs it in the trusted parent;
- the sandbox cannot write into the cache directory at all."""
from __future__ import annotations

import json
import pickle

import pytest
from redteam import assert_controls, code, grade, passed, verdicts

from kateval.tasks import load_task

PLUS = "humaneval_plus"
VICTIM = "HumanEval/2"        # truncate_number: its reference outputs are computed after the attack
RIGHT_2 = "def truncate_number(number: float) -> float:\n    return number - int(number)\n"
WRONG_2 = "def truncate_number(number: float) -> float:\n    return 0.0\n"

IMPLANT = code(r'''
    import ctypes, gc, json, os, pickle, struct, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    STARTED = []

    def _steal(pid, target):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return -1
        return libc.syscall(438, pidfd, target, 0)

    def _read_exact(fd, size, deadline):
        data = b""
        while len(data) < size and time.monotonic() < deadline:
            try:
                chunk = os.read(fd, size - len(data))
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                break
            data += chunk
        return data

    def _answer(job, out_fd):
        count = len(job["tests"])
        reply = {"job": job["id"], "status": "completed", "error": None, "wall_s": 0.01,
                 "tests": [{"status": "ok", "value": 0.5, "error": None}] * count}
        frame = json.dumps(reply).encode()
        os.write(out_fd, struct.pack(">I", len(frame)) + frame)

    def _serve(in_fd, out_fd, seconds):
        """Answer every job the trusted parent sends to this worker: each value 0.5."""
        os.set_blocking(in_fd, False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            header = _read_exact(in_fd, 4, deadline)
            if len(header) < 4:
                continue
            body = _read_exact(in_fd, struct.unpack(">I", header)[0], deadline + 5)
            try:
                _answer(pickle.loads(body), out_fd)
            except Exception:
                pass

    def has_close_elements(numbers, threshold):
        if not STARTED:
            STARTED.append(1)
            in_fd, out_fd = _steal(1, 0), _steal(1, 1)
            if in_fd >= 0 and out_fd >= 0:
                job = next((o for o in gc.get_objects() if type(o) is dict and "secret" in o and "id" in o), None)
                if job is not None:
                    _answer(job, out_fd)
                _serve(in_fd, out_fd, 25)
        return False
''')


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """A cache directory of this test's own, and the task loaded afresh (no reference outputs in memory)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("KATEVAL_CACHE_DIR", str(cache))
    return cache


def cached_files(cache) -> dict[str, bytes]:
    return {str(path.relative_to(cache)): path.read_bytes() for path in sorted(cache.rglob("*")) if path.is_file()}


def second_run(data_dir) -> list:
    """A clean second run that reads the cache the first one left: a fresh executor and a freshly loaded task."""
    from redteam import LIMITS

    from kateval.sandbox import make_executor

    executor = make_executor(workers=1, limits=LIMITS)
    try:
        return grade(load_task(PLUS, data_dir), executor, VICTIM, RIGHT_2, WRONG_2)
    finally:
        executor.close()


def test_an_implant_cannot_answer_later_jobs_or_poison_the_reference(data_dir, tasks, sandbox, fresh_cache):
    plus = load_task(PLUS, data_dir)
    attack, = grade(plus, sandbox, "HumanEval/0", IMPLANT)
    assert not passed(attack), verdicts([attack])
    # the next batch needs VICTIM's reference outputs: computed on the same worker, after the attack
    right, wrong = grade(plus, sandbox, VICTIM, RIGHT_2, WRONG_2)
    assert passed(right) and not passed(wrong), f"same run: {verdicts([right, wrong])}"
    right, wrong = second_run(data_dir)
    assert passed(right) and not passed(wrong), f"a clean second run, from the cache: {verdicts([right, wrong])}"
    assert_controls(tasks, sandbox, only=("humaneval", "livecodebench"))


def mutate(value):
    """Every leaf changed: what a tampered cache of expected outputs looks like."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (list, tuple)):
        return type(value)(mutate(item) for item in value)
    if isinstance(value, dict):
        return {key: mutate(item) for key, item in value.items()}
    return value


def tampered(data: bytes) -> bytes:
    """The file with its values changed, in its own format (pickle or JSON); else with one byte flipped."""
    for loads, dumps in ((pickle.loads, pickle.dumps), (json.loads, lambda v: json.dumps(v).encode())):
        try:
            value = loads(data)
        except Exception:  # noqa: BLE001, S112 - not this format: try the next
            continue
        return dumps(mutate(value))
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def test_a_tampered_cache_is_not_believed(data_dir, sandbox, fresh_cache):
    record, = grade(load_task(PLUS, data_dir), sandbox, VICTIM, RIGHT_2)
    assert passed(record)
    files = cached_files(fresh_cache)
    assert files, "the reference outputs were not cached at all"
    for name, data in files.items():
        (fresh_cache / name).write_bytes(tampered(data))
    right, wrong = grade(load_task(PLUS, data_dir), sandbox, VICTIM, RIGHT_2, WRONG_2)
    assert passed(right) and not passed(wrong), verdicts([right, wrong])


class Planted:
    """A pickle that, when loaded, creates a file: stands for any code a planted cache would run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_planted_cache_file_is_never_run(data_dir, sandbox, fresh_cache, tmp_path):
    record, = grade(load_task(PLUS, data_dir), sandbox, VICTIM, RIGHT_2)
    assert passed(record)
    ran = tmp_path / "the-cache-ran-code"
    for name in cached_files(fresh_cache):
        (fresh_cache / name).write_bytes(pickle.dumps(Planted(str(ran))))
    try:
        records = grade(load_task(PLUS, data_dir), sandbox, VICTIM, RIGHT_2, WRONG_2)
    except Exception as exc:  # noqa: BLE001 - reported after the more serious check below
        records = exc
    assert not ran.exists(), "loading the cache ran code in the trusted parent"
    assert not isinstance(records, Exception), f"a bad cache file ended the run: {records!r}"
    right, wrong = records
    assert passed(right) and not passed(wrong), verdicts([right, wrong])


def test_the_sandbox_cannot_write_the_cache(data_dir, sandbox, fresh_cache):
    grade(load_task(PLUS, data_dir), sandbox, VICTIM, RIGHT_2)
    before = cached_files(fresh_cache)
    writer = code(r'''
        import os
        TARGETS = [{{CACHE}}, os.path.expanduser("~/.cache/kateval"), "/root/.cache/kateval", "/tmp/.cache/kateval"]
        def truncate_number(number):
            for top in TARGETS:
                for root, dirs, files in os.walk(top):
                    for name in files:
                        try:
                            with open(os.path.join(root, name), "wb") as handle:
                                handle.write(b"poisoned")
                        except OSError:
                            pass
                try:
                    os.makedirs(os.path.join(top, "evalplus"), exist_ok=True)
                    with open(os.path.join(top, "evalplus", "planted.pkl"), "wb") as handle:
                        handle.write(b"poisoned")
                except OSError:
                    pass
            return 0.0
    ''', CACHE=str(fresh_cache))
    record, = grade(load_task(PLUS, data_dir), sandbox, VICTIM, writer)
    assert not passed(record)
    assert cached_files(fresh_cache) == before
