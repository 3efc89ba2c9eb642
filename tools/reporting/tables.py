"""The paper's tables, one column group per method, built from finished runs.

A table's expected grid is every (method, row, seed) that any of its methods has: a cell with fewer
seeds than the table's is shown with its own seed count, its absent runs are listed with the
command that fills them, and an average row is left out for a method until all its runs exist (an
average over fewer datasets or seeds is not the published quantity).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .methods import (
    MissingRun, base2new_host_cfg, base2new_imagenet_cfg, display_name, fill_command, method_rank, split_cfg,
)
from .runs import BASE2NEW_DATASETS, DG_TARGETS, XD_TARGETS, Run, dataset_sort_key
from .stats import Stat, average_stat, hm_stat, seed_stat

Accuracies = Dict[Tuple[str, str, int], Dict[int, Run]]  # (row, phase, shots) -> {seed: run}


@dataclass(frozen=True)
class Method:
    """One column group: a trainer and the config folder(s) its runs come from."""

    trainer: str
    cfg: str
    label: str


@dataclass
class Row:
    key: str
    label: str
    cells: Dict[Tuple[str, str], Stat]
    summary: bool = False


@dataclass
class Table:
    key: str
    title: str
    methods: List[Method]
    metrics: List[str]
    rows: List[Row]
    missing: List[MissingRun] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    runs: Dict[Tuple[str, str, str], Dict[int, Run]] = field(default_factory=dict)  # (row, method, metric)

    def cell_runs(self, row: Row, method: Method, metric: str) -> Dict[int, Run]:
        """{seed: run} behind a measured cell (base, novel, accuracy or a shot count)."""
        return self.runs.get((row.key, method.label, metric), {})

    def cell(self, row: Row, method: Method, metric: str) -> Optional[Stat]:
        return row.cells.get((method.label, metric))

    def best(self, row: Row, metric: str) -> Optional[float]:
        """The highest mean of the row's metric (shown bold) when at least two methods have one."""
        values = [round(cell.mean, 2) for m in self.methods if (cell := self.cell(row, m, metric)) is not None]
        return max(values) if len(values) >= 2 else None

    def row(self, key: str) -> Row:
        return next(row for row in self.rows if row.key == key)


def label_methods(keys: Iterable[Tuple[str, str]]) -> List[Method]:
    """Column labels: the method's name, plus the config when a trainer has several in the table."""
    keys = sorted(set(keys), key=lambda key: (method_rank(key[0]), key))
    per_trainer: Dict[str, int] = defaultdict(int)
    for trainer, _ in keys:
        per_trainer[trainer] += 1
    return [
        Method(trainer, cfg, display_name(trainer) if per_trainer[trainer] == 1 else f"{display_name(trainer)} ({cfg})")
        for trainer, cfg in keys
    ]


def select(methods: List[Method], wanted: Optional[Sequence[str]]) -> List[Method]:
    """The methods named in ``--methods`` (trainer, display name, label or TRAINER/CFG), all if None."""
    if not wanted:
        return methods
    names = {name.lower() for name in wanted}
    return [m for m in methods if names & {m.trainer.lower(), m.label.lower(), display_name(m.trainer).lower(),
                                           f"{m.trainer}/{m.cfg}".lower()}]


def methods_note(methods: Sequence[Method], imagenet: bool = False) -> str:
    def names(m: Method) -> str:
        special = base2new_imagenet_cfg(m.trainer, m.cfg) if imagenet else m.cfg
        return f"{m.trainer} / {m.cfg}" + (f" (ImageNet: {special})" if special != m.cfg else "")
    return "Methods: " + "; ".join(f"{m.label} = {names(m)}" for m in methods) + "."


def collect(runs: Iterable[Run], method_of: Callable[[Run], Optional[Tuple[str, str]]],
            row_of: Callable[[Run], str]) -> Dict[Tuple[str, str], Accuracies]:
    """{method key: {(row, phase, shots): {seed: accuracy}}} for the runs that belong to a method."""
    grouped: Dict[Tuple[str, str], Accuracies] = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        key = method_of(run)
        if key is not None:
            grouped[key][(row_of(run), run.phase, run.shots)][run.seed] = run
    return grouped


def accuracies(runs: Dict[int, Run]) -> Dict[int, float]:
    return {seed: run.accuracy for seed, run in runs.items()}


def seeds_of(grouped: Dict[Tuple[str, str], Accuracies]) -> List[int]:
    return sorted({seed for cells in grouped.values() for per_seed in cells.values() for seed in per_seed})


def base2new_table(runs: Sequence[Run], output_root: str, wanted: Optional[Sequence[str]] = None,
                   study: Optional[Tuple[str, str]] = None) -> Optional[Table]:
    """Base / novel / HM per dataset and the average row (HM of the averaged base and novel)."""
    chosen = [r for r in runs if r.protocol == "base2new" and (r.study, r.setting) == (study or (None, None))]
    grouped = collect(chosen, lambda r: (r.trainer, base2new_host_cfg(r.trainer, r.cfg) if r.dataset == "imagenet"
                                         else r.cfg), lambda r: r.dataset)
    methods = select(label_methods(grouped), wanted)
    if not methods:
        return None
    datasets = sorted({row for m in methods for row, _, _ in grouped[(m.trainer, m.cfg)]}, key=dataset_sort_key)
    shots = sorted({k for m in methods for _, _, k in grouped[(m.trainer, m.cfg)]})
    seeds = seeds_of({(m.trainer, m.cfg): grouped[(m.trainer, m.cfg)] for m in methods})
    rows = [Row(dataset, dataset, {}) for dataset in datasets]
    average = Row("average", f"average ({len(datasets)} datasets)", {}, summary=True)
    missing: List[MissingRun] = []
    notes = []
    sources: Dict[Tuple[str, str, str], Dict[int, Run]] = {}
    for method in methods:
        cells = grouped[(method.trainer, method.cfg)]
        per_dataset = []
        method_missing = []
        for row in rows:
            cfg = base2new_imagenet_cfg(method.trainer, method.cfg) if row.key == "imagenet" else method.cfg
            phases = {}
            for phase, metric in (("train_base", "base"), ("test_new", "novel")):
                per_seed = {s: r for k in shots for s, r in cells.get((row.key, phase, k), {}).items()}
                if per_seed:
                    phases[metric] = row.cells[(method.label, metric)] = seed_stat(accuracies(per_seed))
                    sources[(row.key, method.label, metric)] = per_seed
                for seed in seeds:
                    if seed not in per_seed:
                        method_missing.append(_missing(output_root, "base2new", phase, row.key, shots[0], method.trainer,
                                                       cfg, seed, study))
            if len(phases) == 2:
                row.cells[(method.label, "HM")] = hm_stat(phases["base"], phases["novel"])
                per_dataset.append(phases)
        if method_missing:
            notes.append(f"{method.label}: average left out, {len(method_missing)} run(s) missing (listed below).")
        elif per_dataset:
            base = average_stat([p["base"] for p in per_dataset])
            novel = average_stat([p["novel"] for p in per_dataset])
            average.cells.update({(method.label, "base"): base, (method.label, "novel"): novel,
                                  (method.label, "HM"): hm_stat(base, novel)})
        missing += method_missing
    if set(datasets) != set(BASE2NEW_DATASETS):
        notes.append(f"The published average is over the {len(BASE2NEW_DATASETS)} datasets; this one is over "
                     f"{len(datasets)}.")
    title = "Base-to-novel generalization" + (f": {study[0]} / {study[1]}" if study else "")
    key = "base2new" if study is None else f"study_{study[0]}_{study[1]}"
    return Table(key, title, methods, ["base", "novel", "HM"], rows + [average], missing,
                 [methods_note(methods, imagenet=True), *notes], sources)


def transfer_table(runs: Sequence[Run], output_root: str, protocol: str,
                   wanted: Optional[Sequence[str]] = None) -> Optional[Table]:
    """Cross-dataset ("xd") or domain generalization ("dg"): ImageNet source, targets, their average."""
    targets_runs = [r for r in runs if r.study is None and (r.protocol, r.phase) == (protocol, "test")]
    if not targets_runs:
        return None
    source_runs = [r for r in runs if r.study is None and (r.protocol, r.phase, r.dataset) == ("xd", "train", "imagenet")]
    grouped = collect([*source_runs, *targets_runs], lambda r: (r.trainer, r.cfg),
                      lambda r: "source" if r.phase == "train" else r.dataset)
    methods = select(label_methods(k for k, cells in grouped.items()
                                   if any(phase == "test" for _, phase, _ in cells)), wanted)
    if not methods:
        return None
    targets = sorted({row for m in methods for row, phase, _ in grouped[(m.trainer, m.cfg)] if phase == "test"},
                     key=dataset_sort_key)
    seeds = seeds_of({(m.trainer, m.cfg): grouped[(m.trainer, m.cfg)] for m in methods})
    rows = [Row("source", "imagenet (source)", {})] + [Row(t, t, {}) for t in targets]
    average = Row("average", f"average ({len(targets)} targets)", {}, summary=True)
    missing: List[MissingRun] = []
    notes = []
    sources: Dict[Tuple[str, str, str], Dict[int, Run]] = {}
    for method in methods:
        cells = grouped[(method.trainer, method.cfg)]
        method_missing = []
        for row in rows:
            phase = "train" if row.key == "source" else "test"
            per_seed = {s: r for (name, p, _), values in cells.items() if (name, p) == (row.key, phase)
                        for s, r in values.items()}
            if per_seed:
                row.cells[(method.label, "accuracy")] = seed_stat(accuracies(per_seed))
                sources[(row.key, method.label, "accuracy")] = per_seed
            for seed in seeds:
                if seed not in per_seed:
                    dataset = "imagenet" if row.key == "source" else row.key
                    run_protocol = "xd" if row.key == "source" else protocol
                    method_missing.append(_missing(output_root, run_protocol, phase, dataset, 16, method.trainer,
                                                   method.cfg, seed, None))
        target_missing = [m for m in method_missing if "/imagenet/" not in m.folder]
        if target_missing:
            notes.append(f"{method.label}: average left out, {len(target_missing)} target run(s) missing.")
        else:
            average.cells[(method.label, "accuracy")] = average_stat(
                [row.cells[(method.label, "accuracy")] for row in rows[1:]])
        missing += method_missing
    standard = XD_TARGETS if protocol == "xd" else DG_TARGETS
    if set(targets) != set(standard):
        notes.append(f"The published average is over {len(standard)} targets; this one is over {len(targets)}.")
    title = "Cross-dataset transfer" if protocol == "xd" else "Domain generalization"
    return Table(protocol, title, methods, ["accuracy"], rows + [average], missing, [methods_note(methods), *notes],
                 sources)


def fewshot_family(trainer: str, cfg: str) -> str:
    """The config family a few-shot run belongs to: methods pick a config per shot count, so a
    column group is a trainer plus the tag its config folders share ("" for the scripts' configs)."""
    return split_cfg(trainer, cfg)[1]


def fewshot_table(runs: Sequence[Run], output_root: str, wanted: Optional[Sequence[str]] = None) -> Optional[Table]:
    """Accuracy per dataset and shot count (all classes), per method, and the average per shot count."""
    chosen = [r for r in runs if r.study is None and r.protocol == "fewshot"]
    if not chosen:
        return None
    families: Dict[Tuple[str, str], List[Run]] = defaultdict(list)
    for run in chosen:
        families[(run.trainer, fewshot_family(run.trainer, run.cfg))].append(run)
    grouped_runs: Dict[Tuple[str, str], List[Run]] = {}
    for (trainer, tag), members in families.items():
        cfgs_per_cell = defaultdict(set)
        for run in members:
            cfgs_per_cell[(run.dataset, run.shots)].add(run.cfg)
        if any(len(cfgs) > 1 for cfgs in cfgs_per_cell.values()):  # never average two configs in one cell
            for run in members:
                grouped_runs.setdefault((trainer, run.cfg), []).append(run)
        else:
            label_cfg = tag or "+".join(sorted({run.cfg for run in members}))
            grouped_runs[(trainer, label_cfg)] = members
    methods = select(label_methods(grouped_runs), wanted)
    if not methods:
        return None
    members = [run for m in methods for run in grouped_runs[(m.trainer, m.cfg)]]
    datasets = sorted({r.dataset for r in members}, key=dataset_sort_key)
    shot_counts = sorted({r.shots for r in members})
    seeds = sorted({r.seed for r in members})
    metrics = [shot_label(k) for k in shot_counts]
    rows = [Row(d, d, {}) for d in datasets]
    average = Row("average", f"average ({len(datasets)} datasets)", {}, summary=True)
    missing: List[MissingRun] = []
    notes = []
    sources: Dict[Tuple[str, str, str], Dict[int, Run]] = {}
    for method in methods:
        method_runs = grouped_runs[(method.trainer, method.cfg)]
        cfg_for_shots = {k: sorted({r.cfg for r in method_runs if r.shots == k}) for k in shot_counts}
        for k, metric in zip(shot_counts, metrics):
            complete = True
            for row in rows:
                per_seed = {r.seed: r for r in method_runs if (r.dataset, r.shots) == (row.key, k)}
                if per_seed:
                    row.cells[(method.label, metric)] = seed_stat(accuracies(per_seed))
                    sources[(row.key, method.label, metric)] = per_seed
                cfgs = {r.cfg for r in method_runs if (r.dataset, r.shots) == (row.key, k)} or set(cfg_for_shots[k])
                cfg = next(iter(cfgs)) if len(cfgs) == 1 else None
                for seed in seeds:
                    if seed not in per_seed:
                        complete = False
                        missing.append(_missing(output_root, "fewshot", "train_all", row.key, k, method.trainer, cfg,
                                                seed, None))
            if complete:
                average.cells[(method.label, metric)] = average_stat([row.cells[(method.label, metric)] for row in rows])
        used = "; ".join(f"{k}: {', '.join(c)}" for k, c in cfg_for_shots.items() if c)
        notes.append(f"{method.label} configs per shot count: {used}.")
    notes.append("An average per shot count is shown once every dataset has every seed.")
    return Table("fewshot", "Few-shot learning (all classes)", methods, metrics, rows + [average], missing, notes,
                 sources)


def shot_label(shots: int) -> str:
    return f"{shots}-shot"


SETTING_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def setting_parameter(setting: str) -> Optional[float]:
    """The study's parameter read from a setting folder (``rate_0.2`` -> 0.2, ``ratio_3to1`` -> 3)."""
    match = SETTING_NUMBER.search(setting)
    return float(match.group(0)) if match else None


def setting_sort_key(setting: str) -> Tuple[int, float, str]:
    value = setting_parameter(setting)
    return (0, value, setting) if value is not None else (1, 0.0, setting)


def study_table(runs: Sequence[Run], output_root: str, study: str, wanted: Optional[Sequence[str]] = None) -> Optional[Table]:
    """One row per setting of a study: each method's average base / novel / HM over the study's datasets."""
    settings = sorted({r.setting for r in runs if r.study == study and r.protocol == "base2new"}, key=setting_sort_key)
    per_setting = {s: base2new_table(runs, output_root, wanted, (study, s)) for s in settings}
    per_setting = {s: t for s, t in per_setting.items() if t is not None}
    if not per_setting:
        return None
    methods = label_methods((m.trainer, m.cfg) for t in per_setting.values() for m in t.methods)
    rows = []
    missing: List[MissingRun] = []
    datasets = sorted({row.key for t in per_setting.values() for row in t.rows if not row.summary}, key=dataset_sort_key)
    for setting, table in per_setting.items():
        row = Row(setting, setting, {})
        average = table.row("average")
        by_key = {(m.trainer, m.cfg): m for m in table.methods}
        for method in methods:
            inner = by_key.get((method.trainer, method.cfg))
            for metric in table.metrics:
                cell = table.cell(average, inner, metric) if inner else None
                if cell is not None:
                    row.cells[(method.label, metric)] = cell
        rows.append(row)
        missing += table.missing
    notes = [methods_note(methods), f"Each cell: the average over {len(datasets)} dataset(s) ({', '.join(datasets)}); "
             "HM of the averaged base and novel.",
             "A setting's average is left out for a method while any of its runs is missing."]
    return Table(f"study_{study}", f"Study: {study}", methods, ["base", "novel", "HM"], rows, missing, notes)


def _missing(output_root: str, protocol: str, phase: str, dataset: str, shots: int, trainer: str, cfg: Optional[str],
             seed: int, study: Optional[Tuple[str, str]]) -> MissingRun:
    prefix = f"studies/{study[0]}/{study[1]}/" if study else ""
    folder = f"{prefix}{protocol}/{phase}/{dataset}/shots_{shots}/{trainer}/{cfg or '<cfg>'}/seed{seed}"
    return MissingRun(folder, fill_command(output_root, protocol, phase, dataset, shots, trainer, cfg, seed,
                                           study[0] if study else None))


def all_tables(runs: Sequence[Run], output_root: str, wanted: Optional[Sequence[str]] = None) -> List[Table]:
    """Every table the runs allow, in the paper's order, then one per study."""
    tables = [
        base2new_table(runs, output_root, wanted),
        transfer_table(runs, output_root, "xd", wanted),
        transfer_table(runs, output_root, "dg", wanted),
        fewshot_table(runs, output_root, wanted),
        *(study_table(runs, output_root, study, wanted) for study in sorted({r.study for r in runs if r.study})),
    ]
    return [table for table in tables if table is not None]


__all__ = ["Method", "Row", "Table", "all_tables", "base2new_table", "fewshot_table", "setting_parameter",
           "study_table", "transfer_table"]
