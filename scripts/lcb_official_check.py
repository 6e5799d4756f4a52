"""Grade LiveCodeBench's official leaderboard outputs with kateval and compare with the official verdicts.

    .venv/bin/python scripts/lcb_official_check.py OUTPUTS.json.gz --out runs/lcb-o1-mini [--data-dir D]

Writes OUT/official.jsonl (a `kateval score` input), scores it into OUT, and prints the agreement table.
With public tests only, every officially correct sample must pass here (no false negatives); officially
wrong ones may pass (public tests are fewer than public + private)."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from kateval.scoring import score_file
from kateval.store import iter_records
from kateval.tasks.livecodebench import official_outputs_to_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    rows = official_outputs_to_rows(args.outputs)
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.out / "official.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    score_file(samples, args.out / "scored", data_dir=args.data_dir, workers=args.workers)
    official = {(r["problem_id"], r["sample_index"]): r["official_correct"] for r in rows}
    table = Counter((official[(r["problem_id"], r["sample_index"])], r["correct"])
                    for r in iter_records(args.out / "scored"))
    print(f"graded {sum(table.values())} of {len(rows)} samples (problems missing from the data are skipped)")
    for (was, now), count in sorted(table.items()):
        print(f"  official {'correct' if was else 'wrong':7}  kateval {'passed' if now else 'failed':6}  {count}")
    false_negatives = table[(True, False)]
    print(f"officially correct that fail here: {false_negatives}")
    return 1 if false_negatives else 0


if __name__ == "__main__":
    sys.exit(main())
