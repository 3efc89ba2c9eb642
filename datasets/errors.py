"""Errors a dataset reader raises when the data on disk is missing or incomplete.

Every message names the dataset, the path that was looked at, and the fix: the two data tools,
run on the same DATASET.ROOT, tell what is missing and fetch it.
"""
import os
from typing import Sequence

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
