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
Tables are per trainer and config. Methods often train ImageNet with a config of its own (MMA's
``vit_b16_ep5_imnet``): a base-to-novel config used only for ImageNet joins the trainer's other
tables that lack ImageNet (its row names the config). Few-shot tables are per trainer, since
methods pick a config per shot count; the configs used are listed under the table. Unfinished runs
(no result.json) are not counted.
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as `python tools/report.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dassl.utils.errors import CorruptFileError, add_debug_flag, run_cli  # noqa: E402

DATASET_ORDER = [
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
    "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r",
]
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
        raise CorruptFileError(
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


def dataset_sort_key(name: str) -> Tuple[int, str]:
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def harmonic_mean(base: float, novel: float) -> float:
    return 2 * base * novel / (base + novel) if base + novel > 0 else 0.0


def seed_mean(runs: Sequence[Run]) -> Cell:
    return Cell(sum(run.accuracy for run in runs) / len(runs), len(runs))


def mean_cell(cells: Sequence[Cell]) -> Cell:
    """The average of several cells; its seed count is the smallest among them."""
    return Cell(sum(cell.mean for cell in cells) / len(cells), min(cell.seeds for cell in cells))


def group_by(runs: Iterable[Run], key: Callable[[Run], Tuple]) -> Dict[Tuple, List[Run]]:
    groups: Dict[Tuple, List[Run]] = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return dict(sorted(groups.items()))


def base2new_groups(runs: Iterable[Run]) -> Dict[Tuple[str, str, int], List[Run]]:
    """Base-to-novel runs keyed by (trainer, config, shots); an ImageNet-only config of a trainer joins
    that trainer's groups without ImageNet runs (when it is the trainer's only ImageNet-only config)."""
    groups = group_by((run for run in runs if run.protocol == "base2new"), lambda r: (r.trainer, r.cfg, r.shots))
    has_imagenet = {key for key, group in groups.items() if any(run.dataset == "imagenet" for run in group)}
    imagenet_only = [key for key in has_imagenet if all(run.dataset == "imagenet" for run in groups[key])]
    for key in imagenet_only:
        trainer, _, shots = key
        siblings = [other for other in imagenet_only if (other[0], other[2]) == (trainer, shots)]
        hosts = [other for other in groups if (other[0], other[2]) == (trainer, shots) and other not in has_imagenet]
        if len(siblings) == 1 and hosts:
            for host in hosts:
                groups[host] = groups[host] + groups[key]
            del groups[key]
    return groups


@dataclass
class Base2NewRow:
    dataset: str
    base: Optional[Cell]
    novel: Optional[Cell]
    hm: Optional[float]


def base2new_rows(runs: Sequence[Run], table_cfg: str) -> List[Base2NewRow]:
    """Per-dataset rows, then the average over the datasets that have both base and novel."""
    rows = []
    for (dataset, cfg), group in sorted(
        group_by(runs, lambda r: (r.dataset, r.cfg)).items(), key=lambda item: dataset_sort_key(item[0][0])
    ):
        phases = group_by(group, lambda r: (r.phase,))
        base = seed_mean(phases[("train_base",)]) if ("train_base",) in phases else None
        novel = seed_mean(phases[("test_new",)]) if ("test_new",) in phases else None
        label = dataset if cfg == table_cfg else f"{dataset} ({cfg})"
        rows.append(Base2NewRow(label, base, novel, harmonic_mean(base.mean, novel.mean) if base and novel else None))
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
    source = [run for run in runs if (run.protocol, run.phase, run.dataset) == ("xd", "train", "imagenet")]
    targets = [
        (dataset, seed_mean(group))
        for (dataset,), group in sorted(
            group_by((r for r in runs if (r.protocol, r.phase) == (target_protocol, "test")), lambda r: (r.dataset,)).items(),
            key=lambda item: dataset_sort_key(item[0][0]),
        )
    ]
    average = mean_cell([cell for _, cell in targets]) if targets else None
    return TransferTable(seed_mean(source) if source else None, targets, average)


@dataclass
class FewShotTable:
    shots: List[int]
    rows: List[Tuple[str, Dict[int, Cell]]]
    configs: Dict[int, List[str]]


def fewshot_table(runs: Sequence[Run]) -> FewShotTable:
    """Per dataset a {shots: cell} map, then the per-shot average over datasets (for the shot counts
    that every dataset has), and the configs used for each shot count."""
    shots = sorted({run.shots for run in runs})
    datasets = sorted({run.dataset for run in runs}, key=dataset_sort_key)
    rows = [
        (dataset, {k: seed_mean(group) for (name, k), group in group_by(runs, lambda r: (r.dataset, r.shots)).items()
                   if name == dataset})
        for dataset in datasets
    ]
    averages = {k: mean_cell([cells[k] for _, cells in rows]) for k in shots if all(k in cells for _, cells in rows)}
    rows.append((f"average ({len(datasets)} datasets)", averages))
    configs = {k: sorted({run.cfg for run in runs if run.shots == k}) for k in shots}
    return FewShotTable(shots, rows, configs)


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
    """All tables for the runs found: one section per protocol and group."""
    sections = []
    for (trainer, cfg, shots), group in base2new_groups(runs).items():
        rows = [
            [row.dataset, show(row.base), show(row.novel), "-" if row.hm is None else f"{row.hm:.2f}"]
            for row in base2new_rows(group, cfg)
        ]
        sections.append(
            f"== Base-to-novel: {trainer} / {cfg} / {shots} shots ==\n"
            + format_table(["dataset", "base", "novel", "HM"], rows)
        )
    transfer_groups = group_by((r for r in runs if r.protocol in ("xd", "dg")), lambda r: (r.trainer, r.cfg, r.shots))
    for protocol, title in (("xd", "Cross-dataset"), ("dg", "Domain generalization")):
        for (trainer, cfg, shots), group in transfer_groups.items():
            table = transfer_table(group, protocol)
            if not table.targets:
                continue
            rows = [["imagenet (source)", show(table.source)]]
            rows += [[dataset, str(cell)] for dataset, cell in table.targets]
            rows.append([f"average ({len(table.targets)} targets)", show(table.average)])
            sections.append(
                f"== {title}: {trainer} / {cfg} / {shots} shots ==\n" + format_table(["dataset", "accuracy"], rows)
            )
    for (trainer,), group in group_by((r for r in runs if r.protocol == "fewshot"), lambda r: (r.trainer,)).items():
        table = fewshot_table(group)
        body = [[dataset, *(show(cells.get(k)) for k in table.shots)] for dataset, cells in table.rows]
        configs = "; ".join(f"{k} shots: {', '.join(names)}" for k, names in table.configs.items())
        sections.append(
            f"== Few-shot (all classes): {trainer} ==\n"
            + format_table(["dataset", *(f"{k} shots" for k in table.shots)], body)
            + f"\nconfigs: {configs}"
        )
    if not sections:
        return "No finished runs (result.json files in the scripts' folder layout) were found."
    return "Each cell: mean accuracy (%) over seeds (number of seeds).\n\n" + "\n\n".join(sections)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Print the base-to-novel, cross-dataset, DG and few-shot tables.")
    parser.add_argument("output_root", nargs="?", default="output", help="root the scripts wrote to (default: output)")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    print(render(find_runs(args.output_root)))


if __name__ == "__main__":
    run_cli(main)
