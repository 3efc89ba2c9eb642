"""Print the paper's tables from the result.json files under an output root.

    python tools/report.py output

Every finished run leaves ``result.json`` in its folder, laid out by the scripts as
``<protocol>/<phase>/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>/`` (docs/REPRODUCE.md):

- base2new/train_base (accuracy on the base classes) and base2new/test_new (new classes);
- xd/train/imagenet (the source accuracy), xd/test/<dataset> and dg/test/<dataset> (targets);
- fewshot/train_all/<dataset>/shots_<K> (all classes).

Each cell is the mean over the seeds found, with the number of seeds in brackets. The base-to-novel
HM of a dataset is 2BN/(B+N) on the seed means; the average row averages B and N over the datasets
that have both and takes the HM of those averages (the convention of the published tables).
Runs are grouped by trainer and config; a config named ``<cfg>_imnet`` (MMA's ImageNet batch size)
counts as ``<cfg>`` so that ImageNet joins the other datasets' rows. Unfinished runs (no
result.json) are not counted.
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

DATASET_ORDER = [
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
    "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r",
]
IMAGENET_CFG_SUFFIX = "_imnet"
RUN_DIR_PATTERN = re.compile(
    r"^(?P<protocol>[^/]+)/(?P<phase>[^/]+)/(?P<dataset>[^/]+)/shots_(?P<shots>-?\d+)/"
    r"(?P<trainer>[^/]+)/(?P<cfg>[^/]+)/seed(?P<seed>-?\d+)$"
)


@dataclass(frozen=True)
class Run:
    protocol: str
    phase: str
    dataset: str
    shots: int
    trainer: str
    cfg: str
    seed: int
    accuracy: float


@dataclass(frozen=True)
class Cell:
    """A metric averaged over seeds."""

    mean: float
    seeds: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} ({self.seeds})"


def read_accuracy(result_path: str) -> float:
    """The test accuracy (percent) recorded in a run's result.json."""
    try:
        with open(result_path) as handle:
            result = json.load(handle)
        return float(result["metrics"]["accuracy"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"Cannot read the accuracy from {result_path}: {err!r}. Delete the file and re-run that "
            "run's script to regenerate it."
        ) from err


def find_runs(output_root: str) -> List[Run]:
    """Every finished run under output_root whose folder follows the scripts' layout."""
    if not os.path.isdir(output_root):
        raise SystemExit(f"No such output folder: {output_root!r}. Pass the OUTPUT root the scripts wrote to.")
    runs = []
    for folder, _, files in os.walk(output_root):
        if "result.json" not in files:
            continue
        relative = os.path.relpath(folder, output_root).replace(os.sep, "/")
        match = RUN_DIR_PATTERN.match(relative)
        if match is None:
            continue
        fields = match.groupdict()
        runs.append(Run(
            protocol=fields["protocol"], phase=fields["phase"], dataset=fields["dataset"],
            shots=int(fields["shots"]), trainer=fields["trainer"], cfg=fields["cfg"],
            seed=int(fields["seed"]), accuracy=read_accuracy(os.path.join(folder, "result.json")),
        ))
    return runs


def table_cfg(cfg: str) -> str:
    """The config name a run is grouped under (``X_imnet`` joins ``X``)."""
    if cfg.endswith(IMAGENET_CFG_SUFFIX) and len(cfg) > len(IMAGENET_CFG_SUFFIX):
        return cfg[: -len(IMAGENET_CFG_SUFFIX)]
    return cfg


def fewshot_table_cfg(cfg: str, shots: int) -> str:
    """The few-shot config name with its shot count as ``{shots}`` (``x_4shot`` -> ``x_{shots}shot``),
    so that one method's per-shot configs share a table, as scripts' FEWSHOT_CFG patterns name them."""
    return re.sub(rf"(?<![0-9]){shots}(?=shots?(?![A-Za-z]))", "{shots}", table_cfg(cfg))


def dataset_sort_key(name: str) -> Tuple[int, str]:
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def average_cells(runs: Iterable[Run]) -> Dict[Tuple[str, str, str], Cell]:
    """Seed-average the runs that share (protocol, phase, dataset)."""
    accuracies: Dict[Tuple[str, str, str], List[float]] = defaultdict(list)
    for run in runs:
        accuracies[(run.protocol, run.phase, run.dataset)].append(run.accuracy)
    return {key: Cell(sum(values) / len(values), len(values)) for key, values in accuracies.items()}


def mean_cell(cells: Sequence[Cell]) -> Cell:
    """The average of several cells; its seed count is the smallest among them."""
    return Cell(sum(cell.mean for cell in cells) / len(cells), min(cell.seeds for cell in cells))


def group_runs(runs: Iterable[Run], protocols: Sequence[str]) -> Dict[Tuple[str, str, int], List[Run]]:
    """Runs of the given protocols keyed by (trainer, table config, shots)."""
    groups: Dict[Tuple[str, str, int], List[Run]] = defaultdict(list)
    for run in runs:
        if run.protocol in protocols:
            groups[(run.trainer, table_cfg(run.cfg), run.shots)].append(run)
    return dict(sorted(groups.items()))


def group_fewshot_runs(runs: Iterable[Run]) -> Dict[Tuple[str, str], List[Run]]:
    """Few-shot runs keyed by (trainer, config pattern), all shot counts together."""
    groups: Dict[Tuple[str, str], List[Run]] = defaultdict(list)
    for run in runs:
        if run.protocol == "fewshot":
            groups[(run.trainer, fewshot_table_cfg(run.cfg, run.shots))].append(run)
    return dict(sorted(groups.items()))


@dataclass
class Base2NewRow:
    dataset: str
    base: Optional[Cell]
    novel: Optional[Cell]
    hm: Optional[float]


def base2new_rows(runs: Sequence[Run]) -> List[Base2NewRow]:
    """Per-dataset rows, then the average over the datasets that have both base and novel."""
    cells = average_cells(runs)
    datasets = sorted({dataset for protocol, _, dataset in cells if protocol == "base2new"}, key=dataset_sort_key)
    rows = []
    for dataset in datasets:
        base = cells.get(("base2new", "train_base", dataset))
        novel = cells.get(("base2new", "test_new", dataset))
        hm = harmonic_mean(base.mean, novel.mean) if base and novel else None
        rows.append(Base2NewRow(dataset, base, novel, hm))
    complete = [row for row in rows if row.hm is not None]
    if complete:
        base_avg = mean_cell([row.base for row in complete])
        novel_avg = mean_cell([row.novel for row in complete])
        hm = harmonic_mean(base_avg.mean, novel_avg.mean)
        rows.append(Base2NewRow(f"average ({len(complete)} datasets)", base_avg, novel_avg, hm))
    return rows


@dataclass
class TransferTable:
    """Source accuracy, each target's accuracy and the average over the targets found."""

    source: Optional[Cell]
    targets: List[Tuple[str, Cell]]
    average: Optional[Cell]


def transfer_table(runs: Sequence[Run], target_protocol: str) -> TransferTable:
    """The cross-dataset (target_protocol "xd") or DG ("dg") table of one trainer and config."""
    cells = average_cells(runs)
    targets = sorted(
        ((dataset, cell) for (protocol, phase, dataset), cell in cells.items()
         if protocol == target_protocol and phase == "test"),
        key=lambda item: dataset_sort_key(item[0]),
    )
    average = mean_cell([cell for _, cell in targets]) if targets else None
    return TransferTable(cells.get(("xd", "train", "imagenet")), targets, average)


def fewshot_rows(runs: Sequence[Run]) -> Tuple[List[int], List[Tuple[str, Dict[int, Cell]]]]:
    """Shot counts found, and per dataset a {shots: cell} map; the last row averages the datasets
    (for the shot counts that every dataset has)."""
    accuracies: Dict[Tuple[str, int], List[float]] = defaultdict(list)
    for run in runs:
        accuracies[(run.dataset, run.shots)].append(run.accuracy)
    shots = sorted({k for _, k in accuracies})
    datasets = sorted({dataset for dataset, _ in accuracies}, key=dataset_sort_key)
    rows = [
        (dataset, {k: Cell(sum(v) / len(v), len(v)) for (name, k), v in accuracies.items() if name == dataset})
        for dataset in datasets
    ]
    averages = {
        k: mean_cell([cells[k] for _, cells in rows])
        for k in shots
        if all(k in cells for _, cells in rows)
    }
    rows.append((f"average ({len(datasets)} datasets)", averages))
    return shots, rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def show(cell: Optional[Cell]) -> str:
    return str(cell) if cell is not None else "-"


def render(runs: Sequence[Run]) -> str:
    """All tables for the runs found: one section per protocol and (trainer, config, shots)."""
    sections = []
    for (trainer, cfg, shots), group in group_runs(runs, ["base2new"]).items():
        rows = [
            [row.dataset, show(row.base), show(row.novel), "-" if row.hm is None else f"{row.hm:.2f}"]
            for row in base2new_rows(group)
        ]
        sections.append(
            f"== Base-to-novel: {trainer} / {cfg} / {shots} shots ==\n"
            + format_table(["dataset", "base", "novel", "HM"], rows)
        )
    for protocol, title in (("xd", "Cross-dataset"), ("dg", "Domain generalization")):
        for (trainer, cfg, shots), group in group_runs(runs, ["xd", "dg"]).items():
            table = transfer_table(group, protocol)
            if not table.targets:
                continue
            rows = [["imagenet (source)", show(table.source)]]
            rows += [[dataset, str(cell)] for dataset, cell in table.targets]
            rows.append([f"average ({len(table.targets)} targets)", show(table.average)])
            sections.append(
                f"== {title}: {trainer} / {cfg} / {shots} shots ==\n" + format_table(["dataset", "accuracy"], rows)
            )
    for (trainer, cfg), group in group_fewshot_runs(runs).items():
        shots, rows = fewshot_rows(group)
        body = [[dataset, *(show(cells.get(k)) for k in shots)] for dataset, cells in rows]
        sections.append(
            f"== Few-shot (all classes): {trainer} / {cfg} ==\n"
            + format_table(["dataset", *(f"{k} shots" for k in shots)], body)
        )
    if not sections:
        return "No finished runs (result.json files in the scripts' folder layout) were found."
    return "Each cell: mean accuracy (%) over seeds (number of seeds).\n\n" + "\n\n".join(sections)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Print the base-to-novel, cross-dataset, DG and few-shot tables.")
    parser.add_argument("output_root", nargs="?", default="output", help="root the scripts wrote to (default: output)")
    args = parser.parse_args(argv)
    print(render(find_runs(args.output_root)))


if __name__ == "__main__":
    main(sys.argv[1:])
