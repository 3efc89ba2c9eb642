"""Our tables against the published numbers, and two of our methods against each other.

Against the published numbers a cell is flagged when |ours - published| exceeds the seed noise: the
std over our seeds, or with one seed the typical noise of docs/published.yaml (the figures of
docs/REPRODUCE.md). Between methods each cell gets a paired t-test over the seeds both have, or with
a single common seed a paired bootstrap over the test images (from the runs' predictions.npz), so a
gap within the noise is not read as a win.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from dassl.evaluation import read_predictions
from dassl.utils.errors import FrameworkError

from .methods import REPO_ROOT
from .render import PlainTable, cell_text
from .stats import Difference, Stat, bootstrap_images, paired_t_test
from .tables import Method, Row, Table

PUBLISHED_FILE = os.path.join(REPO_ROOT, "docs", "published.yaml")
METRICS = ("base", "novel", "HM", "accuracy")


class CompareError(FrameworkError, ValueError):
    """A comparison that cannot be made as asked."""


def load_published(path: str = PUBLISHED_FILE) -> Dict[str, object]:
    with open(path) as handle:
        data = yaml.safe_load(handle)
    for entry in data["numbers"]:
        if entry["source"] not in data["sources"] or entry["method"] not in data["methods"]:
            raise CompareError(f"{path}: {entry} names an unknown source or method; add it to 'sources'/'methods'.")
    return data


def typical_noise(published: Dict[str, object], row_key: str) -> float:
    noise = published["typical_noise"]
    if row_key in ("average",):
        return float(noise["average"])
    return float(noise["small_dataset"] if row_key in noise["small_datasets"] else noise["dataset"])


def compare_published(tables: Sequence[Table], published: Optional[Dict[str, object]] = None) -> PlainTable:
    """Ours, published and ours - published for every published cell of a method we ran."""
    published = published or load_published()
    by_key = {table.key: table for table in tables}
    header = ["method", "table", "row", "metric", "ours", "published", "diff", "noise", "beyond noise", "source"]
    rows, records = [], []
    for entry in published["numbers"]:
        trainer = published["methods"][entry["method"]]
        table = by_key.get(entry["table"])
        if trainer is None or table is None:
            continue
        row = next((r for r in table.rows if r.key == entry["row"]), None)
        for method in (m for m in table.methods if m.trainer == trainer):
            for metric in (m for m in METRICS if m in entry):
                ours = table.cell(row, method, metric) if row is not None else None
                value = float(entry[metric])
                if ours is None:
                    state = "incomplete" if entry["row"] == "average" and row is not None else "not run"
                    line = [method.label, table.key, entry["row"], metric, state, f"{value:.2f}", "", "", "", entry["source"]]
                    record = {"diff": None}
                else:
                    diff = ours.mean - value
                    if ours.seeds > 1:
                        noise, kind = ours.std, "seed std"
                    else:
                        noise, kind = typical_noise(published, entry["row"]), "typical"
                    beyond = abs(diff) > noise
                    line = [method.label, table.key, entry["row"], metric, cell_text(ours), f"{value:.2f}",
                            f"{diff:+.2f}", f"{noise:.2f} ({kind})", "YES" if beyond else "no", entry["source"]]
                    record = {"diff": diff, "noise": noise, "noise_kind": kind, "beyond_noise": beyond,
                              "ours": ours.mean, "seeds": ours.seeds}
                rows.append(line)
                records.append({"method": method.label, "table": table.key, "row": entry["row"], "metric": metric,
                                "published": value, "source": entry["source"], **record})
    notes = ["beyond noise: |diff| exceeds the std over our seeds, or with one seed the typical noise "
             "(docs/published.yaml, docs/REPRODUCE.md).",
             *(f"{key}: {text}" for key, text in published["sources"].items())]
    if not rows:
        notes.insert(0, "None of the methods run here has a published number in docs/published.yaml.")
    return PlainTable("compare_published", "Ours against the published numbers", header, rows, notes, records)


def find_method(tables: Sequence[Table], name: str) -> List[Tuple[Table, Method]]:
    lowered = name.lower()
    found = [(t, m) for t in tables for m in t.methods
             if lowered in {m.label.lower(), m.trainer.lower(), f"{m.trainer}/{m.cfg}".lower()}]
    if not found:
        labels = sorted({m.label for t in tables for m in t.methods} | {m.trainer for t in tables for m in t.methods})
        raise CompareError(f"No method {name!r} in the output root. Pass one of: {', '.join(labels)} "
                           "(or TRAINER/CFG).")
    return found


def _correct(table: Table, row: Row, method: Method, metric: str) -> Optional[np.ndarray]:
    """Per-image correctness of the cell's lowest seed, from its predictions.npz (None without one)."""
    runs = table.cell_runs(row, method, metric)
    run = runs[min(runs)] if runs else None
    if run is None or run.predictions_path is None:
        return None
    targets, preds = read_predictions(run.predictions_path)
    return preds == targets


def test_cell(a: Stat, b: Stat, correct_a: List[Optional[np.ndarray]], correct_b: List[Optional[np.ndarray]],
              metric: str) -> Optional[Difference]:
    common = set(a.per_seed) & set(b.per_seed)
    if len(common) >= 2:
        return paired_t_test(a.per_seed, b.per_seed)
    usable = correct_a and all(c is not None for c in correct_a + correct_b)
    if not usable:
        return None
    if any(len(ca) != len(cb) for ca, cb in zip(correct_a, correct_b)):
        raise CompareError("The two methods' predictions.npz cover different numbers of test images; "
                           "they must be evaluated on the same split.")
    return bootstrap_images(correct_a, correct_b, combine="hm" if metric == "HM" else "accuracy")


def compare_methods(tables: Sequence[Table], name_a: str, name_b: str) -> PlainTable:
    """A - B per dataset (and average) of every table both appear in, with the test's p-value."""
    found_a, found_b = find_method(tables, name_a), find_method(tables, name_b)
    header = ["table", "row", "metric", "A", "B", "A - B", "test", "p", "verdict"]
    rows, records = [], []
    for table, method_a in found_a:
        method_b = next((m for t, m in found_b if t is table), None)
        if method_b is None:
            continue
        for row in table.rows:
            for metric in table.metrics:
                a, b = table.cell(row, method_a, metric), table.cell(row, method_b, metric)
                if a is None or b is None:
                    continue
                measured = ["base", "novel"] if metric == "HM" else [metric]
                correct_a = [] if row.summary else [_correct(table, row, method_a, m) for m in measured]
                correct_b = [] if row.summary else [_correct(table, row, method_b, m) for m in measured]
                result = test_cell(a, b, correct_a, correct_b, metric)
                if result is None:
                    test, p_text, verdict = "none (1 seed, no predictions.npz)", "", "untested"
                else:
                    test, p_text = result.test, f"{result.p_value:.3g}"
                    verdict = (f"{method_a.label} better" if result.diff > 0 else f"{method_b.label} better") \
                        if result.significant else "within noise"
                diff = a.mean - b.mean
                rows.append([table.key, row.label, metric, cell_text(a), cell_text(b), f"{diff:+.2f}", test, p_text, verdict])
                records.append({"table": table.key, "row": row.key, "metric": metric, "a": a.mean, "b": b.mean,
                                "diff": diff, "test": test, "p_value": None if result is None else result.p_value,
                                "verdict": verdict})
    if not rows:
        raise CompareError(f"{name_a} and {name_b} share no table cell: run both on the same protocol and datasets.")
    notes = [f"A = {found_a[0][1].label}, B = {found_b[0][1].label}. Significance level 0.05, two-sided.",
             "Over 2+ common seeds: Student's paired t-test on the per-seed values (per-seed HM for HM). "
             "With one seed: paired bootstrap over the test images of predictions.npz (2000 resamples)."]
    return PlainTable("compare_methods", f"{found_a[0][1].label} against {found_b[0][1].label}", header, rows, notes, records)
