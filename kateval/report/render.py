"""Markdown and self-contained HTML from one neutral document: a title, lines of text, tables and figures.
Reports, comparisons and leaderboards build the document; these functions only write it out."""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

FLOAT_NOISE = Decimal("1e-12")   # below any rate a report shows; above a float's rounding error
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}.note{background:#fff4d6;padding:.5em 1em;border-left:4px solid #e0a800}
.figures{display:flex;flex-wrap:wrap;gap:1%}.figures img{width:49%;border:1px solid #ddd}"""


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Document:
    title: str
    lines: list[str] = field(default_factory=list)     # facts shown under the title
    notes: list[str] = field(default_factory=list)     # warnings that change how numbers read
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)   # name -> PNG


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pct(value: float | None, digits: int = 1) -> str:
    """The one way a rate is printed (accuracy, pass@k, CIs, think rate...): the float first read to 12 decimals,
    so two computations of one number that differ in the last binary digit print alike (0.48749999999999993 and
    0.4875), then rounded half up (48.8%; Python's own formatting rounds half to even on the binary value)."""
    if value is None:
        return "-"
    exact = Decimal(repr(float(value))).quantize(FLOAT_NOISE)
    percent = (exact * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{abs(percent) if percent.is_zero() else percent}%"


def num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def interval(bounds: list[float] | None, digits: int = 1) -> str:
    return "-" if bounds is None else f"[{pct(bounds[0], digits)}, {pct(bounds[1], digits)}]"


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, figure_paths: dict[str, str] | None = None) -> str:
    out = [f"# {doc.title}", ""]
    out += [f"- {line}" for line in doc.lines]
    out += [""] + [f"> **Note:** {note}" for note in doc.notes] + ([""] if doc.notes else [])
    for table in doc.tables:
        out += [f"## {table.title}", ""] + ([table.caption, ""] if table.caption else [])
        out.append("| " + " | ".join(map(_md_cell, table.header)) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.header))) + "|")
        out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
        out.append("")
    for name, path in (figure_paths or {}).items():
        out += [f"![{name}]({path})", ""]
    return "\n".join(out)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
                   for row in table.rows)
    caption = f"<p>{html.escape(table.caption)}</p>" if table.caption else ""
    return f"<h2>{html.escape(table.title)}</h2>{caption}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(doc: Document) -> str:
    """One file, no outside references: figures are inlined as data URIs so it opens offline."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(doc.title)}</h1>"]
    if doc.lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in doc.lines) + "</ul>")
    parts += [f"<p class='note'><b>Note:</b> {html.escape(note)}</p>" for note in doc.notes]
    parts += [_html_table(table) for table in doc.tables]
    if doc.figures:
        parts.append("<h2>Figures</h2><div class='figures'>" + "".join(
            f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
            for name, png in doc.figures.items()) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
