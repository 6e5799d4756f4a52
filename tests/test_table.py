"""samples.jsonl as a typed DataFrame: the fast reader and the line-by-line one agree, and every odd file the
store can hold (a torn last line, a corrupt line, an escaped lone surrogate, a value of another type, fields a
newer kateval added, uneven samples per problem) still loads."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from kateval.report.synthetic import random_records, run_meta, sample_record, write_run
from kateval.store import SAMPLES
from kateval.table import record_schema, sample_frame
from kateval.types import KatevalError, SampleRecord

R = sample_record


def write_lines(run_dir, lines: list[str]):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(run_meta(["t"])))
    (run_dir / SAMPLES).write_text("".join(lines), encoding="utf-8")
    return run_dir


def test_every_record_field_is_a_column_with_its_type(tmp_path):
    run = write_run(tmp_path / "run", random_records(64, n=4), run_meta(["aime24", "lcb"]))
    frame = sample_frame(run)
    schema, loose = record_schema()
    assert set(schema.names) | set(loose) == set(SampleRecord.__dataclass_fields__)
    assert list(frame.columns) == schema.names
    assert str(frame["task"].dtype) == "category" and str(frame["status"].dtype) == "category"
    assert str(frame["think_tokens"].dtype) == "Int64" and frame["truncated"].dtype == bool
    assert frame.groupby("task", observed=True).size().to_dict() == {"aime24": 32, "lcb": 32}
    full = sample_frame(run, completions=True)
    assert (full["completion"].str.len() == 1500).all() and full["grade_details"].map(type).eq(dict).all()


def test_torn_last_line_and_corrupt_lines_follow_the_store_rules(tmp_path, capsys):
    good = [json.dumps(R("t", f"p{i}", completion_tokens=10 * i)) + "\n" for i in range(3)]
    torn = write_lines(tmp_path / "torn", good + [json.dumps(R("t", "p9"))[:40]])
    assert sample_frame(torn)["problem_id"].tolist() == ["p0", "p1", "p2"]
    corrupt = write_lines(tmp_path / "corrupt", [good[0], "{not json\n", good[2]])
    assert sample_frame(corrupt)["completion_tokens"].tolist() == [0, 20]
    assert "corrupt/samples.jsonl:2 is not a valid record" in capsys.readouterr().err


def test_values_the_fast_reader_refuses_are_read_line_by_line(tmp_path):
    lines = [json.dumps(R("t", "p0", completion="\ud800 lone surrogate", extracted_answer="\udfff")) + "\n",
             json.dumps(R("t", "p1", stop_reason=151645, completion_tokens=None)) + "\n",
             json.dumps(R("t", "p2", stop_reason="</answer>")) + "\n"]
    run = write_lines(tmp_path / "odd", lines)
    frame = sample_frame(run, completions=True)
    # arrow and pandas strings are UTF-8: a lone surrogate is shown as its escape, not dropped
    assert frame["completion"].iloc[0] == "\\ud800 lone surrogate" and frame["extracted_answer"].iloc[0] == "\\udfff"
    assert frame["stop_reason"].tolist() == [None, 151645, "</answer>"]
    assert frame["completion_tokens"].isna().tolist() == [False, True, False]


def test_a_value_of_another_type_is_left_empty_not_fatal(tmp_path, capsys):
    lines = [json.dumps(R("t", "p0")) + "\n", json.dumps(R("t", "p1", completion_tokens="12")) + "\n"]
    frame = sample_frame(write_lines(tmp_path / "typed", lines))
    assert frame["completion_tokens"].tolist()[0] == 100 and frame["completion_tokens"].isna().tolist() == [False, True]
    assert "samples.jsonl:2: completion_tokens of another type, left empty" in capsys.readouterr().err


def test_unknown_fields_and_uneven_samples_per_problem(tmp_path):
    records = [{**R("t", "p0", i), "future_field": {"x": i}} for i in range(3)] + [R("t", "p1", 0)]
    frame = sample_frame(write_run(tmp_path / "uneven", records, run_meta(["t"])))
    assert frame.groupby("problem_id", observed=True).size().to_dict() == {"p0": 3, "p1": 1}
    assert "future_field" not in frame


def test_empty_and_missing_runs(tmp_path):
    empty = write_lines(tmp_path / "empty", [])
    frame = sample_frame(empty)
    assert len(frame) == 0 and "task" in frame
    with pytest.raises(KatevalError, match="no samples.jsonl"):
        sample_frame(tmp_path / "nothing")
    assert isinstance(frame, pd.DataFrame)


def test_the_parquet_sidecar_is_used_while_the_samples_are_unchanged(tmp_path, monkeypatch):
    from kateval import table

    run = write_run(tmp_path / "run", [R("t", f"p{i}", completion_tokens=i) for i in range(4)], run_meta(["t"]))
    first = sample_frame(run)
    assert (run / table.SIDECAR).exists()
    with monkeypatch.context() as patch:   # the second load must not decode the JSON
        patch.setattr(table, "_scalar_table", lambda *a: pytest.fail("read the JSON despite a valid sidecar"))
        pd.testing.assert_frame_equal(sample_frame(run), first)
        assert sample_frame(run, completions=True)["completion"].tolist() == [""] * 4
    with (run / SAMPLES).open("a") as handle:   # a resumed run appends: the sidecar is stale
        handle.write(json.dumps(R("t", "p4", completion_tokens=4)) + "\n")
    assert sample_frame(run)["completion_tokens"].tolist() == [0, 1, 2, 3, 4]


def test_a_sidecar_of_other_fields_or_that_cannot_be_written_is_not_used(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kateval import table

    run = write_run(tmp_path / "run", [R("t", "p0", completion_tokens=7)], run_meta(["t"]))
    stamp = table._stamp(run / SAMPLES)
    pq.write_table(pa.table({"task": ["x"]}).replace_schema_metadata(stamp), run / table.SIDECAR)
    assert sample_frame(run)["completion_tokens"].tolist() == [7]   # a kateval with other record fields wrote it
    (run / table.SIDECAR).unlink()
    monkeypatch.setattr(table.pq, "write_table", lambda *a, **k: (_ for _ in ()).throw(OSError("read-only")))
    assert sample_frame(run)["completion_tokens"].tolist() == [7] and not (run / table.SIDECAR).exists()
    assert not list(run.glob("*.tmp"))
