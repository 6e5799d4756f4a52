"""Reading the markdown tables kateval writes (pandas/tabulate pads their cells to the column width)."""
from __future__ import annotations

import re


def unpadded(markdown: str) -> str:
    """Table lines with single spaces around every cell, as in `| a | b |`; other lines unchanged."""
    return "\n".join(re.sub(r" *\| *", " | ", line).strip() if line.startswith("|") else line
                     for line in markdown.splitlines())


def md_cells(markdown: str, first: str) -> list[str]:
    """The cells of the first table row whose first cell is `first`."""
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no table row starting with {first!r}")
