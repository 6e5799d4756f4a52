"""Report figures drawn from summary.json alone, as PNG bytes. Figure objects with the Agg canvas directly:
no pyplot state, no display needed.

Figures are drawn at the size the pages show them (DPI pixels per inch, never scaled down by the page), and
png_bytes raises every text to at least MIN_FONT_PT, so labels stay readable at the page's width."""
from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

MODE_COLORS = {"on": "#d95f02", "off": "#1b9e77", "none": "#7570b3"}
MODE_MARKERS = {"on": "^", "off": "v", "none": "s"}
DPI = 100
MIN_FONT_PT = 10
LOG_SCALE_SPAN = 20   # token axes go logarithmic when the largest value is this many times the smallest


def new_figure(width: float = 5.8, height: float = 3.9) -> Figure:
    """5.8 inches: two figures side by side fill the report's 1200-pixel page at their own size."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def legend(ax, **options) -> None:
    """A legend where something is labelled: matplotlib warns on the user's terminal when nothing is."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def png_bytes(figure: Figure) -> bytes:
    for axes in figure.axes:
        axes.tick_params(labelsize=MIN_FONT_PT)
    for text in figure.findobj(Text):
        if text.get_fontsize() < MIN_FONT_PT:
            text.set_fontsize(MIN_FONT_PT)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _png(draw: Callable[[Any], bool], width: float = 5.8, height: float = 3.9) -> bytes | None:
    """Run `draw(axes)`; None when it had nothing to draw."""
    figure = new_figure(width, height)
    return png_bytes(figure) if draw(figure.add_subplot()) else None


def _token_axis(ax, values: list[float]) -> None:
    known = [v for v in values if v and v > 0]
    if known and max(known) / min(known) > LOG_SCALE_SPAN:
        ax.set_xscale("log")


def accuracy_vs_tokens(summary: dict[str, Any]) -> bytes | None:
    """The headline figure: each task's accuracy (95% CI) at its mean tokens, and, where the run mixed think
    modes, the task's accuracy and tokens within each mode (triangles joined to the task's point)."""
    def draw(ax) -> bool:
        colors = itertools.cycle(colormaps["tab10"].colors)
        xs: list[float] = []
        modes_seen = set()
        for name, task in summary["tasks"].items():
            tokens, accuracy = task["mean_completion_tokens"], task["accuracy"]
            if tokens is None:
                continue
            color = next(colors)
            low, high = task["accuracy_ci95"]
            ax.errorbar(tokens, accuracy, yerr=[[accuracy - low], [high - accuracy]], fmt="o", markersize=9,
                        capsize=4, color=color, label=name, zorder=3)
            xs.append(tokens)
            for mode, facts in task["by_mode"].items():
                mode_tokens = facts["completion_tokens"]["mean"]
                if mode_tokens is None or len(task["by_mode"]) < 2:
                    continue
                ax.plot([tokens, mode_tokens], [accuracy, facts["accuracy"]], color=color, linewidth=0.8,
                        linestyle=":", zorder=1)
                ax.scatter(mode_tokens, facts["accuracy"], marker=MODE_MARKERS[mode], s=60, color=color, zorder=2)
                xs.append(mode_tokens)
                modes_seen.add(mode)
        if not xs:
            return False
        _token_axis(ax, xs)
        handles, labels = ax.get_legend_handles_labels()
        for mode in sorted(modes_seen):
            handles.append(Line2D([], [], marker=MODE_MARKERS[mode], color="#555", linestyle=""))
            labels.append(f"think {mode}")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11)   # beside the points
        ax.grid(alpha=0.3)
        ax.set_xlabel("mean completion tokens per sample", fontsize=12)
        ax.set_ylabel("accuracy", fontsize=12)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title("Accuracy against token cost (circles: task, 95% CI; triangles: its samples in one think mode)",
                     fontsize=12, loc="left")
        return True
    return _png(draw, 9.0, 5.0)


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
        legend(ax, fontsize=8)
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
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
        ax.set(xlabel="difficulty", ylabel="think rate", ylim=(0, 1.05), title="Think rate by difficulty")
        legend(ax, fontsize=8)
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
        legend(ax, fontsize=8)
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
