"""Markup for the report pages: escaping, tables, embedded PNGs and the page around the sections.

Written by hand because the page must be one file that needs nothing else: CSS inline, pictures as base64 `data:`
URIs, no script and no network. A templating library would add a dependency for a dozen small functions.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0;
       background: #f6f7f9; }
header { background: #1f2a44; color: #fff; padding: 16px 28px 10px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: #c9d1e3; font-size: 13px; }
nav { margin-top: 10px; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; }
nav a { color: #9fc3ff; text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 10px 18px 14px; margin: 14px 0; }
h2 { font-size: 17px; margin: 4px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; }
p.note { color: #555; margin: 4px 0 8px; }
p.failed { color: #a4001d; background: #fff0f0; border-left: 3px solid #a4001d; padding: 4px 8px; }
.row { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
details summary { cursor: pointer; color: #555; margin: 8px 0 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #e1e4ea; border-radius: 6px; padding: 6px 12px; min-width: 120px; }
.card .label { color: #666; font-size: 12px; }
.card .value { font-size: 19px; font-weight: 600; }
table { border-collapse: collapse; margin: 4px 0 8px; font-size: 13px; }
th, td { border-bottom: 1px solid #e6e8ec; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #c9ced8; }
img { max-width: 100%; height: auto; }
img.figure { max-width: 760px; }
.row img.figure { max-width: 560px; }
img.pixels { image-rendering: pixelated; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
figure.tile { margin: 0; text-align: center; font-size: 11px; width: 92px; }
figure.tile img { width: 84px; height: auto; border: 1px solid #ddd; }
figure.tile .wrong { color: #a4001d; }
code { background: #f0f2f6; padding: 0 3px; border-radius: 3px; font-size: 12px; }
pre { background: #f4f5f7; padding: 8px 12px; overflow: auto; font-size: 12px; max-height: 520px; }
.words span { padding: 1px 2px; border-radius: 2px; }
"""


@dataclass
class Section:
    """One part of a page: an anchor id, a heading, its HTML body, and what could not be drawn in it."""

    id: str
    title: str
    body: str = ""
    problems: list[str] = field(default_factory=list)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def image(data: bytes | Path, alt: str, css_class: str = "", width: int | None = None) -> str:
    """An `<img>` holding the PNG `data` (bytes, or a file to read) as a data URI."""
    if isinstance(data, Path):
        data = data.read_bytes()
    attributes = f' class="{css_class}"' if css_class else ""
    attributes += f' width="{width}"' if width else ""
    return f'<img src="{png_uri(data)}" alt="{esc(alt)}"{attributes}>'


def paragraph(text: str, css_class: str = "note") -> str:
    """Escaped text; `back-quoted` parts are shown as code."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))
    return f'<p class="{css_class}">{text}</p>'


def failed(what: str, error: BaseException | str) -> str:
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return f'<p class="failed">Could not draw {esc(what)}: {esc(reason)}</p>'


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] | None = None,
          row_attributes: Iterable[dict[str, object]] | None = None, css_id: str = "") -> str:
    """An HTML table; `numeric` right-aligns columns; `row_attributes` adds `data-*` attributes per row (values that
    tests and scripts read back without parsing the shown text)."""
    numeric = list(numeric or [False] * len(headers))
    attribute_rows = iter(row_attributes or ())
    head = "".join(f'<th{_num(n)}>{esc(h)}</th>' for h, n in zip(headers, numeric, strict=True))
    body = []
    for row in rows:
        extra = "".join(f' data-{key}="{esc(value)}"' for key, value in next(attribute_rows, {}).items())
        cells = "".join(f"<td{_num(n)}>{esc(cell)}</td>" for cell, n in zip(row, numeric, strict=True))
        body.append(f"<tr{extra}>{cells}</tr>")
    identifier = f' id="{esc(css_id)}"' if css_id else ""
    return f"<table{identifier}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def rich_table(source, css_id: str = "") -> str:
    """A rich `Table` (the ones `striate evaluate` and `striate summary` print) as HTML: the same columns and cells,
    its title above and caption below, rows after a section line (totals) in bold."""
    from rich.text import Text

    def plain(cell: object) -> str:
        return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain

    columns = source.columns
    numeric = [column.justify == "right" for column in columns]
    cells = [list(column.cells) for column in columns]
    head = "".join(f"<th{_num(n)}>{esc(plain(c.header))}</th>" for c, n in zip(columns, numeric, strict=True))
    body, total = [], False
    for index, row in enumerate(source.rows):
        values = "".join(f"<td{_num(n)}>{esc(plain(column[index]))}</td>"
                         for column, n in zip(cells, numeric, strict=True))
        body.append(f"<tr{' class=total' if total else ''}>{values}</tr>")
        total = total or row.end_section
    title = f"<h3>{esc(plain(source.title))}</h3>" if source.title else ""
    caption = paragraph(plain(source.caption)) if source.caption else ""
    identifier = f' id="{esc(css_id)}"' if css_id else ""
    return f"{title}<table{identifier}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{caption}"


def layers(network, heading: str) -> str:
    """`heading` (a sentence that may use `{total}`, the parameter count), then one row per leaf module of
    `network`: its name, type and own parameters."""
    rows = [(name, type(module).__name__, f"{sum(p.numel() for p in module.parameters(recurse=False)):,}")
            for name, module in network.named_modules() if name and not list(module.children())]
    total = sum(p.numel() for p in network.parameters())
    return paragraph(heading.format(total=f"{total:,}")) + table(["layer", "type", "parameters"], rows,
                                                                 [False, False, True])


def settings(data: dict) -> str:
    """A run's settings as the YAML its config.yaml holds, in a `<pre>` block."""
    import yaml

    return f"<pre>{esc(yaml.safe_dump(data, sort_keys=False))}</pre>"


def side_by_side(*parts: str) -> str:
    """Parts in one row where the window is wide enough, one under the other where it is not."""
    return '<div class="row">' + "".join(f"<div>{part}</div>" for part in parts) + "</div>"


def cards(items: Iterable[tuple[str, str, str]]) -> str:
    """Headline numbers as cards: (label, shown value, id)."""
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{esc(label)}</div><div class="value" id="{esc(key)}">{esc(value)}'
        f"</div></div>" for label, value, key in items) + "</div>"


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole document: header with a link to each section, then the sections in order."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    parts = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div>"
            f"<nav>{nav}</nav></header><main>{parts}</main></body></html>\n")
