"""Errors a dataset reader raises when the data on disk is missing or incomplete.

Every message names the dataset, the path that was looked at, and the fix: the two data tools,
run on the same DATASET.ROOT, tell what is missing and fetch it.
"""
import os
from typing import List, Mapping, Sequence, Tuple

from dassl.utils.errors import FrameworkError

from .catalog import lookup

MAX_LISTED_FILES = 5


class DatasetNotFoundError(FrameworkError, FileNotFoundError):
    """A dataset folder, split file or annotation file is missing."""


class MissingImagesError(FrameworkError, FileNotFoundError):
    """A split lists images that are not on disk."""


def fix_hint(dataset: str, root: str) -> str:
    """The commands that diagnose and repair a dataset under ``root``."""
    try:
        key = lookup(dataset).key
    except KeyError:
        return f"Fix: check DATASET.ROOT ({root!r}) and the files named above (docs/DATASETS.md)."
    return (
        f"Fix: run `python tools/check_data.py {root} {key}` to see what is missing, and "
        f"`python tools/download_data.py {root} --names {key}` to fetch it "
        f"(docs/DATASETS.md describes the expected layout; DATASET.ROOT is {root!r})."
    )


class IncompleteDatasetError(FrameworkError, FileNotFoundError):
    """A dataset folder holds fewer classes or images than the dataset has: it is not fully extracted."""


# Written by tools/make_fake_datasets.py: a fake copy has every class but fewer images per class.
FAKE_DATASET_MARKER = ".fake_dataset"


def is_fake_copy(dataset_dir: str) -> bool:
    """Whether tools/make_fake_datasets.py wrote this folder (every class, fewer images)."""
    return os.path.isfile(os.path.join(dataset_dir, FAKE_DATASET_MARKER))


def count_shortfalls(found: Mapping[str, int], expected: Mapping[str, int]) -> List[str]:
    """``"<what>: F found, E expected"`` for every count that differs from the expected one."""
    return [f"{key}: {found[key]:,} found, {value:,} expected" for key, value in expected.items() if found[key] != value]


def incomplete_dataset_error(dataset: str, dataset_dir: str, problems: Sequence[str], unsaved: str) -> IncompleteDatasetError:
    """The error for a folder that is not fully extracted; ``unsaved`` says what was not written."""
    root = os.path.dirname(dataset_dir)
    return IncompleteDatasetError(
        f"{dataset}: {dataset_dir} is incomplete ({'; '.join(problems)}), e.g. still being extracted or "
        f"partly copied. {unsaved}\n{fix_hint(dataset, root)}"
    )


def require_complete(dataset: str, dataset_dir: str, split: Tuple[list, list, list]) -> Tuple[list, list, list]:
    """Refuse a split built from a folder with fewer classes or images than the published ones
    (docs/DATASETS.md), so a half-extracted folder never yields (and saves) a smaller split."""
    try:
        facts = lookup(dataset)
    except KeyError:
        return split
    items = [item for part in split for item in part]
    found = {"classes": len({item.label for item in items}), "images": len(items)}
    expected = {"classes": facts.num_classes}
    if facts.train is not None and not is_fake_copy(dataset_dir):
        expected["images"] = facts.train + facts.val + facts.test
    short = count_shortfalls(found, expected)
    if short:
        raise incomplete_dataset_error(dataset, dataset_dir, short, "No split was built or saved from it.")
    return split


def require_dir(dataset: str, path: str, root: str, what: str = "dataset folder") -> None:
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"{dataset}: {what} not found: {path}\n{fix_hint(dataset, root)}")


def require_file(dataset: str, path: str, root: str, what: str = "file") -> None:
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"{dataset}: {what} not found: {path}\n{fix_hint(dataset, root)}")


def require_images(dataset: str, impaths: Sequence[str], listed_in: str, root: str) -> None:
    """Raise one error naming the missing files, instead of failing on the first in a worker."""
    missing = [path for path in impaths if not os.path.isfile(path)]
    if not missing:
        return
    shown = "\n  ".join(missing[:MAX_LISTED_FILES])
    more = f"\n  ... and {len(missing) - MAX_LISTED_FILES} more" if len(missing) > MAX_LISTED_FILES else ""
    raise MissingImagesError(
        f"{dataset}: {len(missing):,} of {len(impaths):,} images listed in {listed_in} are missing:\n  "
        f"{shown}{more}\nThe images folder is incomplete or laid out differently from the split. "
        f"{fix_hint(dataset, root)}"
    )
