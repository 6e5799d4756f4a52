"""Write an audit as audit.json, audit.md (with its plots beside it) and a self-contained audit.html.

The report is built once as a list of blocks, then written out by a Markdown and an HTML renderer, so both
say the same thing."""
from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kateval.audit.metrics import POLICIES, ProblemAudit, think_rate_by_difficulty

LISTED = 25   # problems named per list in the md/html report; audit.json has them all
POLICY_NAMES = {"always_on": "always on", "always_off": "always off", "auto": "auto", "oracle": "oracle router"}
CELLS = (("right", "right"), ("right", "wrong"), ("wrong", "right"), ("wrong", "wrong"))
# Overlapping policies stay visible: filled markers of decreasing size under a hollow oracle.
MARKERS = {"always_on": {"marker": "o", "s": 110}, "always_off": {"marker": "s", "s": 70},
           "auto": {"marker": "^", "s": 45},
           "oracle": {"marker": "D", "s": 150, "facecolors": "none", "edgecolors": "k"}}
Block = tuple


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.3f}" if signed else f"{value:,.1f}")


# ------------------------------------------------------------------ plots
def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def policy_plot(scopes: dict[str, dict[str, Any]]) -> bytes:
    """Accuracy against mean tokens of the four policies, one panel per scope."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(scopes), 3.6))
    for index, (title, summary) in enumerate(scopes.items(), start=1):
        axes = figure.add_subplot(1, len(scopes), index)
        for policy in POLICIES:
            point = summary["policies"][policy]
            if point["mean_tokens"] is not None:
                axes.scatter(point["mean_tokens"], point["accuracy"], label=POLICY_NAMES[policy], **MARKERS[policy])
        axes.set(title=title, xlabel="mean completion tokens", ylabel="accuracy", ylim=(-0.05, 1.05))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _png(figure)


def think_rate_plot(problems: Sequence[ProblemAudit]) -> bytes:
    """Each problem's auto think rate against its forced-on accuracy, with the binned means."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 3.8))
    axes = figure.add_subplot()
    for task in sorted({p.task for p in problems}):
        mine = [p for p in problems if p.task == task]
        axes.scatter([p.on.accuracy for p in mine], [p.auto.think_rate for p in mine], alpha=0.5, label=task)
    rows = [r for r in think_rate_by_difficulty(problems) if r["think_rate"] is not None]
    axes.plot([(r["on_accuracy_from"] + r["on_accuracy_to"]) / 2 for r in rows], [r["think_rate"] for r in rows],
              "k-o", label="bin mean")
    axes.set(xlabel="forced-on accuracy (easier →)", ylabel="auto think rate", xlim=(-0.05, 1.05),
             ylim=(-0.05, 1.05))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


# ------------------------------------------------------------------ the report as blocks
def _names(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" … and {len(names) - LISTED} more (see audit.json)" if len(names) > LISTED else "") or "none"


def scope_blocks(title: str, summary: dict[str, Any], baseline: str) -> list[Block]:
    matrix = summary["decision_matrix"]
    rows = [[f"forced on {a}, forced off {b}",
             f"{matrix['auto_on'][f'on_{a}_off_{b}']}{' (needless)' if b == 'right' else ''}",
             f"{matrix['auto_off'][f'on_{a}_off_{b}']}{' (missed)' if (a, b) == ('right', 'wrong') else ''}"]
            for a, b in CELLS]
    policies = [[POLICY_NAMES[p], pct(summary["policies"][p]["accuracy"]), num(summary["policies"][p]["mean_tokens"]),
                 num(summary["aes"][p], signed=True)] for p in POLICIES]
    needless, missed, regret = summary["needless"], summary["missed"], summary["regret"]
    return [
        ("h", 2, title),
        ("p", (f"{summary['problems']} problems; auto thought in {pct(summary['think_rate'])} of its samples and "
              f"chose to think on {pct(summary['chose_on_rate'])} of the problems.")),
        ("table", ["policy", "accuracy", "mean tokens", f"AES vs {baseline}"], policies),
        ("p", (f"Auto's regret against the oracle router: {pct(regret['accuracy'])} accuracy, "
              f"{num(regret['tokens'])} tokens per problem.")),
        ("table", ["problem verdicts", "auto chose on", "auto chose off"], rows),
        ("p", (f"Needless thinking: {needless['count']} ({pct(needless['rate'])} of problems, "
              f"{pct(needless['conditional_rate'])} of those forced-off solved): {_names(needless['problems'])}.")),
        ("p", (f"Missed thinking: {missed['count']} ({pct(missed['rate'])} of problems, "
              f"{pct(missed['conditional_rate'])} of those only forced-on solved): {_names(missed['problems'])}.")),
    ]


def difficulty_blocks(task: str, difficulties: dict[str, dict[str, Any]]) -> list[Block]:
    header = ["difficulty", "problems", "think rate", "needless", "missed", "auto acc", "oracle acc",
              "auto tokens", "oracle tokens", "AES auto"]
    rows = [[label, s["problems"], pct(s["think_rate"]), s["needless"]["count"], s["missed"]["count"],
             pct(s["policies"]["auto"]["accuracy"]), pct(s["policies"]["oracle"]["accuracy"]),
             num(s["policies"]["auto"]["mean_tokens"]), num(s["policies"]["oracle"]["mean_tokens"]),
             num(s["aes"]["auto"], signed=True)] for label, s in difficulties.items()]
    return [("h", 3, f"{task} by difficulty"), ("table", header, rows)] if rows else []


def settings_blocks(audit: dict[str, Any]) -> list[Block]:
    settings, weights = audit["settings"], audit["settings"]["aes_weights"]
    runs = [[mode, facts["run_dir"], facts["model"] or "–", facts["problems"], facts["samples"]]
            for mode, facts in audit["runs"].items()]
    blocks = [
        ("h", 1, "Mode audit: did the model think when it should have?"),
        ("table", ["mode", "run directory", "model", "problems", "samples"], runs),
        ("p", (f"A problem is right in a forced mode when its mean sample accuracy is ≥ {settings['threshold']}; "
              "auto chose on when more than half of its auto samples thought. Needless thinking: auto thought "
              "where forced-off was right. Missed thinking: auto did not think where forced-on was right and "
              "forced-off wrong. The oracle router takes the mode that is right, the cheaper one when both or "
              "neither are.")),
        ("p", (f"AES (O1-Pruner, arXiv 2501.12570) against {settings['baseline']}: α={weights['alpha']} on the "
              f"relative length cut, β={weights['beta']} on a relative accuracy gain, γ={weights['gamma']} on a "
              "relative accuracy drop.")),
    ]
    if audit["unmatched"]:
        skipped = "; ".join(f"{mode}: {len(names)}" for mode, names in audit["unmatched"].items())
        blocks.append(("p", f"Skipped problems that not every run has ({skipped})."))
    return blocks


def report_blocks(audit: dict[str, Any], problems: Sequence[ProblemAudit]) -> list[Block]:
    baseline = audit["settings"]["baseline"]
    blocks = settings_blocks(audit) + scope_blocks("Overall", audit["overall"], baseline)
    scopes = {"overall": audit["overall"], **(audit["tasks"] if len(audit["tasks"]) > 1 else {})}
    blocks.append(("image", "accuracy against tokens of the four policies", policy_plot(scopes), "audit_policies.png"))
    for task, summary in audit["tasks"].items():
        if len(audit["tasks"]) > 1:   # with one task its section would repeat the overall one
            blocks += scope_blocks(f"Task {task}", summary, baseline)
        blocks += difficulty_blocks(task, summary["difficulties"])
    bins = [[f"{r['on_accuracy_from']:.2f}–{r['on_accuracy_to']:.2f}", r["problems"], pct(r["think_rate"])]
            for r in audit["overall"]["think_rate_by_difficulty"]]
    return blocks + [
        ("h", 2, "Think rate against empirical difficulty"),
        ("table", ["forced-on accuracy", "problems", "auto think rate"], bins),
        ("image", "auto think rate against forced-on accuracy", think_rate_plot(problems), "audit_think_rate.png"),
    ]


# ------------------------------------------------------------------ renderers
def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block[0] == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif block[0] == "p":
            lines += [block[1], ""]
        elif block[0] == "table":
            lines += ["| " + " | ".join(map(str, block[1])) + " |", "|" + "---|" * len(block[1])]
            lines += ["| " + " | ".join(map(str, row)) + " |" for row in block[2]] + [""]
        elif block[0] == "image":
            lines += [f"![{block[1]}]({block[3]})", ""]
    return "\n".join(lines)


def to_html(blocks: Sequence[Block]) -> str:
    parts = [("<!doctype html><html><head><meta charset='utf-8'><title>kateval mode audit</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
             "th{background:#f3f3f3}img{max-width:100%}</style></head><body>")]
    for block in blocks:
        if block[0] == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif block[0] == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif block[0] == "table":
            head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in block[1])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
                           for row in block[2])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif block[0] == "image":
            data = base64.b64encode(block[2]).decode()
            parts.append(f"<img alt='{html.escape(block[1])}' src='data:image/png;base64,{data}'>")
    return "".join(parts) + "</body></html>\n"


def write_report(out: Path, audit: dict[str, Any], problems: Sequence[ProblemAudit]) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"audit.{name}" for name in ("json", "md", "html")}
    paths["json"].write_text(json.dumps(audit, indent=2) + "\n", encoding="utf-8")
    blocks = report_blocks(audit, problems)
    for block in blocks:
        if block[0] == "image":
            (out / block[3]).write_bytes(block[2])
    paths["md"].write_text(to_markdown(blocks), encoding="utf-8")
    paths["html"].write_text(to_html(blocks), encoding="utf-8")
    return paths
