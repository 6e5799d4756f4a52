"""Every driver (run, sweep, adaptive) records run.json's facts through Stages.record_facts, which keeps the time
limits a resumed run recorded for problems graded before."""
from __future__ import annotations

from kateval.backends.base import BackendConfig
from kateval.pipeline import Stages
from kateval.store import RunStore, read_run_meta
from kateval.tasks import load_task


def test_recorded_time_limits_of_earlier_problems_survive_and_extra_fields_are_written(tmp_path, data_dir):
    task = load_task("humaneval", str(data_dir))
    stores = [RunStore(tmp_path / name) for name in ("cell_a", "cell_b")]
    earlier = {"humaneval": {"mode": "calibrated", "problems": {"HumanEval/7": [0.25, 3.0]}}}
    stores[0].open({"name": "a"}, {"time_limits": earlier})
    stores[1].open({"name": "b"}, {})
    stages = Stages([task], BackendConfig("reference"))
    stages.record_facts(stores, generate_and_grade_s=1.5)
    first, second = (read_run_meta(store.run_dir) for store in stores)
    assert first["time_limits"]["humaneval"]["problems"]["HumanEval/7"] == [0.25, 3.0]
    assert "HumanEval/7" not in second["time_limits"]["humaneval"].get("problems", {})
    assert first["generate_and_grade_s"] == second["generate_and_grade_s"] == 1.5
    assert first["identity"] == {"name": "a"} and first["backend"] is None
