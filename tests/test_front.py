"""What a user meets first: `kateval --help` and every command's help (what it does, with an example), `kateval
view`, and output that is quiet by default (`--verbose` shows the libraries' lines)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
import webbrowser
from pathlib import Path

import pytest

from kateval.cli import COMMANDS
from kateval.cli import main as cli
from kateval.quiet import QUIET_ENVIRONMENT
from kateval.report.synthetic import run_meta, sample_record, write_run

REPO = Path(__file__).resolve().parents[1]


def test_top_level_help_says_what_kateval_does_with_examples(capsys):
    with pytest.raises(SystemExit):
        cli(["--help"])
    text = capsys.readouterr().out
    assert "kateval measures how accurate a reasoning LLM is and what it costs in tokens" in text
    assert "examples:" in text and "kateval run --model" in text and "kateval.load_run" in text
    assert all(name in text for name in COMMANDS) and "--verbose" in text


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_help_has_a_description_and_an_example(name, capsys):
    with pytest.raises(SystemExit):
        cli([name, "--help"])
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 8 and not description.startswith("usage")
    examples = text[text.index("examples:"):]
    assert f"kateval {name} " in examples
    assert "--verbose" in text


@pytest.fixture()
def run_dir(tmp_path):
    return write_run(tmp_path / "run", [sample_record("t", "HumanEval/0", i) for i in range(2)], run_meta(["t"]))


def test_view_writes_the_report_and_prints_where_it_is_without_a_display(run_dir, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: pytest.fail("no display: nothing may be opened"))
    assert cli(["view", str(run_dir), "--problem", "t/HumanEval/0", "--sample", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert (run_dir / "report.html").exists() and f"report: {run_dir / 'report.html'}" in out
    assert "report.html#samples?task=t&problem=HumanEval%2F0&sample=1" in out


def test_view_opens_a_browser_where_there_is_a_display(run_dir, monkeypatch, capsys):
    opened = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    assert cli(["view", str(run_dir), "--no-progress"]) == 0
    assert opened == [(run_dir / "report.html").resolve().as_uri()] and "opened" in capsys.readouterr().out


def test_view_refuses_what_is_not_a_run(tmp_path, run_dir, capsys):
    assert cli(["view", str(tmp_path / "nothing")]) == 2
    assert cli(["view", str(run_dir), "--problem", "no-slash"]) == 2
    assert cli(["view", str(run_dir), "--sample", "1"]) == 2
    assert capsys.readouterr().err.count("kateval: error:") == 3


def test_quiet_by_default_hides_library_warnings_but_not_kateval_lines():
    """In a child process: the switches are process-wide."""
    script = textwrap.dedent("""
        import logging, os, sys, warnings
        from kateval.quiet import configure_library_output
        configure_library_output(verbose=sys.argv[1] == "verbose")
        warnings.warn_explicit("a torch deprecation", FutureWarning, "x.py", 1, module="torch.distributed")
        warnings.warn_explicit("kateval's own", UserWarning, "y.py", 1, module="kateval.report")
        logging.getLogger("vllm.engine").warning("vllm internals")
        print(os.environ.get("VLLM_LOGGING_LEVEL"), os.environ.get("TORCH_CPP_LOG_LEVEL"))
    """)
    env = {key: value for key, value in os.environ.items() if key not in QUIET_ENVIRONMENT}
    quiet, verbose = (subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                                     env={**env, "PYTHONPATH": str(REPO)}, check=True)
                      for mode in ("quiet", "verbose"))
    assert quiet.stdout.split() == ["ERROR", "ERROR"]
    assert "torch deprecation" not in quiet.stderr and "vllm internals" not in quiet.stderr
    assert "kateval's own" in quiet.stderr
    assert "torch deprecation" in verbose.stderr and verbose.stdout.split()[0] == "INFO"


@pytest.mark.slow
def test_a_tiny_model_run_prints_only_kateval_lines_and_uses_vllms_supported_input(tmp_path, data_dir):
    pytest.importorskip("vllm")
    from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model

    model = ensure_tiny_model(REPO / DEFAULT_DIR)
    command = [sys.executable, "-m", "kateval", "run", "--model", str(model), "--grammar", "autothink",
               "--max-tokens", "64", "--max-model-len", "2048", "--tasks", "aime24", "--limit", "1",
               "--data-dir", str(data_dir)]
    env = {**{k: v for k, v in os.environ.items() if k not in QUIET_ENVIRONMENT}, "PYTHONPATH": str(REPO)}
    quiet = subprocess.run([*command, "--out", str(tmp_path / "quiet")], capture_output=True, text=True, env=env,
                           timeout=600, check=True)
    assert quiet.stdout.splitlines() == [f"run directory: {tmp_path / 'quiet'}",
                                         f"summary: {tmp_path / 'quiet' / 'summary.json'}"]
    progress = [line for line in quiet.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert progress and all("samples" in line for line in progress), progress   # the progress bar, nothing else
    loud = subprocess.run([*command, "--out", str(tmp_path / "loud"), "--verbose"], capture_output=True, text=True,
                          env=env, timeout=600, check=True)
    assert "INFO" in loud.stdout + loud.stderr                    # vLLM's own lines are there with --verbose
    assert "Passing raw prompts" not in loud.stdout + loud.stderr  # token ids go through vLLM's renderer


def test_a_report_with_empty_plots_warns_nothing_on_the_terminal(tmp_path, data_dir):
    # One sample without token counts: no curve under a token budget, no difficulty levels to compare.
    completions = tmp_path / "completions.jsonl"
    completions.write_text('{"task": "aime24", "problem_id": "2024-I-1", "completion": "The answer is \\\\boxed{204}."}\n')
    out = tmp_path / "scored"
    assert cli(["score", str(completions), "--out", str(out), "--data-dir", str(data_dir), "--no-progress"]) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli(["report", str(out)]) == 0
    assert [str(w.message) for w in caught] == []
