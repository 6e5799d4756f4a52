"""The sweep driver: every cell of a grid (think mode x thinking budget) generated in ONE engine queue.

Each cell is an ordinary run directory under the sweep's folder, identical to what `kateval run --mode M
--thinking-budget B` with the same flags writes there (so report, compare and leaderboard read it, and a cell can
even be resumed by that command). The cells' requests differ only in their per-request mode and thinking budget, so
one backend serves them all: one model load, one queue the scheduler batches across cells, prefix caching shared.
Every cell uses the same per-problem seeds. Resuming works per cell: a killed sweep, run again, generates only what
each cell misses.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kateval.pipeline import RunConfig, Stages, build_requests, finish_run, load_tasks, open_run, selected_problems
from kateval.profiles import MODES
from kateval.store import RunStore, SampleKey, read_json, same_identity, write_json
from kateval.types import Completion, KatevalError, Request

SWEEP_FILE = "sweep.json"
NO_BUDGET = "none"


@dataclass(frozen=True)
class Cell:
    mode: str                      # auto | on | off
    thinking_budget: int | None    # None: thoughts are not cut (max_tokens still applies)

    @property
    def name(self) -> str:
        return self.mode if self.thinking_budget is None else f"{self.mode}-think{self.thinking_budget}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "thinking_budget": self.thinking_budget}


def parse_budgets(spec: str) -> list[int | None]:
    """'512,1024,none' -> [512, 1024, None]."""
    budgets: list[int | None] = []
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        if item.lower() == NO_BUDGET:
            budgets.append(None)
            continue
        try:
            budgets.append(int(item))
        except ValueError:
            raise KatevalError(f"a thinking budget is a whole number of tokens or '{NO_BUDGET}', got '{item}'") from None
        if budgets[-1] < 0:
            raise KatevalError(f"a thinking budget must be at least 0, got {item}")
    if not budgets:
        raise KatevalError("no thinking budget given (--thinking-budgets 512,1024,none)")
    return list(dict.fromkeys(budgets))


def parse_modes(spec: str) -> list[str]:
    modes = list(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise KatevalError(f"--modes takes {', '.join(MODES)}; got '{spec}'")
    return modes


def grid(modes: list[str], budgets: list[int | None]) -> list[Cell]:
    """Every mode at every budget, except `off`, which has no thought to cut: one cell, without a budget."""
    return [Cell(mode, None if mode == "off" else budget)
            for mode in modes for budget in ([None] if mode == "off" else budgets)]


def cell_config(base: RunConfig, cell: Cell) -> RunConfig:
    """The RunConfig `kateval run --mode M --thinking-budget B --out <sweep>/<cell>` would build."""
    options = {k: v for k, v in base.backend.options.items() if k != "thinking_budget"}
    if cell.thinking_budget is not None:
        options["thinking_budget"] = cell.thinking_budget
    return replace(base, backend=replace(base.backend, mode=cell.mode, options=options), out=base.out / cell.name)


def sweep_identity(base: RunConfig) -> dict[str, Any]:
    """What every cell shares; a sweep folder is resumed only with the same."""
    identity = base.identity()
    identity.pop("mode")
    identity["backend_options"] = {k: v for k, v in identity["backend_options"].items() if k != "thinking_budget"}
    return json.loads(json.dumps(identity))


def read_sweep(root: Path) -> dict[str, Any]:
    return read_json(Path(root) / SWEEP_FILE, "a `kateval sweep` folder")


def _write_manifest(base: RunConfig, cells: list[Cell]) -> None:
    """sweep.json: the grid and what the cells share. Cells of an earlier invocation stay listed (their run
    directories are still there), so the report can show the grid as it grew."""
    root = base.out
    identity = sweep_identity(base)
    cells_now = [cell.as_dict() for cell in cells]
    if (root / SWEEP_FILE).exists():
        previous = read_sweep(root)
        same_identity(previous.get("identity", {}), identity, root, "sweep")
        cells_now += [c for c in previous.get("cells", []) if c["name"] not in {cell.name for cell in cells}]
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / SWEEP_FILE, {"identity": identity, "cells": cells_now})


def _queue_order(requests: list[Request], order: dict[tuple[str, str], int]) -> list[Request]:
    """Problem-major: a problem's cells go into the queue together, so its prompt prefix is still cached."""
    return sorted(requests, key=lambda r: order[(r.task, r.problem_id)])


def shared_backend(base: RunConfig):
    """One backend for every cell: cells pass their mode and budget per request. vLLM keeps prefix caching on,
    since the cells repeat every prompt."""
    options = {k: v for k, v in base.backend.options.items() if k != "thinking_budget"}
    if base.backend.name == "vllm":
        options.setdefault("enable_prefix_caching", True)
    return replace(base.backend, options=options)


def run_sweep(base: RunConfig, cells: list[Cell]) -> dict[str, Path]:
    """Generate every cell; returns {cell name: run directory}."""
    if not cells:
        raise KatevalError("the sweep grid is empty")
    base = replace(base, backend=shared_backend(base))
    tasks = load_tasks(base)
    _write_manifest(base, cells)
    configs = {cell: cell_config(base, cell) for cell in cells}
    opened: dict[Cell, tuple[RunStore, set[SampleKey]]] = {
        cell: open_run(config, tasks, sweep={"root": str(base.out), "cell": cell.as_dict()})
        for cell, config in configs.items()}
    order = {(t.name, p.problem_id): i for i, (t, p) in
             enumerate((t, p) for t in tasks for p in selected_problems(t, base))}
    requests = _queue_order([request for cell, config in configs.items() for request in build_requests(
        tasks, config, opened[cell][1], mode=cell.mode, thinking_budget=cell.thinking_budget)], order)
    stores = {(cell.mode, cell.thinking_budget): store for cell, (store, _) in opened.items()}

    def route(completion: Completion) -> RunStore:
        return stores[(completion.requested_mode, completion.thinking_budget)]

    if requests:
        with Stages.for_run(tasks, base) as stages:
            stages.load().record_facts(list(stores.values()))
            seconds = stages.run(requests, base.sampling, route)
            # Generation time is the whole queue's: the cells shared it.
            stages.record_facts(list(stores.values()), generate_and_grade_s=round(seconds, 3), sweep_cells=len(cells))
    expected = sum(len(selected_problems(t, base)) for t in tasks) * base.sampling.n
    for store, _ in opened.values():
        finish_run(store, samples_expected=expected)
    return {cell.name: config.out for cell, config in configs.items()}
