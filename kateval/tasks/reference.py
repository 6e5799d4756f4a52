"""Ground truth from the data's own reference solutions: the CPU time each one takes (a program's time limits are
calibrated from it, as evalplus does) and, for evalplus, what it returns (the expected outputs). Computed once per
problem and cached under a hash of everything it was computed from.

TRUSTED: the reference solutions are the data's code. Expected outputs are computed in the sandbox's judge, where
no program ever runs; reference CPU times come from running the reference exactly as a program would run. The
cache lives in the user's cache directory, which no sandbox can reach (the runner sees no host files; at the
`uid` level it runs as another uid and the directory is private; at the weak `rlimits` level, where a program
would run as the user, nothing is cached). A cached file is used only when the hash of its source matches and its
payload matches the hash stored with it; it is JSON read through protocol.decode, so reading it runs no code.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kateval.sandbox import protocol
from kateval.types import ExecLimits, Executor

FORMAT = "kateval-reference-4"   # 4: plans never hold a reference answer (earlier caches may)
UNSAFE_LEVELS = ("rlimits",)    # where a program runs as the user and could write the user's cache


@dataclass(frozen=True)
class Calibration:
    """A program gets `factor` times the reference solution's CPU time on each test, never less than `floor_s`
    per test (evalplus's rule), and on top the factor times the reference's own loading time per job. The job's
    total is capped, as evalplus caps it (60 s): at the user's per-job limit, or at `factor` times the reference's
    whole run where that is more. Without the cap, a problem with thousands of tests (HumanEval+ has problems
    with over 1,000) gives a program stuck while loading, before any test starts, thousands of floors (an hour of
    CPU) to waste."""
    factor: float = 4.0
    floor_s: float = 0.25   # 4x what importing numpy costs a program (the heaviest module it can load here)

    def limits(self, base: ExecLimits, per_test_cpu: Sequence[float], total_cpu: float) -> ExecLimits:
        allowances = [max(self.floor_s, self.factor * cpu) for cpu in per_test_cpu] or [self.floor_s]
        loading = max(0.0, total_cpu - sum(per_test_cpu))
        total = min(sum(allowances) + self.factor * loading, max(base.timeout_total_s, self.factor * total_cpu))
        return replace(base, timeout_per_test_s=round(max(allowances), 3), timeout_total_s=round(total, 3))

    def describe(self) -> dict[str, Any]:
        return {"mode": "calibrated", "factor": self.factor, "floor_cpu_s": self.floor_s,
                "rule": "per test: max(floor, factor x the reference's CPU on that test); per job: the sum of "
                        "those plus factor x the reference's loading time, at most the per-job limit "
                        "(--problem-timeout) or factor x the reference's whole run where that is more (CPU seconds)"}


def cache_dir() -> Path:
    return Path(os.environ.get("KATEVAL_CACHE_DIR", Path.home() / ".cache" / "kateval"))


def source_key(*parts: Any) -> str:
    """The hash of everything a cached value was computed from."""
    text = json.dumps([FORMAT, platform.machine(), *parts], sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def caching_allowed(executor: Executor) -> bool:
    isolation = executor.describe().get("isolation")
    return isolation is not None and isolation not in UNSAFE_LEVELS


class ReferenceCache:
    """JSON files under cache_dir()/<kind>/, one per source key."""

    def __init__(self, kind: str, enabled: bool):
        self.folder = cache_dir() / kind
        self.enabled = enabled and self._private()

    def _private(self) -> bool:
        """The folder exists (created here) and only its owner may write it."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = self.folder.stat()
        except OSError:
            return False
        return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)

    def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        try:
            stored = json.loads((self.folder / f"{key}.json").read_text(encoding="ascii"))
            payload = stored["payload"]
            if stored.get("format") != FORMAT or stored.get("source") != key or stored.get("payload_sha256") != (
                    _digest(payload)):
                return None
            return protocol.decode(payload)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, value: Any) -> None:
        if not self.enabled:
            return
        try:
            payload = protocol.encode(value)
        except protocol.Unencodable:
            return
        record = {"format": FORMAT, "source": key, "payload_sha256": _digest(payload), "payload": payload}
        path = self.folder / f"{key}.json"
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        try:
            temporary.write_text(json.dumps(record, ensure_ascii=True), encoding="ascii")
            temporary.replace(path)
        except OSError:
            temporary.unlink(missing_ok=True)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
