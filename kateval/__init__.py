"""kateval: accuracy and token cost of reasoning LLMs, per sample, with AutoThink mode accounting.

From Python: `kateval.load_run(path)`, `kateval.evaluate(model=..., tasks=..., n=...)`, `kateval.compare(a, b)`,
`kateval.leaderboard(runs)` (kateval.api). They are imported on first use, so the command line does not pay for
pandas."""
__version__ = "0.1.0"

API = ("Run", "load_run", "evaluate", "compare", "leaderboard")
__all__ = ["Run", "__version__", "compare", "evaluate", "leaderboard", "load_run"]


def __getattr__(name: str):
    if name in API:
        from kateval import api

        return getattr(api, name)
    raise AttributeError(f"module 'kateval' has no attribute {name!r}")
