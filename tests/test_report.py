"""`kateval report` on small synthetic runs whose every number is computed by hand below."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from md_tables import md_cells

from kateval.cli import main as cli
from kateval.report.run_report import write_report
from kateval.report.summary import summarize
from kateval.report.synthetic import run_meta, sample_record, write_run

R = sample_record
# task t: 3 problems x 2 samples. p1 both right (one thinks), p2 one truncated + one right (both think),
# p3 both wrong with the same answer. Task u: one problem, text-only source (no token counts).
RECORDS = [
    R("t", "p1", 0, mode="on", completion_tokens=100, judge_tokens=10, think_tokens=60, answer_tokens=30,
      difficulty="easy"),
    R("t", "p1", 1, mode="off", completion_tokens=20, judge_tokens=10, think_tokens=0, answer_tokens=10,
      difficulty="easy"),
    R("t", "p2", 0, mode="on", completion_tokens=400, think_tokens=390, answer_tokens=0, truncated=True,
      finish_reason="length", correct=False, status="truncated", extracted_answer=None, difficulty="hard"),
    R("t", "p2", 1, mode="on", completion_tokens=200, think_tokens=150, answer_tokens=40, difficulty="hard"),
    R("t", "p3", 0, mode="off", completion_tokens=50, correct=False, status="wrong_answer", extracted_answer="7",
      difficulty="medium"),
    R("t", "p3", 1, mode="off", completion_tokens=30, correct=False, status="wrong_answer", extracted_answer="7",
      difficulty="medium"),
    *(R("u", "q1", i, mode="none", completion_tokens=None, judge_tokens=None, think_tokens=None,
        answer_tokens=None) for i in range(2)),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    meta = run_meta(["t", "u"], sampling={"n": 2, "max_tokens": 400},
                    params={"u": {"public_tests_only": True, "window": "2408-2502"}})
    return write_run(tmp_path_factory.mktemp("report") / "run", RECORDS, meta)


@pytest.fixture(scope="module")
def summary(run_dir):
    return summarize(run_dir)


def test_accuracy_pass_at_k_and_majority(summary):
    t = summary["tasks"]["t"]
    assert (t["problems"], t["samples"], t["samples_per_problem"]) == (3, 6, 2)
    assert t["accuracy"] == 0.5
    assert len(t["accuracy_ci95"]) == 2 and 0 <= t["accuracy_ci95"][0] <= 0.5 <= t["accuracy_ci95"][1] <= 1
    # pass@1 = mean(2/2, 1/2, 0/2); pass@2 = mean(1, 1, 0)
    assert t["pass_at_k"] == pytest.approx({"1": 0.5, "2": 2 / 3})
    # p1: both correct; p2: the truncated sample has no answer, the other is correct; p3: "7" twice, wrong
    assert t["maj_at_n"] == pytest.approx(2 / 3)


def test_think_mode_metrics(summary):
    t = summary["tasks"]["t"]
    assert t["think_rate"] == 0.5
    assert t["accuracy_think_on"] == pytest.approx(2 / 3)
    assert t["accuracy_think_off"] == pytest.approx(1 / 3)
    assert t["by_mode"]["on"]["completion_tokens"]["mean"] == pytest.approx(700 / 3)
    assert list(t["by_difficulty"]) == ["easy", "medium", "hard"]
    assert [d["think_rate"] for d in t["by_difficulty"].values()] == [0.5, 0.0, 1.0]
    assert [d["accuracy"] for d in t["by_difficulty"].values()] == [1.0, 0.0, 0.5]


def test_tokens_truncation_and_budget(summary):
    t = summary["tasks"]["t"]
    assert t["mean_completion_tokens"] == pytest.approx(800 / 6)
    assert t["completion_tokens"] == {"mean": pytest.approx(800 / 6), "median": 75.0, "p90": 300.0, "max": 400}
    assert t["mean_think_tokens"] == pytest.approx(600 / 6)
    assert t["tokens_per_correct"] == pytest.approx(800 / 3)
    assert t["truncation_rate"] == pytest.approx(1 / 6)
    assert t["accuracy_lost_to_truncation"] == pytest.approx(1 / 6)
    assert t["status_counts"] == {"correct": 3, "wrong_answer": 2, "truncated": 1}
    assert t["accuracy_under_budget"] == pytest.approx(
        {"16": 0, "32": 1 / 6, "64": 1 / 6, "128": 2 / 6, "256": 3 / 6, "400": 3 / 6, "512": 3 / 6})


def test_text_only_source_has_no_token_numbers(summary):
    u = summary["tasks"]["u"]
    assert u["accuracy"] == 1.0 and u["think_rate"] == 0.0
    assert u["accuracy_think_on"] is None and u["accuracy_think_off"] is None
    assert u["mean_completion_tokens"] is None and u["tokens_per_correct"] is None
    assert u["accuracy_under_budget"] == {} and u["token_histogram"] is None


def test_overall_and_identity(summary):
    overall = summary["overall"]
    assert overall["samples"] == 8 and overall["problems"] == 4
    assert overall["accuracy"] == pytest.approx(5 / 8)
    assert overall["macro_accuracy"] == pytest.approx(0.75)
    assert overall["mean_completion_tokens"] == pytest.approx(800 / 6)   # known counts only
    assert summary["run"]["fingerprint"] == {"max_tokens": 400, "temperature": 0.6, "top_p": 0.95, "n": 2,
                                             "thinking_budget": None,
                                             "window": "t; u:public_tests_only=True,window=2408-2502"}
    assert summary["notes"] == ["u: private tests are missing (public tests only), so its scores are optimistic"]


@pytest.fixture(scope="module")
def reported(run_dir):
    assert cli(["report", str(run_dir)]) == 0
    return run_dir


def test_report_command_writes_summary_markdown_and_self_contained_html(reported):
    run_dir = reported
    written = json.loads((run_dir / "summary.json").read_text())
    assert written["tasks"]["t"]["accuracy"] == 0.5
    markdown = (run_dir / "report.md").read_text()
    accuracy = markdown[markdown.index("## Accuracy\n"):]
    assert md_cells(accuracy, "t")[:4] == ["t", "3", "2", "50.0%"] and "private tests are missing" in markdown
    assert "![accuracy_under_budget](report_files/accuracy_under_budget.png)" in markdown
    assert (run_dir / "report_files" / "accuracy_under_budget.png").read_bytes().startswith(b"\x89PNG")
    page = (run_dir / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 4
    assert "http://" not in page and "https://" not in page


def test_report_leads_with_the_headline(reported):
    markdown = (reported / "report.md").read_text()
    headline, details = markdown.index("## Headline"), markdown.index("# Details")
    assert headline < markdown.index("![accuracy_vs_tokens]") < details < markdown.index("## Accuracy\n")
    assert md_cells(markdown[headline:], "t") == ["t", "50.0%", md_cells(markdown[details:], "t")[4], "133",
                                                   "50.0%", "3 x 2"]
    page = (reported / "report.html").read_text()
    assert page.index("id='headline'") < page.index("alt='accuracy_vs_tokens'") < page.index("id='details'") \
        < page.index("id='figures'") < page.index("id='samples'")


def test_report_on_an_empty_run_is_a_one_line_error(tmp_path, capsys):
    write_run(tmp_path / "empty", [], run_meta(["t"]))
    assert cli(["report", str(tmp_path / "empty")]) == 2
    assert "no samples stored yet" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install.sh installs it as root)")
def test_report_html_renders_in_headless_chromium(reported, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
                    f"--screenshot={shot}", (reported / "report.html").resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(png) > 50_000   # tables and figures drawn, not a blank page


def test_a_run_past_the_browser_limit_gets_a_note_instead_of_the_browser(run_dir, tmp_path):
    paths = write_report(run_dir, tmp_path / "small-limit", browser_limit=7)
    page = paths["html"].read_text()
    assert "The sample browser is left out: this run has 8 samples" in page and "kt-index" not in page
    assert "--browser-limit 0" in paths["markdown"].read_text()
    assert "kt-index" in write_report(run_dir, tmp_path / "no-limit", browser_limit=None)["html"].read_text()
