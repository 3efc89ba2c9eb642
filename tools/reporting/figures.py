"""The report's figures (matplotlib, written as PNG and PDF).

Each builder returns a Figure (tests count its series); ``write_figures`` saves every figure the
tables allow. Points are seed means; error bars are the std over seeds.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.figure import Figure  # noqa: E402

from dassl.utils import atomic_path  # noqa: E402

from .curves import read_curves  # noqa: E402
from .runs import Run  # noqa: E402
from .tables import Table, setting_parameter  # noqa: E402

FIGURE_FORMATS = ("png", "pdf")
DPI = 110


def _rows(table: Table):
    return [row for row in table.rows if not row.summary]


def base_vs_novel(table: Table) -> Figure:
    """One scatter series per method: each point a dataset at (base, novel); grey: base = novel."""
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for method in table.methods:
        points = [(row.label, table.cell(row, method, "base"), table.cell(row, method, "novel")) for row in _rows(table)]
        points = [(label, b, n) for label, b, n in points if b is not None and n is not None]
        if not points:
            continue
        ax.errorbar([b.mean for _, b, _ in points], [n.mean for _, _, n in points],
                    xerr=[b.std for _, b, _ in points], yerr=[n.std for _, _, n in points],
                    fmt="o", capsize=2, label=method.label)
        for label, b, n in points:
            ax.annotate(label, (b.mean, n.mean), fontsize=7, xytext=(3, 3), textcoords="offset points")
    low, high = ax.get_xlim()[0], ax.get_xlim()[1]
    ax.plot([low, high], [low, high], color="0.8", linewidth=0.8, zorder=0)
    ax.set(xlabel="base accuracy (%)", ylabel="novel accuracy (%)", title="Base vs novel accuracy per dataset")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def bar_label(row) -> str:
    """Short tick labels: "imagenet (source)" stays, "average (11 datasets)" becomes "average"."""
    return row.label if row.key == "source" else row.label.split(" (")[0]


def grouped_bars(table: Table, metric: str, title: str, ylabel: str) -> Figure:
    """One bar series per method, one group per row (datasets, then the average when present)."""
    rows = [row for row in table.rows if any(table.cell(row, m, metric) for m in table.methods)]
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.4, 0.45 * len(rows) * len(table.methods) + 2)), 4.2))
    width = 0.8 / max(1, len(table.methods))
    for i, method in enumerate(table.methods):
        cells = [table.cell(row, method, metric) for row in rows]
        xs = [j + (i - (len(table.methods) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, [c.mean if c else 0.0 for c in cells], width, yerr=[c.std if c else 0.0 for c in cells],
               capsize=2, label=method.label)
    ax.set_xticks(range(len(rows)), [bar_label(row) for row in rows], rotation=35, ha="right", fontsize=8)
    values = [c.mean for row in rows for m in table.methods if (c := table.cell(row, m, metric))]
    if values:
        ax.set_ylim(max(0.0, min(values) - 10), min(100.0, max(values) + 5))
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def fewshot_curves(table: Table) -> Figure:
    """Accuracy against shots (log scale), one panel per dataset and the average, one line per method."""
    rows = [row for row in table.rows if row.cells]
    columns = min(4, len(rows))
    grid_rows = (len(rows) + columns - 1) // columns
    fig, axes = plt.subplots(grid_rows, columns, figsize=(3.2 * columns, 2.8 * grid_rows), squeeze=False)
    shots = [int(metric.split("-")[0]) for metric in table.metrics]
    for ax, row in zip(axes.flat, rows):
        for method in table.methods:
            points = [(k, c) for k, metric in zip(shots, table.metrics) if (c := table.cell(row, method, metric))]
            if points:
                ax.errorbar([k for k, _ in points], [c.mean for _, c in points], yerr=[c.std for _, c in points],
                            marker="o", capsize=2, label=method.label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.set_title(row.label, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("accuracy (%)")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Few-shot accuracy against shots per class")
    fig.tight_layout()
    return fig


def study_curve(table: Table) -> Figure:
    """HM (average over the study's datasets) against the study's parameter, one line per method."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    values = [setting_parameter(row.key) for row in table.rows]
    numeric = all(v is not None for v in values) and len(set(values)) == len(values)
    xs = values if numeric else list(range(len(table.rows)))
    for method in table.methods:
        points = [(x, c) for x, row in zip(xs, table.rows) if (c := table.cell(row, method, "HM"))]
        if points:
            ax.errorbar([x for x, _ in points], [c.mean for _, c in points], yerr=[c.std for _, c in points],
                        marker="o", capsize=2, label=method.label)
    if not numeric:
        ax.set_xticks(xs, [row.label for row in table.rows], rotation=20, fontsize=8)
    xlabel = "parameter read from the setting name" if numeric else "setting"
    ax.set(xlabel=f"{table.key.replace('study_', '')}: {xlabel}", ylabel="HM (%), average over datasets", title=table.title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def training_curves(runs: Sequence[Tuple[str, str]], title: str = "Training curves") -> Optional[Figure]:
    """Loss, accuracy and LR per epoch of (label, run folder) pairs; None when no log has a training line."""
    read = [(label, read_curves(folder)) for label, folder in runs]
    read = [(label, curves) for label, curves in read if curves.epochs]
    if not read:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for label, curves in read:
        axes[0].plot(curves.epochs, curves.meters.get("loss", [float("nan")] * len(curves.epochs)), marker=".", label=label)
        axes[1].plot(curves.epochs, curves.meters.get("acc", [float("nan")] * len(curves.epochs)), marker=".", label=label)
        axes[2].plot(curves.epochs, curves.lr, marker=".", label=label)
    for ax, name in zip(axes, ("training loss", "training accuracy (%)", "learning rate")):
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, bbox_to_anchor=(1.02, 1.0), loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_runs_of(table: Table) -> Dict[str, List[Tuple[str, str]]]:
    """Per base-to-novel method, its training runs of the lowest seed: (dataset, folder) pairs."""
    found = {}
    for method in table.methods:
        pairs = []
        for row in _rows(table):
            runs: Dict[int, Run] = table.cell_runs(row, method, "base")
            if runs:
                pairs.append((row.label, runs[min(runs)].folder))
        if pairs:
            found[method.label] = pairs
    return found


def save(fig: Figure, out_dir: str, name: str) -> List[str]:
    """Write ``name.png`` and ``name.pdf`` atomically; return their paths."""
    paths = []
    for ext in FIGURE_FORMATS:
        path = os.path.join(out_dir, f"{name}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text).strip("_")


def build_figures(tables: Sequence[Table], curve_runs: Sequence[str] = ()) -> Dict[str, Figure]:
    """{file stem: figure} for everything the tables (and the given run folders) allow."""
    by_key = {table.key: table for table in tables}
    figures: Dict[str, Figure] = {}
    if "base2new" in by_key:
        table = by_key["base2new"]
        figures["base_vs_novel"] = base_vs_novel(table)
        figures["hm_per_dataset"] = grouped_bars(table, "HM", "Base-to-novel HM per dataset", "HM (%)")
        for label, pairs in training_runs_of(table).items():
            fig = training_curves(pairs, f"Training curves: {label}, base classes (lowest seed per dataset)")
            if fig is not None:
                figures[f"training_curves_{safe_name(label)}"] = fig
    for key, title in (("xd", "Cross-dataset accuracy per target"), ("dg", "Domain generalization accuracy per target")):
        if key in by_key:
            figures[f"{key}_per_target"] = grouped_bars(by_key[key], "accuracy", title, "accuracy (%)")
    if "fewshot" in by_key:
        figures["fewshot_curves"] = fewshot_curves(by_key["fewshot"])
    for table in tables:
        if table.key.startswith("study_") and table.title.startswith("Study:"):
            figures[safe_name(table.key)] = study_curve(table)
    if curve_runs:
        fig = training_curves([(os.path.normpath(f), f) for f in curve_runs])
        if fig is not None:
            figures["training_curves_selected"] = fig
    return figures


def close_all(figures: Dict[str, Figure]) -> None:
    for fig in figures.values():
        plt.close(fig)


def save_all(figures: Dict[str, Figure], out_dir: str) -> Dict[str, List[str]]:
    """Save figures as PNG and PDF under out_dir (closing them); {stem: paths}."""
    return {stem: save(fig, out_dir, stem) for stem, fig in figures.items()}


def write_figures(tables: Sequence[Table], out_dir: str, curve_runs: Sequence[str] = ()) -> Dict[str, List[str]]:
    """Save every figure the tables (and the given run folders) allow under out_dir; {stem: paths}."""
    return save_all(build_figures(tables, curve_runs), out_dir)
