"""Markdown and self-contained HTML from one neutral document: a title, lines of text, tables and figures.
Reports, comparisons and leaderboards build the document; these functions only write it out.

A document may lead with a headline (the tables and figure a reader wants first); everything else follows as
details. A table cell is text, or a Link (to a sample in a run's report, for instance)."""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

FLOAT_NOISE = Decimal("1e-12")   # below any rate a report shows; above a float's rounding error
STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
nav{font-size:14px;margin:.3em 0 1em}nav a{margin-right:1.2em}
.facts{color:#555;font-size:14px;margin:.2em 0}.facts p{margin:.1em 0}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}.note{background:#fff4d6;padding:.5em 1em;border-left:4px solid #e0a800}
.caption{color:#444;font-size:14px}
.headline table{font-size:16px}.headline img{display:block;max-width:100%;border:1px solid #ddd}
.figures{display:flex;flex-wrap:wrap;gap:12px}.figures figure{margin:0;flex:0 1 582px}
.figures img{max-width:100%;border:1px solid #ddd}"""


@dataclass(frozen=True)
class Link:
    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str
    png: bytes
    caption: str = ""


@dataclass
class Document:
    title: str
    lines: list[str] = field(default_factory=list)     # facts shown under the title
    notes: list[str] = field(default_factory=list)     # warnings that change how numbers read
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)   # name -> PNG
    headline: list[Table | Figure] = field(default_factory=list)   # shown first; tables and figures are details
    appendix_html: str = ""       # trusted HTML put last in the page (the sample browser); not in markdown
    appendix_markdown: str = ""   # what markdown says in its place


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_figures(out_dir: Path, folder: str, figures: dict[str, bytes]) -> dict[str, str]:
    """Each PNG as out_dir/folder/NAME.png; returns name -> that path relative to out_dir (what markdown links)."""
    (out_dir / folder).mkdir(parents=True, exist_ok=True)
    paths = {name: f"{folder}/{name}.png" for name in figures}
    for name, png in figures.items():
        (out_dir / paths[name]).write_bytes(png)
    return paths


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


# ------------------------------------------------------------------ markdown
def _md_cell(value: Any) -> str:
    if isinstance(value, Link):
        return f"[{_md_cell(value.text)}]({value.href.replace(' ', '%20').replace(')', '%29')})"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    cells = pd.DataFrame([[_md_cell(c) for c in row] for row in table.rows],
                         columns=[_md_cell(h) for h in table.header])
    aligns = ["left", *["right"] * (len(table.header) - 1)]
    text = cells.to_markdown(index=False, tablefmt="pipe", disable_numparse=True, colalign=aligns)
    return [f"## {table.title}", "", *([table.caption, ""] if table.caption else []), text, ""]


def _md_figure(name: str, path: str | None, caption: str = "") -> list[str]:
    return [f"![{name}]({path})", *([caption] if caption else []), ""] if path else []


def to_markdown(doc: Document, figure_paths: dict[str, str] | None = None) -> str:
    """figure_paths: figure name -> where its PNG was written (markdown cannot inline images)."""
    paths = figure_paths or {}
    out = [f"# {doc.title}", ""]
    out += [f"- {line}" for line in doc.lines]
    out += [""] + [f"> **Note:** {note}" for note in doc.notes] + ([""] if doc.notes else [])
    for block in doc.headline:
        out += _md_table(block) if isinstance(block, Table) else _md_figure(block.name, paths.get(block.name),
                                                                            block.caption)
    if doc.headline and doc.tables:
        out += ["# Details", ""]
    for table in doc.tables:
        out += _md_table(table)
    for name in doc.figures:
        out += _md_figure(name, paths.get(name))
    if doc.appendix_markdown:
        out += [doc.appendix_markdown, ""]
    return "\n".join(out)


# ------------------------------------------------------------------ html
def _html_cell(value: Any) -> str:
    if isinstance(value, Link):
        return f"<a href='{html.escape(value.href, quote=True)}'>{html.escape(value.text)}</a>"
    return html.escape(str(value))


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in table.header)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>" for row in table.rows)
    caption = f"<p class='caption'>{html.escape(table.caption)}</p>" if table.caption else ""
    return f"<h2>{html.escape(table.title)}</h2>{caption}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(name: str, png: bytes) -> str:
    return f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"


def _html_figure(figure: Figure) -> str:
    caption = f"<p class='caption'>{html.escape(figure.caption)}</p>" if figure.caption else ""
    return _img(figure.name, figure.png) + caption


def to_html(doc: Document) -> str:
    """One file, no outside references: figures are inlined as data URIs so it opens offline."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>",
             f"<style>{STYLE}</style></head><body>"]
    sections = [("headline", "Headline", bool(doc.headline)), ("details", "Details", bool(doc.headline and doc.tables)),
                ("figures", "Figures", bool(doc.figures)), ("samples", "Samples", bool(doc.appendix_html))]
    links = [f"<a href='#{anchor}'>{label}</a>" for anchor, label, present in sections if present]
    if len(links) > 1:
        parts.append("<nav>" + "".join(links) + "</nav>")
    parts.append(f"<h1>{html.escape(doc.title)}</h1>")
    if doc.lines and doc.headline:
        parts.append("<div class='facts'>" + "".join(f"<p>{html.escape(line)}</p>" for line in doc.lines) + "</div>")
    elif doc.lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in doc.lines) + "</ul>")
    parts += [f"<p class='note'><b>Note:</b> {html.escape(note)}</p>" for note in doc.notes]
    if doc.headline:
        parts.append("<section id='headline' class='headline'>" + "".join(
            _html_table(block) if isinstance(block, Table) else _html_figure(block) for block in doc.headline)
            + "</section>")
    if doc.tables:
        parts.append("<section id='details'>" + ("<h1>Details</h1>" if doc.headline else "")
                     + "".join(_html_table(table) for table in doc.tables) + "</section>")
    if doc.figures:
        parts.append("<section id='figures'><h2>Figures</h2><div class='figures'>" + "".join(
            f"<figure>{_img(name, png)}</figure>" for name, png in doc.figures.items()) + "</div></section>")
    parts.append(doc.appendix_html)
    parts.append("</body></html>")
    return "\n".join(parts)
