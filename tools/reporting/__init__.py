"""Tables, comparisons, figures and an HTML page from the runs under an output root.

The public entry points (tools/report.py is their command line; a sweep calls ``write_report`` when
it ends):

- ``build_tables(output_root, methods=None)``: every table the finished runs allow;
- ``missing_runs(output_root)``: what the tables still lack, each with the command that fills it;
- ``write_report(output_root, out_dir, formats=...)``: tables in each format, figures, the HTML page
  and missing_runs.txt under out_dir.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

from dassl.utils import atomic_path

from .compare import compare_methods, compare_published, load_published
from .figures import build_figures, close_all, save_all, write_figures
from .html_page import page
from .methods import MissingRun, sweep_hint
from .render import EXTENSIONS, FORMATS, RENDERERS, PlainTable, missing_lines, render
from .runs import Run, find_runs
from .tables import Table, all_tables


def build_tables(output_root: str, methods: Optional[Sequence[str]] = None) -> List[Table]:
    return all_tables(find_runs(output_root), output_root, methods)


def missing_runs(output_root: str, methods: Optional[Sequence[str]] = None) -> List[MissingRun]:
    """Every run the tables need and the output root lacks, once each, with its command."""
    unique = {}
    for table in build_tables(output_root, methods):
        for run in table.missing:
            unique.setdefault(run.folder, run)
    return list(unique.values())


def write_text(path: str, text: str) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            handle.write(text)
    return path


def write_tables(tables: Sequence, out_dir: str, formats: Sequence[str]) -> List[str]:
    """``out_dir/<table key>.<ext>`` per table and format."""
    return [write_text(os.path.join(out_dir, f"{table.key}.{EXTENSIONS[fmt]}"), RENDERERS[fmt](table))
            for table in tables for fmt in formats]


def missing_text(missing: Sequence[MissingRun]) -> str:
    return "\n".join(missing_lines(missing)) + "\n" if missing else "No missing runs.\n"


def write_report(
    output_root: str, out_dir: str, formats: Sequence[str] = FORMATS, figures: bool = True, html: bool = True,
    methods: Optional[Sequence[str]] = None, compare_with_published: bool = True,
) -> Dict[str, List[str]]:
    """Everything under out_dir: tables/<key>.<ext>, figures/<name>.png|pdf, report.html, missing_runs.txt.

    Returns {"tables": paths, "figures": paths, "html": [path], "missing": [path]}.
    """
    tables: List = build_tables(output_root, methods)
    if compare_with_published and tables:
        tables.append(compare_published(tables))
    written: Dict[str, List[str]] = {"tables": write_tables(tables, os.path.join(out_dir, "tables"), formats)}
    figs = build_figures([t for t in tables if isinstance(t, Table)]) if (figures or html) else {}
    if html:
        written["html"] = [write_text(os.path.join(out_dir, "report.html"),
                                      page(f"Results: {output_root}", tables, figs, output_root))]
    if figures:
        saved = save_all(figs, os.path.join(out_dir, "figures"))
        written["figures"] = [path for paths in saved.values() for path in paths]
    close_all(figs)
    missing = [run for table in tables if isinstance(table, Table) for run in table.missing]
    written["missing"] = [write_text(os.path.join(out_dir, "missing_runs.txt"), missing_text(missing))]
    return written


__all__ = [
    "FORMATS", "MissingRun", "PlainTable", "Run", "Table", "build_figures", "build_tables", "compare_methods",
    "compare_published", "find_runs", "load_published", "missing_runs", "missing_text", "render", "sweep_hint", "write_figures",
    "write_report", "write_tables", "write_text",
]
