"""Write an audit as audit.json, audit.md (its figures beside it) and a self-contained audit.html, through the
report package's neutral Document so the audit reads like every other kateval report."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kateval.audit.metrics import MODES, POLICIES, ProblemAudit
from kateval.report.browser import sample_href
from kateval.report.plots import new_figure, png_bytes
from kateval.report.render import Document, Link, Table, interval, num, pct, to_html, to_markdown, write_text
from kateval.report.run_report import report_links

LISTED = 25   # problems named per list in the md/html report; audit.json has them all
POLICY_NAMES = {"always_on": "always on", "always_off": "always off", "auto": "auto", "oracle": "oracle router"}
CELLS = (("right", "right"), ("right", "wrong"), ("wrong", "right"), ("wrong", "wrong"))
# Overlapping policies stay visible: filled markers of decreasing size under a hollow oracle.
MARKERS = {"always_on": {"marker": "o", "s": 110}, "always_off": {"marker": "s", "s": 70},
           "auto": {"marker": "^", "s": 45},
           "oracle": {"marker": "D", "s": 150, "facecolors": "none", "edgecolors": "k"}}


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


# ------------------------------------------------------------------ figures
def policy_plot(scopes: dict[str, dict[str, Any]]) -> bytes:
    """Accuracy against mean tokens of the four policies, one panel per scope."""
    figure = new_figure(4.2 * len(scopes), 3.6)
    for index, (title, summary) in enumerate(scopes.items(), start=1):
        axes = figure.add_subplot(1, len(scopes), index)
        for policy in POLICIES:
            point = summary["policies"][policy]
            if point["mean_tokens"] is not None:
                axes.scatter(point["mean_tokens"], point["accuracy"], label=POLICY_NAMES[policy], **MARKERS[policy])
        axes.set(title=title, xlabel="mean completion tokens", ylabel="accuracy", ylim=(-0.05, 1.05))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return png_bytes(figure)


def think_rate_plot(problems: Sequence[ProblemAudit], bins: list[dict[str, Any]]) -> bytes:
    """Each problem's auto think rate against its forced-on accuracy, with the binned means (`bins`: the
    audit's think_rate_by_difficulty rows)."""
    figure = new_figure(5.5, 3.8)
    axes = figure.add_subplot()
    for task in sorted({p.task for p in problems}):
        mine = [p for p in problems if p.task == task]
        axes.scatter([p.on.accuracy for p in mine], [p.auto.think_rate for p in mine], alpha=0.5, label=task)
    rows = [r for r in bins if r["think_rate"] is not None]
    axes.plot([(r["on_accuracy_from"] + r["on_accuracy_to"]) / 2 for r in rows], [r["think_rate"] for r in rows],
              "k-o", label="bin mean")
    axes.set(xlabel="forced-on accuracy (easier →)", ylabel="auto think rate", xlim=(-0.05, 1.05),
             ylim=(-0.05, 1.05))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return png_bytes(figure)


# ------------------------------------------------------------------ the report
def _names(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" … and {len(names) - LISTED} more (see audit.json)" if len(names) > LISTED else "") or "none"


def scope_tables(title: str, summary: dict[str, Any], baseline: str) -> list[Table]:
    points, matrix, regret = summary["policies"], summary["decision_matrix"], summary["regret"]
    needless, missed = summary["needless"], summary["missed"]
    policies = [[POLICY_NAMES[p], pct(points[p]["accuracy"]), interval(summary["policy_accuracy_ci95"][p]),
                 num(points[p]["mean_tokens"], 1), signed(summary["aes"][p])] for p in POLICIES]
    decisions = [[f"forced on {a}, forced off {b}",
                  f"{matrix['auto_on'][f'on_{a}_off_{b}']}{' (needless)' if b == 'right' else ''}",
                  f"{matrix['auto_off'][f'on_{a}_off_{b}']}{' (missed)' if (a, b) == ('right', 'wrong') else ''}"]
                 for a, b in CELLS]
    return [
        Table(f"{title}: policies", ["policy", "accuracy", "95% CI", "mean tokens", f"AES vs {baseline}"], policies,
              f"{summary['problems']} problems; auto thought in {pct(summary['think_rate'])} of its samples and "
              f"chose to think on {pct(summary['chose_on_rate'])} of the problems. Its regret against the oracle "
              f"router: {pct(regret['accuracy'])} accuracy, {num(regret['tokens'], 1)} tokens per problem."),
        Table(f"{title}: decisions", ["problem verdicts", "auto chose on", "auto chose off"], decisions,
              f"Needless thinking: {needless['count']} ({pct(needless['rate'])} of problems, "
              f"{pct(needless['conditional_rate'])} of those forced-off solved): {_names(needless['problems'])}. "
              f"Missed thinking: {missed['count']} ({pct(missed['rate'])} of problems, "
              f"{pct(missed['conditional_rate'])} of those only forced-on solved): {_names(missed['problems'])}."),
    ]


def difficulty_table(task: str, difficulties: dict[str, dict[str, Any]]) -> list[Table]:
    header = ["difficulty", "problems", "think rate", "needless", "missed", "auto acc", "oracle acc",
              "auto tokens", "oracle tokens", "AES auto"]
    rows = [[label, s["problems"], pct(s["think_rate"]), s["needless"]["count"], s["missed"]["count"],
             pct(s["policies"]["auto"]["accuracy"]), pct(s["policies"]["oracle"]["accuracy"]),
             num(s["policies"]["auto"]["mean_tokens"], 1), num(s["policies"]["oracle"]["mean_tokens"], 1),
             signed(s["aes"]["auto"])] for label, s in difficulties.items()]
    return [Table(f"{task} by difficulty", header, rows)] if rows else []


def header_lines(audit: dict[str, Any]) -> list[str]:
    settings, weights = audit["settings"], audit["settings"]["aes_weights"]
    runs = [f"{mode}: {facts['run_dir']} (model {facts['model'] or '-'}, {facts['problems']} problems, "
            f"{facts['samples']} samples)" for mode, facts in audit["runs"].items()]
    rules = (f"A problem is right in a forced mode when its mean sample accuracy is at least "
             f"{settings['threshold']}; auto chose on when more than half of its auto samples thought.")
    verdicts = ("Needless thinking: auto thought where forced-off was right. Missed thinking: auto did not think "
                "where forced-on was right and forced-off wrong. The oracle router takes the mode that is right, "
                "the cheaper one when both or neither are.")
    weighting = (f"AES (O1-Pruner, arXiv 2501.12570) against {settings['baseline']}: alpha={weights['alpha']} on "
                 f"the relative length cut, beta={weights['beta']} on a relative accuracy gain, "
                 f"gamma={weights['gamma']} on a relative accuracy drop.")
    return [*runs, rules, verdicts, weighting]


def thinking_errors_table(problems: Sequence[ProblemAudit], reports: dict[str, str] | None) -> Table | None:
    """The needless and missed problems (LISTED of each), each linked to its samples in the three runs' reports
    (`reports`: mode -> href of that run's report.html)."""
    rows = []
    for verdict in ("needless", "missed"):
        chosen = [p for p in problems if getattr(p, verdict)]
        for p in chosen[:LISTED]:
            links = [Link(mode, sample_href(reports[mode], p.task, p.problem_id)) for mode in MODES] if reports else []
            rows.append([p.name, verdict, p.difficulty or "-", pct(p.auto.think_rate), pct(p.on.accuracy),
                         pct(p.off.accuracy), *links])
    if not rows:
        return None
    return Table("Needless and missed thinking", ["problem", "verdict", "difficulty", "auto think rate",
                                                  "forced-on acc", "forced-off acc",
                                                  *(f"samples {mode}" for mode in MODES if reports)], rows,
                 f"At most {LISTED} problems of each kind (audit.json lists them all)"
                 + ("; the links open the problem's samples in each run's report." if reports else "."))


def audit_document(audit: dict[str, Any], problems: Sequence[ProblemAudit], reports: dict[str, str] | None = None
                   ) -> Document:
    baseline, tasks = audit["settings"]["baseline"], audit["tasks"]
    notes = [f"Skipped {len(names)} problem(s) of the {mode} run that not every run has: {_names(names)}."
             for mode, names in audit["unmatched"].items()]
    tables = scope_tables("Overall", audit["overall"], baseline)
    errors = thinking_errors_table(problems, reports)
    tables += [errors] if errors else []
    for task, summary in tasks.items():
        if len(tasks) > 1:   # with one task its tables would repeat the overall ones
            tables += scope_tables(f"Task {task}", summary, baseline)
        tables += difficulty_table(task, summary["difficulties"])
    bins = audit["overall"]["think_rate_by_difficulty"]
    bin_rows = [[f"{r['on_accuracy_from']:.2f}-{r['on_accuracy_to']:.2f}", r["problems"], pct(r["think_rate"])]
                for r in bins]
    tables.append(Table("Think rate against empirical difficulty", ["forced-on accuracy", "problems",
                                                                    "auto think rate"], bin_rows))
    scopes = {"overall": audit["overall"], **(tasks if len(tasks) > 1 else {})}
    figures = {"policies_accuracy_vs_tokens": policy_plot(scopes),
               "think_rate_vs_difficulty": think_rate_plot(problems, bins)}
    return Document("Mode audit: did the model think when it should have?", header_lines(audit), notes, tables,
                    figures)


def write_report(out: Path, audit: dict[str, Any], problems: Sequence[ProblemAudit]) -> dict[str, Path]:
    out = Path(out)
    reports = report_links({mode: Path(facts["run_dir"]) for mode, facts in audit["runs"].items()}, out)
    doc = audit_document(audit, problems, reports)
    figure_paths = {name: f"audit_{name}.png" for name in doc.figures}
    paths = {"json": write_text(out / "audit.json", json.dumps(audit, indent=2) + "\n"),
             "md": out / "audit.md", "html": out / "audit.html"}
    for name, png in doc.figures.items():
        (out / figure_paths[name]).write_bytes(png)
    write_text(paths["md"], to_markdown(doc, figure_paths))
    write_text(paths["html"], to_html(doc))
    return paths
