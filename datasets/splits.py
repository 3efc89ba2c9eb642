"""Split files and the split rules shared by the CoOp dataset readers.

The rules (and the order in which they draw from Python's ``random``) are those of the CoOp
readers, so a split built here from raw annotations with a given seed is the one CoOp builds,
and a released ``split_zhou_*.json`` reads back to the same items:

- split JSON: ``{"train"|"val"|"test": [[path relative to the image folder, label, class name], ...]}``;
- trainval -> 80% train / 20% val, per label in first-appearance order;
- class folders -> 50% train / 20% val / 30% test per class, classes in sorted folder order;
- base/new: the sorted labels of train, the first ceil(n/2) are base, the rest new, relabelled 0...
  (other base:new ratios and roundings: the study layer, datasets/study.py).
"""
import os
import random
from collections import defaultdict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from dassl.data.datasets import Datum
from dassl.utils import listdir_nohidden, read_json
from dassl.utils.errors import ConfigValueError, CorruptFileError, FrameworkError

from .errors import require_images

Split = Tuple[List[Datum], List[Datum], List[Datum]]


class SplitFileError(FrameworkError, ValueError):
    """A split JSON that cannot be used: not JSON, or not a split."""
SUBSAMPLE_CHOICES = ("all", "base", "new")


def make_items(dataset: str, records: Sequence[Tuple[str, int, str]], listed_in: str, root: str) -> List[Datum]:
    """Datum objects for (impath, label, classname) records, after one check that all files exist."""
    require_images(dataset, [impath for impath, _, _ in records], listed_in, root)
    return [Datum(impath=impath, label=label, classname=classname) for impath, label, classname in records]


def read_split(dataset: str, filepath: str, path_prefix: str, root: str) -> Split:
    """Read a split_zhou JSON; its paths are relative to ``path_prefix``."""
    print(f"Reading split from {filepath}")
    try:
        split = read_json(filepath)
    except ValueError as e:
        raise SplitFileError(
            f"{dataset}: the split file {filepath} is not valid JSON ({e}); it is truncated or damaged. Delete it "
            "and download the dataset's split_zhou file again (tools/download_data.py), or let the reader rebuild "
            "it from the annotations where the dataset has them."
        ) from None
    if not isinstance(split, dict) or not {"train", "val", "test"} <= set(split):
        found = sorted(split) if isinstance(split, dict) else type(split).__name__
        raise SplitFileError(
            f"{dataset}: {filepath} is not a split file (expected the keys train, val and test, found {found}). "
            f"Delete it to rebuild it from the annotations, or download the dataset's split_zhou file again."
        )
    return tuple(
        make_items(
            dataset,
            [(os.path.join(path_prefix, rel), int(label), classname) for rel, label, classname in split[part]],
            filepath,
            root,
        )
        for part in ("train", "val", "test")
    )


def split_to_json(train: Sequence[Datum], val: Sequence[Datum], test: Sequence[Datum], path_prefix: str) -> dict:
    """The split_zhou dict: paths made relative to ``path_prefix`` (no leading '/')."""

    def records(items: Sequence[Datum]) -> list:
        out = []
        for item in items:
            rel = item.impath.replace(path_prefix, "", 1).lstrip("/")
            out.append([rel, item.label, item.classname])
        return out

    return {"train": records(train), "val": records(val), "test": records(test)}


def split_trainval(dataset: str, trainval: Sequence[Datum], p_val: float = 0.2) -> Tuple[List[Datum], List[Datum]]:
    """Per label (first-appearance order): shuffle, the first round(n * p_val) go to val, the rest to train."""
    print(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    by_label: Dict[int, List[int]] = defaultdict(list)
    for index, item in enumerate(trainval):
        by_label[item.label].append(index)
    train, val = [], []
    for label, indices in by_label.items():
        n_val = round(len(indices) * p_val)
        if n_val <= 0:
            raise CorruptFileError(
                f"{dataset}: class {label} has only {len(indices)} trainval image(s); at least 3 are needed "
                f"to put one in val. The annotation files look truncated."
            )
        random.shuffle(indices)
        for position, index in enumerate(indices):
            (val if position < n_val else train).append(trainval[index])
    return train, val


def split_per_class(
    dataset: str, per_class: Mapping[int, Sequence[Tuple[str, str]]], root: str, listed_in: str,
    p_trn: float = 0.5, p_val: float = 0.2,
) -> Split:
    """Shuffle each class's (impath, classname) list and cut it round(50%) / round(20%) / rest.

    ``per_class`` maps label -> images in the order the reader found them; classes are visited in
    the mapping's order, which decides the order of the draws from ``random``.
    """
    require_images(dataset, [impath for entries in per_class.values() for impath, _ in entries], listed_in, root)
    train, val, test = [], [], []
    for label, entries in per_class.items():
        entries = list(entries)
        random.shuffle(entries)
        n_total = len(entries)
        n_train = round(n_total * p_trn)
        n_val = round(n_total * p_val)
        n_test = n_total - n_train - n_val
        if min(n_train, n_val, n_test) <= 0:
            raise CorruptFileError(
                f"{dataset}: class {label} has {n_total} image(s), too few for a train/val/test split "
                f"({n_train}/{n_val}/{n_test}); every class needs at least 4 images."
            )
        items = [Datum(impath=impath, label=label, classname=cname) for impath, cname in entries]
        train += items[:n_train]
        val += items[n_train:n_train + n_val]
        test += items[n_train + n_val:]
    return train, val, test


def split_class_folders(
    dataset: str, image_dir: str, root: str, ignored: Sequence[str] = (),
    new_cnames: Optional[Mapping[str, str]] = None, p_trn: float = 0.5, p_val: float = 0.2,
) -> Split:
    """The random split of a class-per-folder dataset (DTD, Caltech101, EuroSAT, Food101).

    Folders are sorted with plain string order (uppercase first); label = position; images are taken
    in directory order before shuffling, as CoOp does. ``new_cnames`` renames classes, never labels.
    """
    new_cnames = new_cnames or {}
    categories = sorted(
        name for name in listdir_nohidden(image_dir)
        if name not in ignored and os.path.isdir(os.path.join(image_dir, name))
    )
    per_class = {}
    for label, category in enumerate(categories):
        category_dir = os.path.join(image_dir, category)
        classname = new_cnames.get(category, category)
        per_class[label] = [(os.path.join(category_dir, name), classname) for name in listdir_nohidden(category_dir)]
    return split_per_class(dataset, per_class, root, image_dir, p_trn, p_val)


def coop_base_count(num_classes: int) -> int:
    """CoOp's base classes: the first ceil(n / 2) sorted labels."""
    return num_classes - num_classes // 2


def subsample_classes(*splits: List[Datum], subsample: str = "all",
                      base_count: Callable[[int], int] = coop_base_count) -> List[List[Datum]]:
    """Keep the base (first ``base_count(n)`` sorted labels of the first split, CoOp's ceil(n/2) by
    default) or new classes, relabelled 0.."""
    if subsample not in SUBSAMPLE_CHOICES:
        raise ConfigValueError(
            f"DATASET.SUBSAMPLE_CLASSES must be one of {SUBSAMPLE_CHOICES}, got {subsample!r}."
        )
    if subsample == "all":
        return list(splits)
    labels = sorted({item.label for item in splits[0]})
    m = base_count(len(labels))
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabeler = {label: new for new, label in enumerate(selected)}
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    return [
        [
            Datum(impath=item.impath, label=relabeler[item.label], classname=item.classname)
            for item in split if item.label in relabeler
        ]
        for split in splits
    ]
