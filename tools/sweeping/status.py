"""The progress of a sweep: done / running / failed / missing per method and dataset, and the tables."""
from __future__ import annotations

import contextlib
import io
import os
import os.path as osp
from collections import Counter, OrderedDict
from typing import Dict, List, Sequence, Tuple

from dassl.utils import atomic_path

from .runs import STATES, Run, failure_record, run_state
from .spec import SweepSpec


def progress_bar(done: int, total: int, width: int = 40) -> str:
    filled = width * done // total if total else width
    percent = 100 * done // total if total else 100
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done ({percent}%)"


def count_states(states: Sequence[str]) -> Dict[str, int]:
    counter = Counter(states)
    return {state: counter.get(state, 0) for state in STATES}


def summary_line(states: Sequence[str]) -> str:
    counts = count_states(states)
    return f"{progress_bar(counts['done'], len(states))}, {counts['running']} running, " \
           f"{counts['failed']} failed, {counts['missing']} missing"


def status_report(spec: SweepSpec, runs: Sequence[Run]) -> str:
    """The status table of a sweep, then the log files of its failed runs."""
    states = [run_state(run) for run in runs]
    groups: "OrderedDict[Tuple[str, str], List[str]]" = OrderedDict()
    for run, state in zip(runs, states):
        groups.setdefault((run.method, run.dataset), []).append(state)
    rows = [["method", "dataset", *STATES]]
    for (method, dataset), group in groups.items():
        counts = count_states(group)
        rows.append([method, dataset, *(str(counts[state]) for state in STATES)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                      for row in rows)
    lines = [f"sweep {spec.name} ({spec.protocol}, {len(runs)} runs)", summary_line(states), "", table]
    failed = [run for run, state in zip(runs, states) if state == "failed"]
    if failed:
        lines += ["", "failed runs (their output):"]
        for run in failed:
            record = failure_record(run) or {}
            lines.append(f"  {run.outdir}: exit {record.get('exit_code')}; log {record.get('log', run.log_path())}; "
                         f"errors {record.get('stderr', '-')}")
    return "\n".join(lines)


def table_roots(runs: Sequence[Run]) -> List[str]:
    """The output roots of the grid's tables: OUTPUT, or each setting's folder of a study."""
    roots: List[str] = []
    for run in runs:
        root = run.outdir[: run.outdir.index(f"/{run.protocol}/{run.phase}/{run.dataset}/")]
        if root not in roots and not (run.setting == "clean" and "/studies/text_noise/" in run.outdir):
            roots.append(root)
    return roots


def tables_text(runs: Sequence[Run]) -> str:
    """What ``python tools/report.py ROOT`` prints, for every output root of the grid."""
    from tools import report

    sections = []
    for root in table_roots(runs):
        printed = io.StringIO()
        if osp.isdir(root):
            with contextlib.redirect_stdout(printed):
                report.main([root])
        sections.append(f"##### {root}\n{printed.getvalue().rstrip() or 'No finished runs.'}")
    return "\n\n".join(sections)


def tables_path(spec: SweepSpec) -> str:
    return osp.join(spec.output_root, "sweeps", f"{spec.name}.tables.txt")


def write_tables(spec: SweepSpec, runs: Sequence[Run]) -> str:
    """Write the tables to OUTPUT/sweeps/<name>.tables.txt (atomically); return the text."""
    text = tables_text(runs)
    path = tables_path(spec)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        handle.write(text + "\n")
    return text
