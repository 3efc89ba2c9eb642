"""One self-contained HTML page: every table and figure (PNG embedded as base64), opening from disk."""
from __future__ import annotations

import base64
import html
import io
import time
from typing import Dict, Sequence

from matplotlib.figure import Figure

from .render import PlainTable, cell_text, is_best, missing_lines
from .tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #888; } tr.summary td { border-top: 2px solid #888; font-weight: 600; }
td.best { font-weight: 700; background: #e3f2e3; } .group-start { border-left: 1px solid #bbb; }
.scroll { overflow-x: auto; max-width: 100%; }
.notes { font-size: 0.85em; color: #555; } pre { background: #f6f6f6; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""


def _group_start(index: int) -> str:
    return ' class="group-start"' if index == 0 else ""


def table_html(table: Table) -> str:
    esc = html.escape
    group = "".join(f'<th colspan="{len(table.metrics)}" class="group-start" style="text-align:center">{esc(m.label)}</th>'
                    for m in table.methods)
    metrics = "".join(f'<th{_group_start(i)}>{esc(metric)}</th>' for _ in table.methods
                      for i, metric in enumerate(table.metrics))
    body = []
    for row in table.rows:
        cells = []
        for method in table.methods:
            for metric in table.metrics:
                cell = table.cell(row, method, metric)
                css = " ".join(name for name, wanted in (("best", is_best(table, row, metric, cell)),
                                                          ("group-start", metric == table.metrics[0])) if wanted)
                cells.append(f'<td class="{css}">{esc(cell_text(cell))}</td>' if css else f"<td>{esc(cell_text(cell))}</td>")
        css = ' class="summary"' if row.summary else ""
        body.append(f"<tr{css}><td>{esc(row.label)}</td>{''.join(cells)}</tr>")
    head = f"<thead><tr><th></th>{group}</tr><tr><th></th>{metrics}</tr></thead>"
    return f'<table data-table="{esc(table.key)}">{head}<tbody>{"".join(body)}</tbody></table>'


def plain_html(table: PlainTable) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f'<table data-table="{esc(table.key)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def figure_png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page(title: str, tables: Sequence, figures: Dict[str, Figure], source: str) -> str:
    """The whole page as one string."""
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>",
             f'<p class="notes">Made by tools/report.py from {esc(source)} on {time.strftime("%Y-%m-%d %H:%M")}. '
             "Each cell: mean ± std over seeds (number of seeds); the best value of a row is bold.</p>"]
    for table in tables:
        parts.append(f"<h2>{esc(table.title)}</h2>")
        parts.append('<div class="scroll">' + (plain_html(table) if isinstance(table, PlainTable) else table_html(table))
                     + "</div>")
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{esc(n)}</li>" for n in table.notes) + "</ul>")
        if isinstance(table, Table) and table.missing:
            parts.append(f"<pre>{esc(chr(10).join(missing_lines(table.missing)))}</pre>")
    if figures:
        parts.append("<h2>Figures</h2>")
    for stem, fig in figures.items():
        parts.append(f'<figure data-figure="{esc(stem)}"><img alt="{esc(stem)}" '
                     f'src="data:image/png;base64,{figure_png(fig)}"><figcaption>{esc(stem)}</figcaption></figure>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
