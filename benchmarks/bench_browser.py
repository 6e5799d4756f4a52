"""The sample browser at scale: report.html of a 100,000-sample run, opened in headless Chromium (selenium).

A synthetic run (kateval.report.synthetic, text="words": KAT-style completions of word-like text that gzip
compresses about 3x, like model output) is reported with `kateval report`; then, in one Chromium:

  open       ms from navigation start until the browser's first page of rows is drawn (the page sets
             data-ready), best of --rounds loads; the file's size
  filter     ms to re-filter all samples on a change of the mode select (synchronous in the page)
  sort       ms to sort all samples by tokens
  sample     ms to open a sample whose text chunk was not inflated yet (the last sample)
  search     ms for a text search through every completion (every chunk inflated)

Baselines in the same run: the same report without the sample browser (what the page cost before), and the
naive browser that parses every sample's text at load (one JSON array in the page).

    .venv/bin/python benchmarks/bench_browser.py [--samples 100000] [--completion-chars 1000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kateval.report import plots
from kateval.report.render import to_html
from kateval.report.run_report import report_document, write_report
from kateval.report.summary import summarize
from kateval.report.synthetic import random_records, run_meta, write_run
from kateval.store import iter_records


def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def load_ms(browser, page: Path, marker: str) -> float:
    """ms from navigation start to `marker` (a JS expression giving a number once the page is ready)."""
    browser.get("about:blank")
    browser.get(page.resolve().as_uri())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        value = browser.execute_script(f"return {marker}")
        if value:
            return float(value)
        time.sleep(0.05)
    raise TimeoutError(f"{page} never became ready")


def naive_page(run_dir: Path, path: Path) -> Path:
    """Every sample's fields and text in one JSON array, parsed at load: the design the browser avoids."""
    data = json.dumps(list(iter_records(run_dir))).replace("<", "\\u003c")
    path.write_text(f"<!DOCTYPE html><html><body><div id='x'></div>"
                    f"<script type='application/json' id='d'>{data}</script><script>"
                    "const samples = JSON.parse(document.getElementById('d').textContent);"
                    "document.getElementById('x').textContent = samples.length;"
                    "document.body.dataset.ready = String(performance.now());</script></body></html>",
                    encoding="utf-8")
    return path


def interactions(browser) -> dict[str, float]:
    timed = browser.execute_script("""
        const time = (f) => { const t = performance.now(); f(); return performance.now() - t; };
        const pick = (name, value) => { const box = document.querySelector(`[data-filter='${name}']`);
                                        box.value = value; box.dispatchEvent(new Event('change')); };
        return {filter: time(() => pick('mode', '0')), sort: time(() => pick('sort', 'tokens-desc')),
                reset: time(() => { pick('mode', ''); pick('sort', 'file'); })};""")
    started = time.perf_counter()
    browser.execute_script("location.hash = '#samples?' + new URLSearchParams({task: 'lcb', problem: "
                           "arguments[0]})", browser.execute_script(
                               "const I = JSON.parse(document.getElementById('kt-index').textContent);"
                               "return I.problems.id[I.samples.p[I.samples.p.length - 1]]"))
    while not browser.execute_script("const h = document.querySelector('.kt-detail h3'); return h && "
                                     "h.dataset.sample.startsWith('lcb/')"):
        time.sleep(0.01)
    timed["sample"] = (time.perf_counter() - started) * 1000
    browser.execute_script("location.hash = ''; const box = document.querySelector(\"[data-filter='problem']\");"
                           "box.value = ''; box.dispatchEvent(new Event('input'));")
    started = time.perf_counter()
    browser.execute_script("const box = document.querySelector(\"[data-filter='search']\");"
                           "box.value = 'kaonquan'; box.dispatchEvent(new Event('input'));")
    time.sleep(0.3)   # the page waits 250 ms after the last key before searching
    while browser.execute_script("return document.querySelector('.kt-busy').textContent !== ''"):
        time.sleep(0.02)
    timed["search"] = (time.perf_counter() - started) * 1000 - 250
    timed["search_hits"] = browser.execute_script("return document.querySelector('.kt-count').textContent")
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--completion-chars", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
        print("bench_browser: chromium and chromium-driver are needed (scripts/install.sh as root)", file=sys.stderr)
        sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="kateval-bench-browser-") as workdir:
        run_dir = write_run(Path(workdir) / "run", random_records(args.samples, completion_chars=args.completion_chars,
                                                                   text="words"),
                            run_meta(["aime24", "lcb"], sampling={"n": 8, "max_tokens": 16384}))
        started = time.perf_counter()
        page = write_report(run_dir)["html"]
        report_s = time.perf_counter() - started
        plain = Path(workdir) / "plain.html"
        summary = summarize(run_dir)
        plain.write_text(to_html(report_document(summary, plots.figures(summary))), encoding="utf-8")
        naive = naive_page(run_dir, Path(workdir) / "naive.html")
        mib = lambda path: path.stat().st_size / 2**20
        print(f"{args.samples:,} samples, samples.jsonl {mib(run_dir / 'samples.jsonl'):,.0f} MiB; "
              f"kateval report {report_s:.1f} s; report.html {mib(page):,.1f} MiB "
              f"(without the browser {mib(plain):,.2f} MiB; naive page {mib(naive):,.0f} MiB)")
        browser = driver()
        try:
            ready = "document.getElementById('kt-browser') && document.getElementById('kt-browser').dataset.ready"
            opened = min(load_ms(browser, page, ready) for _ in range(args.rounds))
            bare = min(load_ms(browser, plain, "document.readyState === 'complete' && performance.now()")
                       for _ in range(args.rounds))
            loaded_naive = min(load_ms(browser, naive, "document.body && document.body.dataset.ready")
                               for _ in range(args.rounds))
            print(f"  open (first rows drawn)  {opened:8.0f} ms   report without browser {bare:6.0f} ms   "
                  f"naive browser {loaded_naive:8.0f} ms ({loaded_naive / opened:.1f}x slower)")
            load_ms(browser, page, ready)
            timed = interactions(browser)
            print(f"  filter {timed['filter']:.0f} ms, sort by tokens {timed['sort']:.0f} ms, open an uninflated "
                  f"sample {timed['sample']:.0f} ms, text search of every completion {timed['search']:.0f} ms "
                  f"({timed['search_hits']})")
        finally:
            browser.quit()


if __name__ == "__main__":
    main()
