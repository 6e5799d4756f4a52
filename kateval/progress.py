"""A progress bar for long work (tqdm on a terminal, silent when disabled)."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class _Bar:
    def __init__(self, total: int, unit: str, enabled: bool):
        self._started = time.monotonic()
        self._tokens = 0
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def update(self, count: int, tokens: int = 0) -> None:
        self._tokens += tokens
        if self._bar is not None and self._tokens:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            self._bar.set_postfix_str(f"{self._tokens / elapsed:,.0f} tok/s", refresh=False)
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def progress_bar(total: int, unit: str, enabled: bool = True) -> Iterator[_Bar]:
    bar = _Bar(total, unit, enabled)
    try:
        yield bar
    finally:
        bar.close()
