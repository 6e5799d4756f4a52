"""What a report says about a run's identity, read from run.json: model, checkpoint, mode, sampling, task data,
and the configuration fingerprint that decides whether two runs' numbers are comparable."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kateval.store import read_run_meta

FINGERPRINT_SAMPLING = ("max_tokens", "temperature", "top_p")
MAX_WINDOW_VALUE = 32


@dataclass(frozen=True)
class RunFacts:
    run_dir: str
    model: str
    checkpoint: str
    mode: str
    backend: str
    sampling: dict[str, Any] | None      # None for runs made by `kateval score` (sampling happened elsewhere)
    tasks: dict[str, dict[str, Any]]     # name -> {"version", "params", "flags"} (flags: data caveats)
    adaptive: dict[str, Any] | None = None   # kateval.adaptive's settings, rounds and why it stopped
    thinking_budget: int | None = None       # most thinking tokens per sample (a backend option), None: no budget

    def notes(self) -> list[str]:
        notes = [f"{name}: private tests are missing (public tests only), so its scores are optimistic"
                 for name, task in self.tasks.items()
                 if task["flags"].get("public_tests_only") or task["params"].get("public_tests_only")]
        return notes + ([self.adaptive_note()] if self.adaptive else [])

    def adaptive_note(self) -> str:
        settings, rounds = self.adaptive or {}, (self.adaptive or {}).get("rounds") or [{}]
        limits = [f"target +-{100 * settings['target_ci']:.1f} pts" if settings.get("target_ci") else "",
                  f"max {settings.get('max_n')} per problem",
                  f"token budget {settings['token_budget']:,}" if settings.get("token_budget") else ""]
        widths = ", ".join(f"{task} +-{100 * width:.1f} pts" for task, width in rounds[-1].get("half_width", {}).items())
        estimator = ("accuracy is the mean over problems of each problem's WEIGHTED mean: a round's samples weigh "
                     "what the plan fixed before their outcomes, which keeps it unbiased (a plain mean leans toward "
                     "0 and 1 when sample counts follow the outcomes); pass@k beyond 1 is left out for that reason"
                     if settings.get("schedule") else
                     "accuracy is the plain mean of each problem's mean (a run made before round weights existed: "
                     "it may lean toward 0 and 1)")
        return (f"adaptive sampling ({', '.join(x for x in limits if x)}): problems got different numbers of samples "
                f"(n below), in {len(rounds)} round(s), stopped on {settings.get('stopped') or 'not yet'}; "
                f"{estimator}. The target is on the sampling uncertainty of the accuracy on these problems (95% "
                f"half-width now: {widths or '-'}); the CI in the table is the bootstrap over problems, which more "
                "samples cannot shrink.")

    def window(self) -> str:
        """The data each task drew from (year, release, date window...): its short scalar parameters (prompt
        templates and other long text are left out)."""
        parts = []
        for name, task in sorted(self.tasks.items()):
            short = {k: v for k, v in task["params"].items()
                     if isinstance(v, (str, int, float, bool)) and 0 < len(str(v)) <= MAX_WINDOW_VALUE}
            parts.append(f"{name}:" + ",".join(f"{k}={v}" for k, v in sorted(short.items())) if short else name)
        return "; ".join(parts) or "-"

    def fingerprint(self, samples_per_problem: Any) -> dict[str, Any]:
        sampling = self.sampling or {}
        n = samples_per_problem if self.adaptive else sampling.get("n", samples_per_problem)
        return {**{key: sampling.get(key) for key in FINGERPRINT_SAMPLING}, "n": n,
                "thinking_budget": self.thinking_budget, "window": self.window()}

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "checkpoint": self.checkpoint, "mode": self.mode, "backend": self.backend,
                "sampling": self.sampling, "tasks": self.tasks}


def run_facts(run_dir: Path) -> RunFacts:
    meta = read_run_meta(run_dir)
    identity = meta.get("identity", {})
    backend = meta.get("backend") or {}
    source = identity.get("source")
    checkpoint = identity.get("model") or backend.get("model") or source or "unknown"
    tasks = {name: {"version": facts.get("version"), "params": facts.get("params") or {},
                    "flags": (facts.get("source") or {}).get("flags") or {}}
             for name, facts in sorted((meta.get("tasks") or {}).items())}
    path = Path(str(checkpoint))
    return RunFacts(
        run_dir=str(run_dir), model=path.stem if checkpoint == source else path.name,  # a scored file: its stem
        checkpoint=str(checkpoint), mode=identity.get("mode") or "-",
        backend=backend.get("backend") or identity.get("backend") or "unknown",
        sampling=meta.get("sampling"), tasks=tasks, adaptive=meta.get("adaptive"),
        thinking_budget=(identity.get("backend_options") or {}).get("thinking_budget"))
