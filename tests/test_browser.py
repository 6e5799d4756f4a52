"""The sample browser in report.html, driven in a real headless Chromium (selenium + Debian's chromium-driver):
filters change the visible rows, a sample opens with its segments marked, and the links that compare and audit
write land on the right samples."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kateval.cli import main as cli
from kateval.parse import parse_output
from kateval.report.browser import sample_href
from kateval.report.run_report import write_report
from kateval.report.synthetic import run_meta, sample_record, write_run
from kateval.store import RunStore
from kateval.types import Prompt

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="chromium and chromium-driver are not installed (scripts/install.sh, as root)")

R = sample_record
THINKING = ("This one needs care.\n</judge>\n<think_on><think>\nLet me think 😀 about 𝑥 first.\n</think>\n"
            "<answer>\nSo the answer is \\boxed{42}.\n</answer>")
DIRECT = "Easy.\n</judge>\n<think_off><answer>\nThe answer is \\boxed{7}.\n</answer>"
HOSTILE = ("Fine.\n</judge>\n<think_off><answer>\n</script><script>window.pwned = 1</script>"
           "<img src=x onerror='window.pwned = 2'>\n</answer>")
CUT = "Hard.\n</judge>\n<think_on><think>\nkeep going and going"
PROGRAM = "Code.\n</judge>\n<think_off><answer>\n```python\ndef add(a, b):\n    return a - b\n```\n</answer>"


def records(shift: int = 0) -> list[dict]:
    """Math task m (p0..p3) and code task c (q0); `shift` flips which of p0/p1 is solved (for compare)."""
    return [
        R("m", "p0", 0, mode="on", completion=THINKING, prefix="<judge>\n", completion_tokens=300, think_tokens=200,
          correct=shift == 0, status="correct" if shift == 0 else "wrong_answer", extracted_answer="42"),
        R("m", "p0", 1, mode="off", completion=DIRECT, prefix="<judge>\n", completion_tokens=40, think_tokens=0,
          correct=False, status="wrong_answer", extracted_answer="7"),
        R("m", "p1", 0, mode="off", completion=DIRECT, prefix="<judge>\n", completion_tokens=41, think_tokens=0,
          correct=shift == 1, status="correct" if shift == 1 else "wrong_answer", extracted_answer="7"),
        R("m", "p2", 0, mode="off", completion=HOSTILE, prefix="<judge>\n", completion_tokens=55, think_tokens=0,
          correct=False, status="no_answer", extracted_answer=None, well_formed=False),
        R("m", "p3", 0, mode="on", completion=CUT, prefix="<judge>\n", completion_tokens=999, think_tokens=990,
          correct=False, status="truncated", truncated=True, finish_reason="length", extracted_answer=None),
        R("c", "q0", 0, mode="off", completion=PROGRAM, prefix="<judge>\n", completion_tokens=60, think_tokens=0,
          correct=False, status="wrong_answer", extracted_answer="def add(a, b):\n    return a - b",
          grade_details={"tests": 3, "failed_test": "assert add(1, 2) == 3", "error": "AssertionError"}),
    ]


def write_prompts(run_dir: Path) -> None:
    store = RunStore(run_dir)
    store.add_prompts((task, pid, Prompt(messages=({"role": "user", "content": f"Solve {pid} of {task}."},)))
                      for task, pid in [("m", "p0"), ("m", "p1"), ("m", "p2"), ("m", "p3"), ("c", "q0")])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    out = {}
    for name, shift in (("a", 0), ("b", 1)):
        out[name] = write_run(root / name, records(shift), run_meta(["m", "c"], sampling={"n": 1}))
        write_prompts(out[name])
        write_report(out[name])
    return out


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait(driver, condition, seconds: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda d: condition(d))


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.getElementById('kt-browser').dataset.ready"))


def visible(driver) -> list[tuple[str, str, str]]:
    """(task, problem, sample index) of the rows shown."""
    rows = driver.execute_script("return Array.from(document.querySelectorAll('.kt-list tbody tr')).map("
                                 "r => Array.from(r.cells).slice(0, 3).map(c => c.textContent))")
    return [tuple(row) for row in rows]


def set_filter(driver, name: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    box = driver.find_element(By.CSS_SELECTOR, f"[data-filter='{name}']")
    if box.tag_name == "select":
        Select(box).select_by_visible_text(text)
    else:   # typed, so the page sees input events (clear() alone fires none)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        if text:
            box.send_keys(text)


def opened(driver) -> str:
    return wait(driver, lambda d: d.execute_script(
        "const h = document.querySelector('.kt-detail h3'); return h && h.dataset.sample"))


FILTERED = [   # (filters as the page shows them, the rows left: problem ids in run order)
    ({"mode": "on"}, ["p0", "p3"]),
    ({"mode": "on", "truncated": "yes"}, ["p3"]),
    ({"task": "c"}, ["q0"]),
    ({"well": "no"}, ["p2"]),
    ({"status": "wrong_answer"}, ["p0", "p1", "q0"]),
    ({"result": "right"}, ["p0"]),
    ({"problem": "p1"}, ["p1"]),
    ({"problem": "q"}, ["q0"]),                         # not an id: matched as a part of one
    ({"sort": "tokens, most first"}, ["p3", "p0", "q0", "p2", "p1", "p0"]),
    ({"search": "return a - b"}, ["q0"]),               # searched in the inflated completion texts
]


@pytest.mark.parametrize(("filters", "rows"), FILTERED)
def test_filters_change_the_visible_rows(runs, browser, filters, rows):
    open_page(browser, runs["a"].joinpath("report.html").resolve().as_uri())
    assert len(visible(browser)) == 6
    for name, value in filters.items():
        set_filter(browser, name, value)
    wait(browser, lambda d: [problem for _, problem, _ in visible(d)] == rows)


def segment_texts(driver) -> dict[str, list[str]]:
    return driver.execute_script(
        "const out = {}; for (const s of document.querySelectorAll('.kt-detail .kt-text .kt-seg')) {"
        "(out[s.dataset.kind] = out[s.dataset.kind] || []).push(s.textContent) } return out")


def test_a_sample_opens_with_its_segments_marked(runs, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, runs["a"].joinpath("report.html").resolve().as_uri())
    browser.find_element(By.CSS_SELECTOR, ".kt-list tbody tr[data-index='0']").click()
    assert opened(browser) == "m/p0/0"
    expected = {}
    for segment in parse_output(THINKING, "<judge>\n").segments:
        if segment.kind != "other" or THINKING[segment.start:segment.end].strip():
            expected.setdefault(segment.kind, []).append(THINKING[segment.start:segment.end])
    marked = segment_texts(browser)
    assert marked == expected and "😀" in marked["think"][0] and "𝑥" in marked["think"][0]
    assert {"judge", "think", "answer"} <= set(marked)
    detail = browser.find_element(By.CSS_SELECTOR, ".kt-detail").text
    assert "Solve p0 of m." in browser.execute_script(
        "return document.querySelector('.kt-detail details').textContent")
    assert "correct (right)" in detail and "300" in detail and "42" in detail
    prefix = browser.execute_script("return document.querySelector('.kt-detail .kt-prefix').textContent")
    assert prefix == "<judge>\n"


def test_code_sample_shows_its_failing_test_and_model_text_stays_text(runs, browser):
    open_page(browser, sample_href(runs["a"].joinpath("report.html").resolve().as_uri(), "c", "q0", 0))
    assert opened(browser) == "c/q0/0"
    grade = browser.execute_script("return document.querySelector('.kt-detail .kt-grade').textContent")
    assert "assert add(1, 2) == 3" in grade and "AssertionError" in grade
    open_page(browser, sample_href(runs["a"].joinpath("report.html").resolve().as_uri(), "m", "p2"))
    assert opened(browser) == "m/p2/0"
    assert "</script><script>window.pwned = 1</script>" in segment_texts(browser)["answer"][0]
    assert browser.execute_script("return window.pwned === undefined && !document.querySelector('.kt-detail img')")


def links(driver, page: Path) -> dict[str, str]:
    driver.get(page.resolve().as_uri())
    return driver.execute_script("const out = {}; for (const a of document.querySelectorAll('td a')) "
                                 "out[a.closest('tr').cells[0].textContent + ' ' + a.textContent] = a.href; return out")


def test_compare_links_land_on_the_flipped_problems_samples(runs, browser, tmp_path):
    out = tmp_path / "reports" / "a-vs-b"
    assert cli(["compare", str(runs["a"]), str(runs["b"]), "--out", str(out), "--no-progress"]) == 0
    hrefs = links(browser, out.with_suffix(".html"))
    assert set(hrefs) == {"m run A", "m run B"}   # p0 (lost) and p1 (gained): the rows start with the task
    rows = browser.execute_script("return Array.from(document.querySelectorAll('td a')).map("
                                  "a => [a.closest('tr').cells[1].textContent, a.textContent, a.href])")
    for problem, side, href in rows:
        open_page(browser, href)
        assert opened(browser) == f"m/{problem}/0"
        assert visible(browser) == [("m", problem, "0")]
        assert browser.current_url.startswith(runs[side[-1].lower()].joinpath("report.html").resolve().as_uri())


def test_audit_links_land_on_needless_and_missed_thinking(tmp_path, browser):
    def run(name: str, mode: str, correct: dict[str, bool], think: dict[str, bool]) -> Path:
        rows = [R("m", pid, 0, mode="on" if think[pid] else "off", correct=correct[pid],
                  status="correct" if correct[pid] else "wrong_answer", completion=THINKING if think[pid] else DIRECT,
                  prefix="<judge>\n") for pid in ("easy", "hard")]
        return write_run(tmp_path / name, rows, run_meta(["m"], mode=mode))
    # auto thinks on "easy" (off solves it: needless) and not on "hard" (only on solves it: missed)
    runs = {"auto": run("auto", "auto", {"easy": True, "hard": False}, {"easy": True, "hard": False}),
            "on": run("on", "on", {"easy": True, "hard": True}, {"easy": True, "hard": True}),
            "off": run("off", "off", {"easy": True, "hard": False}, {"easy": False, "hard": False})}
    assert cli(["audit", "--auto", str(runs["auto"]), "--on", str(runs["on"]), "--off", str(runs["off"]),
                "--out", str(tmp_path / "audit")]) == 0
    hrefs = links(browser, tmp_path / "audit" / "audit.html")
    assert {"m/easy auto", "m/hard auto", "m/easy on", "m/hard off"} <= set(hrefs)
    for problem in ("easy", "hard"):
        open_page(browser, hrefs[f"m/{problem} auto"])
        assert opened(browser) == f"m/{problem}/0"
        assert browser.current_url.startswith(runs["auto"].joinpath("report.html").resolve().as_uri())


def test_the_segments_the_grader_stored_are_the_ones_marked(tmp_path, browser):
    text = "first part then the rest"
    stored = [R("m", "s0", 0, completion=text, segments=[["think", 0, 10], ["answer", 10, len(text)],
                                                          ["answer", 5, 999], ["bogus", 0, 3]])]
    run = write_run(tmp_path / "stored", stored, run_meta(["m"]))
    write_report(run)
    open_page(browser, sample_href(run.joinpath("report.html").resolve().as_uri(), "m", "s0", 0))
    assert opened(browser) == "m/s0/0"
    assert segment_texts(browser) == {"think": ["first part"], "answer": [" then the rest"]}   # nonsense dropped


def test_a_scored_run_shows_the_tasks_prompt_marked_as_such(tmp_path, browser, data_dir):
    completions = tmp_path / "completions.jsonl"
    completions.write_text('{"task": "aime24", "problem_id": "2024-I-1", "completion": "The answer is \\\\boxed{204}."}\n')
    assert cli(["score", str(completions), "--out", str(tmp_path / "scored"), "--data-dir", str(data_dir),
                "--no-progress"]) == 0
    write_report(tmp_path / "scored")
    open_page(browser, sample_href((tmp_path / "scored" / "report.html").resolve().as_uri(), "aime24", "2024-I-1"))
    assert opened(browser) == "aime24/2024-I-1/0"
    prompt = browser.execute_script("return document.querySelector('.kt-detail .kt-prompt').textContent")
    assert "made elsewhere" in prompt and "Aya" in prompt   # the AIME 2024 I-1 statement
