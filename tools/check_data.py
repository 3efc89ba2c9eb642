"""Say, for each dataset under a data root, whether it is ready, with its split sizes against the published ones.

Usage: python tools/check_data.py ROOT [NAME ...] [--verify-images]

NAME is a config name (oxford_pets) or a DATASET.NAME (OxfordPets); the default is all 15. Each
dataset is loaded with the same reader a run uses (full splits, all classes), so "ready" means a run
will find it; "sizes differ" means it loads but its splits are not the published ones. For whatever
is not ready the exact error and fix are printed. ``--verify-images`` also decodes every image and
names the ones that cannot be read. Exit status 1 when any dataset is not ready, else 0.
Loading ImageNet the first time lists 1.3M files and writes imagenet/preprocessed.pkl, as a run would.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import datasets  # noqa: E402,F401  (registers the readers)
from dassl.config import get_cfg_default  # noqa: E402
from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402
from dassl.utils.errors import add_debug_flag, run_cli  # noqa: E402
from datasets.catalog import CATALOG, DatasetFacts, lookup  # noqa: E402

READY, DIFFERS, NOT_READY = "ready", "sizes differ", "NOT READY"


@dataclass
class Report:
    facts: DatasetFacts
    status: str
    counts: dict = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)


def expected_counts(facts: DatasetFacts) -> dict:
    """The published sizes in the same keys as :func:`measured_counts`."""
    counts = {"classes": facts.num_classes, "test": facts.test}
    if not facts.test_only:
        counts.update(train=facts.train, val=facts.val, base_test=facts.base_test, new_test=facts.new_test)
    return counts


def measured_counts(facts: DatasetFacts, dataset) -> dict:
    counts = {"classes": dataset.num_classes, "test": len(dataset.test)}
    if not facts.test_only:
        n_base = (dataset.num_classes + 1) // 2
        base_test = sum(1 for item in dataset.test if item.label < n_base)
        counts.update(train=len(dataset.train_x), val=len(dataset.val), base_test=base_test,
                      new_test=len(dataset.test) - base_test)
    return counts


def unreadable_images(dataset) -> List[str]:
    """Every image of every split that PIL cannot decode, with the reason."""
    from PIL import Image
    from tqdm import tqdm

    paths = sorted({item.impath for split in (dataset.train_x, dataset.val or [], dataset.test) for item in split})
    bad = []
    for path in tqdm(paths, desc="decoding images", unit="img", file=sys.stderr):
        try:
            with Image.open(path) as image:
                image.convert("RGB")
        except Exception as err:  # any decoder failure means a run would crash on this file
            bad.append(f"{path} ({type(err).__name__}: {err})")
    return bad


def missing_split_file(root: str, facts: DatasetFacts) -> Optional[str]:
    """The released split file a reader would look for, if it has one and it is absent."""
    reader = DATASET_REGISTRY.get(facts.name)
    split_file = getattr(reader, "split_file", "")
    dataset_dir = os.path.join(root, reader.dataset_dir)
    path = os.path.join(dataset_dir, split_file)
    if split_file and os.path.isdir(dataset_dir) and not os.path.isfile(path):
        return path
    return None


def inspect(root: str, facts: DatasetFacts, verify_images: bool = False) -> Report:
    """Load one dataset with its reader and compare what it holds with the published sizes."""
    no_split = missing_split_file(root, facts)
    if no_split:
        return Report(facts, NOT_READY, problems=[
            f"{facts.name}: released split file not found: {no_split}. Without it a run builds its own random "
            f"split, so results would not be comparable with published ones.\n"
            f"Fix: run `python tools/download_data.py {root} --names {facts.key}` (the mirror includes it)."
        ])
    cfg = get_cfg_default()
    cfg.DATASET.ROOT = root
    cfg.DATASET.NAME = facts.name
    with tempfile.TemporaryDirectory() as output_dir:
        cfg.OUTPUT_DIR = output_dir
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                dataset = DATASET_REGISTRY.get(facts.name)(cfg)
        except (OSError, ValueError, KeyError) as err:
            return Report(facts, NOT_READY, problems=[str(err)])
    counts = measured_counts(facts, dataset)
    expected = expected_counts(facts)
    report = Report(facts, READY if counts == expected else DIFFERS, counts)
    if verify_images:
        bad = unreadable_images(dataset)
        if bad:
            report.status = NOT_READY
            report.problems.append(
                f"{facts.name}: {len(bad)} image(s) cannot be decoded; replace or re-extract them:\n  " + "\n  ".join(bad)
            )
    return report


COLUMNS = ("classes", "train", "val", "test", "base_test", "new_test")


def format_table(reports: Sequence[Report]) -> str:
    """One row per dataset; a count that differs from the published one shows both."""
    header = ["dataset", "status", "classes", "train", "val", "test", "base test", "new test"]
    rows = [header]
    for report in reports:
        expected = expected_counts(report.facts)
        row = [report.facts.key, report.status]
        row += [_cell(report.counts.get(c), expected.get(c), report.status == NOT_READY) for c in COLUMNS]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _cell(have: Optional[int], want: Optional[int], not_ready: bool) -> str:
    if want is None:
        return "-"
    if have is None:
        return "?" if not_ready else f"{want:,}"
    return f"{have:,}" if have == want else f"{have:,} (want {want:,})"


def format_expected_table() -> str:
    """The published sizes of all 15 datasets (the numbers the checks compare against)."""
    return format_table([Report(facts, "published") for facts in CATALOG])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", help="the data root (DATASET.ROOT / --root of a run)")
    parser.add_argument("names", nargs="*", help="datasets to check (default: all 15)")
    parser.add_argument("--verify-images", action="store_true", help="also decode every image (slow on big sets)")
    parser.add_argument("--expected", action="store_true", help="only print the published sizes")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if args.expected:
        print(format_expected_table())
        return 0
    if args.root is None:
        parser.error("ROOT is required (the folder that holds oxford_pets/, dtd/, ...)")
    root = os.path.abspath(os.path.expanduser(args.root))
    try:
        selected = list(dict.fromkeys(lookup(name) for name in args.names)) if args.names else list(CATALOG)
    except KeyError as err:
        parser.error(err.args[0])
    reports = [inspect(root, facts, args.verify_images) for facts in selected]
    print(format_table(reports))
    for report in reports:
        for problem in report.problems:
            print(f"\n{problem}")
    if any(report.status == DIFFERS for report in reports):
        print("\n'sizes differ': the data loads, but its splits are not the published ones "
              "(a different split file, or missing images); results will not match published numbers.")
    not_ready = sum(report.status == NOT_READY for report in reports)
    print(f"\n{len(reports) - not_ready} of {len(reports)} dataset(s) load under {root}; "
          f"{sum(report.status == READY for report in reports)} match the published sizes.")
    return 1 if not_ready else 0


if __name__ == "__main__":
    run_cli(main)
