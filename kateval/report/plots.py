"""Report figures drawn from summary.json alone, as PNG bytes. Figure objects with the Agg canvas directly:
no pyplot state, no display needed."""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MODE_COLORS = {"on": "#d95f02", "off": "#1b9e77", "none": "#7570b3"}


def new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _png(draw: Callable[[Any], bool]) -> bytes | None:
    """Run `draw(axes)`; None when it had nothing to draw."""
    figure = new_figure()
    return png_bytes(figure) if draw(figure.add_subplot()) else None


def accuracy_vs_tokens(summary: dict[str, Any]) -> bytes | None:
    def draw(ax) -> bool:
        drawn = False
        for name, task in summary["tasks"].items():
            if task["mean_completion_tokens"] is None:
                continue
            low, high = task["accuracy_ci95"]
            ax.errorbar(task["mean_completion_tokens"], task["accuracy"],
                        yerr=[[task["accuracy"] - low], [high - task["accuracy"]]], fmt="o", capsize=3, label=name)
            for mode, facts in task["by_mode"].items():
                tokens = facts["completion_tokens"]["mean"]
                if tokens is not None and len(task["by_mode"]) > 1:
                    ax.scatter(tokens, facts["accuracy"], marker="x", color=MODE_COLORS[mode])
                    ax.annotate(f"{name} {mode}", (tokens, facts["accuracy"]), fontsize=7)
            drawn = True
        ax.set(xlabel="mean completion tokens", ylabel="accuracy", ylim=(-0.02, 1.02),
               title="Accuracy vs tokens (o: task, 95% CI; x: by think mode)")
        ax.legend(fontsize=8)
        return drawn
    return _png(draw)


def tokens_by_mode(summary: dict[str, Any]) -> bytes | None:
    histogram = summary["overall"]["token_histogram"]
    if histogram is None:
        return None

    def draw(ax) -> bool:
        edges = np.asarray(histogram["edges"])
        for mode in ("on", "off", "none"):
            if mode in histogram:
                ax.stairs(histogram[mode], edges, label=f"think {mode}", color=MODE_COLORS[mode], linewidth=1.5)
        if edges[0] > 0:   # log-spaced bins
            ax.set_xscale("log")
        ax.set(xlabel="completion tokens", ylabel="samples", title="Token distribution by mode (all tasks)")
        ax.legend(fontsize=8)
        return True
    return _png(draw)


def think_rate_by_difficulty(summary: dict[str, Any]) -> bytes | None:
    tasks = {name: task["by_difficulty"] for name, task in summary["tasks"].items() if task["by_difficulty"]}

    labels = list(dict.fromkeys(level for levels in tasks.values() for level in levels))

    def draw(ax) -> bool:
        width = 0.8 / max(len(tasks), 1)
        for offset, (name, levels) in enumerate(tasks.items()):
            x = np.array([labels.index(level) for level in levels]) + offset * width
            ax.bar(x, [level["think_rate"] for level in levels.values()], width=width, label=name)
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, fontsize=7)
        ax.set(xlabel="difficulty", ylabel="think rate", ylim=(0, 1.05), title="Think rate by difficulty")
        ax.legend(fontsize=8)
        return bool(tasks)
    return _png(draw)


def accuracy_under_budget(summary: dict[str, Any]) -> bytes | None:
    def draw(ax) -> bool:
        drawn = False
        for name, task in summary["tasks"].items():
            curve = task["accuracy_under_budget"]
            if curve:
                ax.plot([int(b) for b in curve], list(curve.values()), marker="o", label=name)
                drawn = True
        ax.set_xscale("log", base=2)
        ax.set(xlabel="token budget (longer samples count as wrong)", ylabel="accuracy", ylim=(-0.02, 1.02),
               title="Accuracy under a token budget")
        ax.legend(fontsize=8)
        return drawn
    return _png(draw)


FIGURES = {
    "accuracy_vs_tokens": accuracy_vs_tokens,
    "tokens_by_mode": tokens_by_mode,
    "think_rate_by_difficulty": think_rate_by_difficulty,
    "accuracy_under_budget": accuracy_under_budget,
}


def figures(summary: dict[str, Any]) -> dict[str, bytes]:
    drawn = {name: make(summary) for name, make in FIGURES.items()}
    return {name: png for name, png in drawn.items() if png is not None}
