"""Fixtures of the adversarial suite: the code tasks as `kateval score` loads them, and a fresh one-worker
executor per test, so that an attack and the controls graded after it share one worker."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from redteam import LIMITS, wait_gone

from kateval.sandbox import make_executor
from kateval.tasks import load_task

CODE_TASKS = ("humaneval", "mbpp", "mbpp_sanitized", "livecodebench", "humaneval_plus", "mbpp_plus")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """evalplus reference outputs go to a cache of this session's own (never the user's)."""
    old = os.environ.get("KATEVAL_CACHE_DIR")
    os.environ["KATEVAL_CACHE_DIR"] = str(tmp_path_factory.mktemp("kateval-cache"))
    yield Path(os.environ["KATEVAL_CACHE_DIR"])
    if old is None:
        os.environ.pop("KATEVAL_CACHE_DIR", None)
    else:
        os.environ["KATEVAL_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def tasks(data_dir) -> dict:
    return {name: load_task(name, data_dir) for name in CODE_TASKS}


@pytest.fixture()
def marker() -> str:
    """A name the attack gives to what it leaves behind (processes, files, keys, queues), to look for it later."""
    return "krt" + uuid.uuid4().hex[:9]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember how each phase of a test went: a worker is reused only after a test that passed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"redteam_{report.when}", report)


@pytest.fixture(scope="module")
def worker_holder():
    holder = {"executor": None}
    yield holder
    if holder["executor"] is not None:
        holder["executor"].close()


@pytest.fixture()
def sandbox(worker_holder, marker, request):
    """One worker: the attack and every control after it run on the same worker. The worker is kept for the
    next test of the module only when this test passed (its controls and probes found the worker sound);
    after a failure the next test starts a fresh one, so one hole is not reported twice."""
    if worker_holder["executor"] is None:
        worker_holder["executor"] = make_executor(workers=1, limits=LIMITS)
    yield worker_holder["executor"]
    call = getattr(request.node, "redteam_call", None)
    if call is None or not call.passed:
        worker_holder["executor"].close()
        worker_holder["executor"] = None
    left = wait_gone(marker)
    assert not left, f"processes the attack started outlived its job: {left}"
