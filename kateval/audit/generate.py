"""Make the three runs of an audit: the same problems and seeds, with the model left to choose, then forced."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kateval.audit.metrics import MODES
from kateval.pipeline import RunConfig, run_evaluation
from kateval.report.summary import write_summary


def generate_mode_runs(config: RunConfig) -> dict[str, Path]:
    """Runs `config` once per mode into config.out/<mode>; a run already there is resumed, not redone.
    Seeds depend only on the sampling seed, task and problem, so the three runs see the same seeds."""
    run_dirs = {}
    for mode in MODES:
        out = run_evaluation(replace(config, backend=replace(config.backend, mode=mode), out=Path(config.out) / mode))
        write_summary(out)
        run_dirs[mode] = out
    return run_dirs
