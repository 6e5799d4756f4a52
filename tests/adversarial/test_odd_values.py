"""Any sample is a record: odd text, odd values and worker-killing programs, graded through `kateval score`
(kateval.scoring.score_file), must each become that sample's status; the run finishes, every line is stored
(lone surrogates kept), it can be resumed, and right/wrong controls after the odd sample grade right."""
from __future__ import annotations

import json
import os

import pytest
from redteam import LIMITS, code, fenced

from kateval.completions_io import good_completions
from kateval.grading import grade_completions
from kateval.scoring import score_file
from kateval.store import RunStore, iter_records
from kateval.types import STATUSES

HE_WRONG = "def has_close_elements(numbers, threshold):\n    return False\n"
LCB_FUNC = "class Solution:\n    def removeTrailingZeros(self, num):\n        return {}\n"
MBPP_CALL = "def remove_Occ(s, ch):\n    return {}\n"
PLUS_2 = "def truncate_number(number):\n    return {}\n"
SIMILAR = "def similar_elements(a, b):\n    return {}\n"

ODD_SAMPLES = {
    # text of the completion itself
    "surrogate_in_completion": ("humaneval", "HumanEval/0", "# \ud800 \udfff\n" + HE_WRONG),
    "nul_in_completion": ("humaneval", "HumanEval/0", HE_WRONG + "# \x00\n"),
    "bom_and_carriage_returns": ("humaneval", "HumanEval/0", "\ufeff" + HE_WRONG.replace("\n", "\r")),
    "five_megabyte_completion": ("humaneval", "HumanEval/0", HE_WRONG + ("# " + "x" * 1000 + "\n") * 5000),
    # what the program raises
    "surrogate_in_exception": ("humaneval", "HumanEval/0", HE_WRONG + "raise ValueError('\\ud800 \\udcff')\n"),
    "surrogate_exception_type": ("humaneval", "HumanEval/0",
                                 HE_WRONG + "raise type('E\\udc80', (Exception,), {})('x')\n"),
    "huge_int_in_exception": ("humaneval", "HumanEval/0", HE_WRONG + "raise ValueError(10 ** 5000)\n"),
    "exception_str_returns_non_str": ("humaneval", "HumanEval/0", HE_WRONG + code('''
        class Odd(Exception):
            def __str__(self):
                return 7
        raise Odd()
    ''')),
    "ten_megabyte_exception": ("humaneval", "HumanEval/0", HE_WRONG + "raise ValueError('\\ud800' * (10 << 20))\n"),
    "invalid_utf8_on_stderr": ("humaneval", "HumanEval/0",
                               HE_WRONG + "import os\nos.write(2, b'\\xff\\xfe\\xed\\xa0\\x80' * 1000)\nraise SystemExit(3)\n"),
    # what a functional (call) program returns
    "returns_lone_surrogate": ("livecodebench", "2819", LCB_FUNC.format("'\\ud800' + num")),
    "returns_int_over_4300_digits": ("livecodebench", "2819", LCB_FUNC.format("10 ** 5000")),
    "returns_nan": ("livecodebench", "2819", LCB_FUNC.format("float('nan')")),
    "returns_inf_and_negative_zero": ("livecodebench", "2819", LCB_FUNC.format("[float('inf'), -0.0, 1e308 * 10]")),
    "returns_nested_110": ("livecodebench", "2819", "import functools\n" + LCB_FUNC.format(
        "functools.reduce(lambda acc, _: [acc], range(110), [])")),
    "returns_nested_3000": ("livecodebench", "2819", "import functools, sys\nsys.setrecursionlimit(100000)\n" +
                            LCB_FUNC.format("functools.reduce(lambda acc, _: [acc], range(3000), [])")),
    "returns_odd_containers": ("livecodebench", "2819", LCB_FUNC.format(
        "[{1: 'a', True: 'b'}, {float('nan')}, b'\\xff\\xfe', 2j, frozenset({(1, 2)}), (None,)]")),
    "returns_huge_string": ("livecodebench", "2819", LCB_FUNC.format("'7' * (50 << 20)")),
    "mbpp_returns_surrogate": ("mbpp", "11", MBPP_CALL.format("s + '\\udcff'")),
    "mbpp_returns_huge_int": ("mbpp", "11", MBPP_CALL.format("10 ** 5000")),
    # what an evalplus function returns, compared in the parent with evalplus's rules (np.allclose, oracles)
    "plus_returns_huge_int": ("humaneval_plus", "HumanEval/2", PLUS_2.format("10 ** 5000")),
    "plus_returns_numpy_array": ("humaneval_plus", "HumanEval/2", "import numpy\n" + PLUS_2.format(
        "numpy.array([[number], [number]])")),
    "plus_returns_nan_and_surrogate": ("humaneval_plus", "HumanEval/2", PLUS_2.format(
        "float('nan') if number > 1 else '\\ud800'")),
    "plus_returns_nested": ("humaneval_plus", "HumanEval/2", "import functools\n" + PLUS_2.format(
        "functools.reduce(lambda acc, _: [acc], range(99), number)")),
    "plus_set_oracle_gets_odd_values": ("mbpp_plus", "Mbpp/2", SIMILAR.format("10 ** 5000 if len(a) > 3 else [[1], {'x': 1}]")),
    # what a stdin/stdout program prints
    "prints_snan": ("livecodebench", "abc320_a", "print('sNaN')\n"),
    "prints_nan_variants": ("livecodebench", "abc320_a", "print('NaN -sNaN Infinity -0 1e999999999 0E-1000000000')\n"),
    "prints_invalid_utf8": ("livecodebench", "abc320_a", "import os\nos.write(1, b'\\xff\\xfe\\xed\\xa0\\x80\\n')\n"),
    "prints_surrogate_bytes": ("livecodebench", "abc320_a",
                               "import os\nos.write(1, '\\ud800\\n'.encode('utf-8', 'surrogatepass'))\n"),
    "prints_int_over_4300_digits": ("livecodebench", "abc320_a",
                                    "import sys\nsys.set_int_max_str_digits(0)\nprint(10 ** 5000)\n"),
    "prints_nul_bytes": ("livecodebench", "abc320_a", "print('3\\x0020')\n"),
    "prints_ten_megabytes": ("livecodebench", "abc320_a", "print('9' * (10 << 20))\n"),
    "exits_with_odd_codes": ("livecodebench", "abc320_a", "import sys\nsys.exit(2 ** 100)\n"),
    "exits_with_a_string": ("livecodebench", "abc320_a", "import sys\nsys.exit('\\ud800')\n"),
    # raw bytes on every descriptor: whatever reads them (a judge, the server, the parent) must decode strictly
    "nasty_frames_on_every_fd": ("humaneval", "HumanEval/0", code(r'''
        import os, struct
        BODIES = [b"v" + b"1" * 5000, b"v" + b"[" * 100000 + b"]" * 100000, b"vNaN", b'v"\\ud800"', b"v\xff\xfe",
                  b'v{"I": "' + b"f" * 200000 + b'"}', b'v{"H": 999999999}', b'v{"D": [[[1], 2]]}', b'v{"S": [[1]]}',
                  b'v{"A": ["float64", [99999999, 99999999], []]}', b'v{"N": ["object", 1]}', b"l" + b'{"ok": true}',
                  b'e["SystemExit", "0"]', b'e["KeyboardInterrupt", ""]', b'e["\\ud800", "\\udcff"]', b""]
        for fd in range(0, 64):
            for body in BODIES:
                for header in (struct.pack(">I", len(body)), struct.pack(">I", 0xFFFFFFFF), b""):
                    try:
                        os.set_blocking(fd, False)
                        os.write(fd, header + body)
                    except OSError:
                        pass
    ''') + HE_WRONG),
    # killing the worker
    "kills_every_process": ("humaneval", "HumanEval/0", "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + HE_WRONG),
    "kills_its_parent": ("livecodebench", "abc320_a", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
}

RIGHT = {
    "humaneval": None,   # the task's reference program
    "mbpp": None,
    "humaneval_plus": None,
    "mbpp_plus": None,
    "livecodebench": {"abc320_a": "a, b = map(int, input().split())\nprint(a ** b + b ** a)\n",
                      "2819": "class Solution:\n    def removeTrailingZeros(self, num):\n        return num.rstrip('0')\n"},
}
WRONG = {"HumanEval/0": HE_WRONG, "11": MBPP_CALL.format("s"), "HumanEval/2": PLUS_2.format("0.0"),
         "Mbpp/2": SIMILAR.format("(0,)"),
         "abc320_a": "a, b = map(int, input().split())\nprint(a * b)\n", "2819": LCB_FUNC.format("num")}


def line(task: str, problem_id: str, index: int, program: str) -> str:
    return json.dumps({"task": task, "problem_id": problem_id, "sample_index": index, "completion": fenced(program)})


def samples_file(path, odd_names, tasks) -> tuple[list[str], dict]:
    """Each odd sample, then a right and a wrong control of the same problem (graded after it)."""
    lines, expect = [], {}
    for index, name in enumerate(odd_names):
        task, problem_id, program = ODD_SAMPLES[name]
        right = (RIGHT[task] or {}).get(problem_id) or tasks[task].adapter.reference_program(tasks[task].by_id[problem_id])
        for offset, (kind, text) in enumerate((("odd", program), ("right", right), ("wrong", WRONG[problem_id]))):
            sample_index = 3 * index + offset
            lines.append(line(task, problem_id, sample_index, text))
            expect[(task, problem_id, sample_index)] = (name, kind, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines, expect


def check_run(out, expect) -> list[str]:
    records = {(r["task"], r["problem_id"], r["sample_index"]): r for r in iter_records(out)}
    problems = [f"no record for {key}" for key in expect if key not in records]
    for key, record in records.items():
        name, kind, text = expect[key]
        if record["status"] not in STATUSES:
            problems.append(f"{name}/{kind}: unknown status {record['status']!r}")
        if kind == "odd" and record["correct"]:
            problems.append(f"{name}: an odd wrong program passed")
        if kind == "right" and not record["correct"]:
            problems.append(f"{name}: the right control after it was graded {record['status']} {record['grade_details']}")
        if kind == "wrong" and record["correct"]:
            problems.append(f"{name}: the wrong control after it passed")
        if record["completion"] != fenced(text):
            problems.append(f"{name}/{kind}: the stored completion differs from the input (surrogates dropped?)")
    return problems


@pytest.mark.parametrize("name", sorted(ODD_SAMPLES))
def test_one_odd_sample_is_one_record(name, tasks, sandbox, tmp_path):
    """What `kateval score` does with one batch (grade it, append its records to the store), on one worker:
    the odd sample, then a right and a wrong control of the same problem."""
    samples = tmp_path / "samples.jsonl"
    _, expect = samples_file(samples, [name], tasks)
    completions, bad = good_completions(samples)
    assert bad == 0
    store = RunStore(tmp_path / "run")
    store.run_dir.mkdir()
    store.append(grade_completions(tasks[completions[0].task], completions, None, sandbox))
    assert check_run(store.run_dir, expect) == []


def test_a_sample_that_kills_every_worker_is_graded_and_the_run_goes_on(tasks, data_dir, tmp_path):
    """Three killers in a row, each killing the worker it runs on (every try), then the controls."""
    names = ["kills_every_process", "kills_every_process", "kills_its_parent"]
    samples = tmp_path / "samples.jsonl"
    _, expect = samples_file(samples, names, tasks)
    out, bad = score_file(samples, tmp_path / "run", data_dir=str(data_dir), workers=1, exec_limits=LIMITS,
                          show_progress=False)
    assert bad == 0 and check_run(out, expect) == []


@pytest.mark.slow
def test_a_run_of_odd_samples_finishes_and_resumes(tasks, data_dir, tmp_path):
    """All of them in one file, one worker: the run ends, every line is a record, and a second `score` of the
    same run (the resume) neither crashes nor grades anything again."""
    samples = tmp_path / "samples.jsonl"
    lines, expect = samples_file(samples, sorted(ODD_SAMPLES), tasks)
    out, bad = score_file(samples, tmp_path / "run", data_dir=str(data_dir), workers=1, exec_limits=LIMITS,
                          show_progress=False)
    assert bad == 0 and check_run(out, expect) == []
    stored = (out / "samples.jsonl").read_bytes()
    score_file(samples, out, data_dir=str(data_dir), workers=1, exec_limits=LIMITS, show_progress=False)
    assert (out / "samples.jsonl").read_bytes() == stored
    assert len(stored.splitlines()) == len(lines)
    # and what reads the store afterwards (the report) takes every one of those records
    report = cli("report", str(out), "--out", str(tmp_path / "report"), "--no-progress")
    assert report.returncode == 0, report.stderr[-2000:]


def cli(*args: str):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "kateval", *args], capture_output=True, text=True, timeout=600,
                          check=False, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})


def test_kateval_score_command_takes_the_worst_samples(tasks, data_dir, tmp_path):
    """The command line, as a user runs it: exit status 0, one record per line."""
    names = ["surrogate_in_completion", "returns_int_over_4300_digits", "prints_snan", "returns_lone_surrogate",
             "nasty_frames_on_every_fd"]
    samples = tmp_path / "samples.jsonl"
    _, expect = samples_file(samples, names, tasks)
    done = cli("score", str(samples), "--out", str(tmp_path / "run"), "--data-dir", str(data_dir), "--workers", "1",
               "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert check_run(tmp_path / "run", expect) == []
