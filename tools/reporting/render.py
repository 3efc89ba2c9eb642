"""Tables as Markdown, CSV, LaTeX (booktabs) and JSON.

A cell reads ``mean ± std (seeds)``; one seed has no spread and reads ``mean (1)``. The best mean of
each row and metric is bold when two or more methods have one. LaTeX leaves the seed counts to a
comment line (papers print them in the caption).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .methods import MissingRun, sweep_hint
from .stats import Stat
from .tables import Table

FORMATS = ("md", "csv", "latex", "json")
EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "json": "json"}


@dataclass
class PlainTable:
    """A table of ready strings (comparisons): a title, a header, rows and notes."""

    key: str
    title: str
    header: List[str]
    rows: List[List[str]]
    notes: List[str] = field(default_factory=list)
    records: List[Dict[str, object]] = field(default_factory=list)


def cell_text(cell: Optional[Stat], seeds: bool = True, plus_minus: str = "±", empty: str = "–") -> str:
    if cell is None:
        return empty
    text = f"{cell.mean:.2f}"
    if cell.seeds > 1:
        text += f" {plus_minus} {cell.std:.2f}"
    return f"{text} ({cell.seeds})" if seeds else text


def is_best(table: Table, row, metric: str, cell: Optional[Stat]) -> bool:
    best = table.best(row, metric)
    return cell is not None and best is not None and round(cell.mean, 2) == best


def grid(table: Table) -> List[List[str]]:
    """Header (method + metric per column) and rows of Markdown cell strings."""
    header = ["", *(f"{m.label} {metric}" for m in table.methods for metric in table.metrics)]
    body = []
    for row in table.rows:
        line = [f"**{row.label}**" if row.summary else row.label]
        for method in table.methods:
            for metric in table.metrics:
                cell = table.cell(row, method, metric)
                text = cell_text(cell)
                line.append(f"**{text}**" if is_best(table, row, metric, cell) else text)
        body.append(line)
    return [header, *body]


def markdown_grid(lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    def fmt(line: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))) + " |"
    separator = "|" + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(lines[0]), separator, *(fmt(line) for line in lines[1:])])


def missing_lines(missing: Sequence[MissingRun]) -> List[str]:
    if not missing:
        return []
    commands = list(dict.fromkeys(m.command for m in missing))
    return [f"Missing runs ({len(missing)}):", *(f"- {m.folder}" for m in missing),
            "Commands that fill them:", *(f"    {c}" for c in commands), *sweep_hint()]


def to_markdown(table) -> str:
    if isinstance(table, PlainTable):
        lines = [table.header, *table.rows]
    else:
        lines = grid(table)
    parts = [f"### {table.title}", "", markdown_grid(lines)]
    notes = list(table.notes)
    if not isinstance(table, PlainTable):
        notes.insert(0, "Each cell: mean ± std over seeds (number of seeds); best per row in bold.")
    parts += ["", *(f"- {n}" for n in notes)]
    if not isinstance(table, PlainTable) and table.missing:
        parts += ["", *missing_lines(table.missing)]
    return "\n".join(parts) + "\n"


def to_csv(table) -> str:
    """Long format (one line per cell): row, method, metric, mean, std, seeds, best."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(table, PlainTable):
        writer.writerow(table.header)
        writer.writerows(table.rows)
        return out.getvalue()
    writer.writerow(["table", "row", "method", "trainer", "config", "metric", "mean", "std", "seeds", "best"])
    for row in table.rows:
        for method in table.methods:
            for metric in table.metrics:
                cell = table.cell(row, method, metric)
                if cell is not None:
                    writer.writerow([table.key, row.key, method.label, method.trainer, method.cfg, metric,
                                     f"{cell.mean:.4f}", f"{cell.std:.4f}", cell.seeds,
                                     int(is_best(table, row, metric, cell))])
    return out.getvalue()


LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table) -> str:
    if isinstance(table, PlainTable):
        columns = "l" + "r" * (len(table.header) - 1)
        head = " & ".join(latex_escape(h) for h in table.header) + r" \\"
        body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
        lines = [r"\begin{tabular}{" + columns + "}", r"\toprule", head, r"\midrule", *body, r"\bottomrule", r"\end{tabular}"]
        return f"% {latex_escape(table.title)}\n" + "\n".join(lines) + "\n"
    width = len(table.metrics)
    columns = "l" + "".join("c" * width for _ in table.methods)
    groups = " & ".join(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(m.label)}}}" for m in table.methods)
    rules = " ".join(rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}" for i in range(len(table.methods)))
    metrics = " & ".join(latex_escape(metric) for _ in table.methods for metric in table.metrics)
    body = []
    for row in table.rows:
        if row.summary:
            body.append(r"\midrule")
        cells = []
        for method in table.methods:
            for metric in table.metrics:
                cell = table.cell(row, method, metric)
                text = cell_text(cell, seeds=False, plus_minus=r"$\pm$", empty="--")
                cells.append(rf"\textbf{{{text}}}" if is_best(table, row, metric, cell) else text)
        body.append(" & ".join([latex_escape(row.label), *cells]) + r" \\")
    seeds = sorted({c.seeds for row in table.rows for c in row.cells.values()})
    lines = [
        f"% {latex_escape(table.title)}; needs \\usepackage{{booktabs}}",
        f"% seeds per cell: {', '.join(map(str, seeds))} (mean $\\pm$ std over seeds; best per row in bold)",
        r"\begin{tabular}{" + columns + "}", r"\toprule",
        " & " + groups + r" \\", rules, " & " + metrics + r" \\", r"\midrule", *body, r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def stat_json(cell: Stat) -> Dict[str, object]:
    return {"mean": cell.mean, "std": cell.std, "seeds": cell.seeds,
            "per_seed": {str(k): v for k, v in cell.per_seed.items()}}


def table_json(table) -> Dict[str, object]:
    if isinstance(table, PlainTable):
        return {"key": table.key, "title": table.title, "header": table.header, "rows": table.rows,
                "records": table.records, "notes": table.notes}
    return {
        "key": table.key, "title": table.title, "metrics": table.metrics,
        "methods": [{"label": m.label, "trainer": m.trainer, "config": m.cfg} for m in table.methods],
        "rows": [{"key": row.key, "label": row.label, "summary": row.summary,
                  "cells": {m.label: {metric: stat_json(c) for metric in table.metrics
                                      if (c := table.cell(row, m, metric)) is not None}
                            for m in table.methods}}
                 for row in table.rows],
        "missing": [{"folder": m.folder, "command": m.command} for m in table.missing],
        "notes": table.notes,
    }


def to_json(table) -> str:
    return json.dumps(table_json(table), indent=2) + "\n"


RENDERERS = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json}


def render(tables: Sequence, fmt: str) -> str:
    """All tables in one format, as one text (JSON: one list)."""
    if fmt == "json":
        return json.dumps([table_json(t) for t in tables], indent=2) + "\n"
    return "\n".join(RENDERERS[fmt](t) for t in tables)
