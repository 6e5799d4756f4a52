"""Turning the servers' frames into an ExecResult, in the trusted parent.

A program's answers arrive as raw frames: a status byte and JSON it wrote itself. They are decoded here with
protocol.decode (exact built-in types, bounded depth); anything else (bad bytes, bad JSON, a subclass, a handle)
makes that test an error, never an exception. The runner's own messages say how the program's process ended and
which limit stopped it; a judge's reports say which of the data's tests ran to the end.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kateval.sandbox import protocol
from kateval.types import ExecJob, ExecResult, TestOutcome

LIMIT_STATUSES = ("timeout", "memory", "output_limit")


@dataclass
class Collected:
    """What one job's frames said, in the shape every job kind shares."""
    load: tuple[bool, str | None, bool] | None = None     # (loaded, error, it was a MemoryError)
    tests: dict[int, TestOutcome] = field(default_factory=dict)
    ended: str | None = None       # how the program's process ended before its job was over
    stopped: str | None = None     # the limit (or sandbox_error) that ended the job
    error: str | None = None
    cpu_s: float = 0.0
    wall_s: float = 0.0
    reports: list[dict[str, Any]] = field(default_factory=list)   # a judge's, in order
    premature: bool = False        # the program's process was lost before its job was over
    answers: dict[int, bytes] = field(default_factory=dict)      # a call job's raw answers (for a replay)
    load_report: Any = None        # the program's own load report, as it wrote it

def _text(value: Any, limit: int = protocol.ERROR_CHARS) -> str:
    return value[:limit] if type(value) is str else ""


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) and value >= 0 else 0.0


def answer_outcome(raw: bytes, cpu_s: float) -> TestOutcome:
    """A call job's answer: `v` and the value, or `e` and [exception type, message]."""
    kind, body = raw[:1], raw[1:]
    try:
        message = protocol.loads(body)
        if kind == b"v":
            return TestOutcome("ok", protocol.decode(message), None, cpu_s)
        if kind == b"e" and type(message) is list and len(message) == 2 and all(type(p) is str for p in message):
            name, text = message
            status = {"MemoryError": "memory", "OutputLimit": "output_limit"}.get(name, "error")
            return TestOutcome(status, None, f"{name[:100]}: {text[:protocol.ERROR_CHARS]}", cpu_s)
    except ValueError as exc:
        return TestOutcome("error", None, f"the program's answer is not plain data ({exc})", cpu_s)
    return TestOutcome("error", None, "the program's answer is malformed", cpu_s)


def load_report(message: Any) -> tuple[bool, str | None, bool]:
    """A program's load report (as _raw_load read it): (loaded, error, it was a MemoryError)."""
    if type(message) is not dict or type(message.get("ok")) is not bool:
        return False, "the program's load report is malformed", False
    if message["ok"]:
        return True, None, False
    error = message.get("error")
    text = f"{_text(error[0], 100)}: {_text(error[1])}" if type(error) is list and len(error) == 2 else "load failed"
    return False, text, message.get("memory") is True


def split_bulk(event: dict[str, Any], raw: bytes) -> list[tuple[dict[str, Any], bytes | None]]:
    """A bulk frame's events, each with its slice of the raw bytes that followed it."""
    items, sizes = event.get("bulk"), event.get("sizes")
    if type(items) is not list or type(sizes) is not list or len(items) != len(sizes):
        raise ValueError("malformed bulk event")
    if any(type(size) is not int or size < -1 for size in sizes) or sum(max(0, s) for s in sizes) != len(raw):
        raise ValueError("malformed bulk sizes")
    pieces, offset = [], 0
    for item, size in zip(items, sizes):
        if type(item) is not dict:
            raise ValueError("malformed bulk event")
        pieces.append((item, None if size < 0 else raw[offset:offset + size]))
        offset += max(0, size)
    return pieces


def collect_event(collected: Collected, job: ExecJob, event: dict[str, Any], raw: bytes | None) -> bool:
    """Add one server event; True once the job's end has arrived."""
    if event.get("end"):
        stopped = event.get("stopped")
        collected.stopped = stopped if stopped in (*LIMIT_STATUSES, "sandbox_error") else None
        collected.error = _text(event.get("error")) or None
        collected.cpu_s, collected.wall_s = _number(event.get("cpu_s")), _number(event.get("wall_s"))
        return True
    if event.get("load") and raw is not None:
        collected.load_report = _raw_load(raw)
        collected.load = load_report(collected.load_report)
    elif event.get("report") and raw is not None:
        try:
            report = protocol.loads(raw)
        except ValueError:
            report = {"setup_error": "the judge's report is unreadable"}
        collected.reports.append(report if type(report) is dict else {"setup_error": "malformed judge report"})
    elif "ended" in event:
        stderr = _text(event.get("stderr"), 1000)
        collected.ended = _text(event.get("error")) + (f"\n{stderr}" if stderr else "")
    elif type(event.get("test")) is int:
        collected.tests[event["test"]] = _test_outcome(job, event, raw)
        if raw is not None:
            collected.answers[event["test"]] = raw
    return False


def _raw_load(raw: bytes) -> Any:
    try:
        return protocol.loads(raw[1:]) if raw[:1] == b"l" else None
    except ValueError:
        return None


def replay_answers(ran: Collected, count: int) -> list[list[str]]:
    """What a judge replays, call by call: the program's raw answer (its bytes as latin-1 text, decoded only
    there), or why there is none (the limit that stopped it, or how its process ended)."""
    answers = []
    for index in range(count):
        if index in ran.answers:
            answers.append(["raw", ran.answers[index].decode("latin-1")])
        elif index in ran.tests:
            outcome = ran.tests[index]
            answers.append(["lost", f"{outcome.status}: {outcome.error}"])
        else:
            answers.append(["lost", ran.error or ran.ended or "the program stopped before this call"])
    return answers


def assemble_record(job: ExecJob, judged: Collected) -> ExecResult:
    """A trusted check job: how the data's own solution fared on its tests, each outcome holding the plan (the
    calls the tests made of it, or None when they cannot be replayed)."""
    if judged.stopped is not None:
        return ExecResult("sandbox_error", (), judged.error, judged.wall_s)
    done = [report for report in judged.reports if report.get("done")]
    plan = done[0].get("plan") if done else None
    plan = tuple(plan) if type(plan) is list and all(type(call) is str for call in plan) else None
    outcomes = []
    for report in judged.reports:
        if type(report.get("test")) is int:
            ok = report.get("status") == "ok"
            outcomes.append(TestOutcome("ok" if ok else "error", plan, None if ok else _text(report.get("error"))))
        elif report.get("load") == "error" or "setup_error" in report or "lost" in report:
            return ExecResult("runtime_error", (), _text(report.get("error") or report.get("setup_error")
                                                         or report.get("lost")), judged.wall_s)
    return ExecResult("completed", tuple(outcomes), None, judged.wall_s)


def _test_outcome(job: ExecJob, event: dict[str, Any], raw: bytes | None) -> TestOutcome:
    status, cpu_s = event.get("status"), _number(event.get("cpu_s"))
    if job.kind == "stdio":
        stdout = None if raw is None else raw.decode("utf-8", "replace")
        status = status if status in ("ok", "error", *LIMIT_STATUSES) else "error"
        return TestOutcome(status, stdout, None if status == "ok" else _text(event.get("error")) or status, cpu_s)
    if status == "ok" and raw is not None:
        return answer_outcome(raw, cpu_s)
    status = status if status in LIMIT_STATUSES else "error"
    return TestOutcome(status, None, _text(event.get("error")) or status, cpu_s)


def check_collected(judged: Collected, ran: Collected) -> Collected:
    """A check job's two halves as one: the judge's reports decide the tests; the runner says why the program
    stopped answering when it did."""
    merged = Collected(ended=ran.ended, stopped=ran.stopped, error=ran.error, cpu_s=ran.cpu_s,
                       wall_s=max(judged.wall_s, ran.wall_s))
    if judged.stopped is not None or ran.stopped == "sandbox_error":
        merged.stopped, merged.error = "sandbox_error", "the judge failed: " + (judged.error or ran.error or "")
        return merged
    for report in judged.reports:
        if "setup_error" in report:
            merged.stopped, merged.error = "sandbox_error", "the data's test code failed: " + _text(
                report["setup_error"])
            return merged
        if report.get("load") == "ok":
            merged.load = (True, None, False)
        elif report.get("load") == "error":
            merged.load = (False, _text(report.get("error")) or "load failed", report.get("memory") is True)
        elif "lost" in report:
            merged.tests[len(merged.tests)] = lost_outcome(_text(report["lost"]), ran)
            merged.premature = True
        elif type(report.get("test")) is int:
            merged.tests[report["test"]] = _judged_test(report, ran)
            merged.premature = merged.premature or report.get("status") == "lost"
    if merged.load is None and not merged.tests:
        merged.ended = merged.ended or "the program did not load"
    return merged


def _judged_test(report: dict[str, Any], ran: Collected) -> TestOutcome:
    status, error = report.get("status"), _text(report.get("error"))
    if status == "ok":
        return TestOutcome("ok")
    if status == "lost":
        return lost_outcome(error, ran)
    return TestOutcome("error", None, error or "the test failed")


def lost_outcome(error: str, ran: Collected) -> TestOutcome:
    """The program stopped answering in the middle of a test: the runner knows why."""
    if ran.stopped in LIMIT_STATUSES:
        return TestOutcome(ran.stopped, None, ran.error or ran.stopped)
    for prefix, status in (("MemoryError", "memory"), ("OutputLimit", "output_limit")):
        if error.startswith(prefix):
            return TestOutcome(status, None, error)
    why = f" ({ran.ended.splitlines()[0]})" if ran.ended else ""
    return TestOutcome("error", None, (error + why)[:protocol.ERROR_CHARS])


def assemble(job: ExecJob, collected: Collected) -> ExecResult:
    stopped, cpu_s, wall_s = collected.stopped, round(collected.cpu_s, 4), round(collected.wall_s, 4)
    if stopped == "sandbox_error":
        return ExecResult("sandbox_error", (), collected.error, wall_s, cpu_s)
    if job.kind != "stdio":
        if collected.load is None and not collected.tests:
            why = collected.error if stopped else collected.ended or "the program did not load"
            status = stopped if stopped in ("timeout", "memory") else "runtime_error"
            return ExecResult(status, (), f"while loading the code: {why}", wall_s, cpu_s)
        if collected.load is not None and not collected.load[0]:
            return ExecResult("memory" if collected.load[2] else "runtime_error", (), collected.load[1], wall_s, cpu_s)
    tests = []
    for index in range(len(job.tests)):
        if index not in collected.tests:
            break
        tests.append(collected.tests[index])
        if job.stop_on_failure and tests[-1].status != "ok":
            break
    stopped_early = job.stop_on_failure and bool(tests) and tests[-1].status != "ok"
    premature = collected.premature
    if len(tests) < len(job.tests) and not stopped_early:
        premature = True
        if stopped in LIMIT_STATUSES:
            tests.append(TestOutcome(stopped, None, collected.error or stopped))
        else:
            tests.append(TestOutcome("error", None, collected.ended or "the program stopped before this test"))
    return ExecResult(job_status(tests, premature), tuple(tests), None, wall_s, cpu_s)


def job_status(tests: list[TestOutcome], premature: bool) -> str:
    """timeout or memory when a test hit that limit; runtime_error when the program's process did not last to
    the end of its job (or flooded its output); else completed (failed tests included)."""
    for status in ("timeout", "memory"):
        if any(t.status == status for t in tests):
            return status
    if premature or any(t.status == "output_limit" for t in tests):
        return "runtime_error"
    return "completed"
