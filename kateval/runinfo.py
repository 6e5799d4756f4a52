"""Facts about the environment recorded in run.json."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, check=False,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine() -> dict[str, Any]:
    return {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count()}


def task_facts(tasks, limit: int | None) -> dict[str, Any]:
    return {task.name: {"version": task.card.version, "adapter": task.card.adapter, "source": vars(task.source),
                        "problems": len(task.problems), "selected": len(task.selected[:limit]),
                        "params": task.card.params}
            for task in tasks}
