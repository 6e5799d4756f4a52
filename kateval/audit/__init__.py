"""The mode audit: did an AutoThink model think when it should have?

It reads three runs of the same problems (auto, forced on, forced off) from the store, pairs them by problem,
and writes audit.json, audit.md and audit.html. `metrics` holds the definitions; `load` the store reading;
`render` the report. `kateval audit --tasks` makes the three runs first with `kateval run`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kateval.audit.load import load_audit_input
from kateval.audit.metrics import O1_PRUNER_WEIGHTS, AesWeights, build_audit
from kateval.audit.render import write_report

O1_PRUNER = "Luo et al. 2025, O1-Pruner, arXiv 2501.12570, AES"


def audit_runs(run_dirs: dict[str, Path], out: Path, threshold: float = 0.5, baseline: str = "on",
               weights: AesWeights = O1_PRUNER_WEIGHTS) -> dict[str, Path]:
    """Audit three run directories (keys auto, on, off); returns the paths written."""
    loaded = load_audit_input(run_dirs, threshold)
    audit: dict[str, Any] = {
        "settings": {"threshold": threshold, "baseline": baseline, "aes_weights": vars(weights),
                     "aes_reference": O1_PRUNER, "token_field": "completion_tokens"},
        "runs": loaded.runs,
        "unmatched": loaded.unmatched,
        **build_audit(loaded.problems, baseline, weights),
        "problems": [p.to_json_dict() for p in loaded.problems],
    }
    return write_report(out, audit, loaded.problems)
