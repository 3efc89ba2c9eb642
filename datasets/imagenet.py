"""ImageNet-1k: images/train and images/val as wnid class folders, names from classnames.txt.

The official val set is both val and test. The folder listing is cached in preprocessed.pkl
({"train", "test"}), once both folders hold every class and the published number of images; the
few-shot pickle holds only "train". The helpers below are shared with the four test-only variants.
"""
import os
from collections import OrderedDict
from typing import Dict, List

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.utils import listdir_nohidden
from dassl.utils.errors import CorruptFileError

from .catalog import lookup
from .derived_files import DerivedFiles, splits_problem
from .errors import (
    MAX_LISTED_FILES,
    DatasetNotFoundError,
    count_shortfalls,
    fix_hint,
    incomplete_dataset_error,
    is_fake_copy,
    require_dir,
    require_file,
)
from ._reader import annotation_lines, dataset_root
from .study import study_protocol

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def read_classnames(dataset: str, path: str, root: str) -> "OrderedDict[str, str]":
    """wnid -> class name from lines '<wnid> <name, may contain spaces>', in file order."""
    require_file(dataset, path, root, "class-name file")
    classnames = OrderedDict()
    for line in annotation_lines(path):
        wnid, _, name = line.partition(" ")
        classnames[wnid] = name
    return classnames


def variant_classnames(dataset: str, dataset_dir: str, root: str) -> "OrderedDict[str, str]":
    """A variant's own classnames.txt copy, else ImageNet's (CoOp asks users to copy it into each folder)."""
    own = os.path.join(dataset_dir, "classnames.txt")
    shared = os.path.join(root, "imagenet", "classnames.txt")
    if not os.path.isfile(own) and os.path.isfile(shared):
        return read_classnames(dataset, shared, root)
    return read_classnames(dataset, own, root)


def read_class_folders(dataset: str, image_dir: str, classnames: Dict[str, str], root: str) -> List[Datum]:
    """One Datum per image; label = position of its wnid folder in sorted order; images in directory order.

    Files beside the class folders (ImageNet-A/R's README.txt) are skipped.
    """
    require_dir(dataset, image_dir, root, "image folder")
    entries = listdir_nohidden(image_dir, sort=True)
    folders = [name for name in entries if os.path.isdir(os.path.join(image_dir, name))]
    if not folders:
        loose = [name for name in entries if name.lower().endswith(IMAGE_SUFFIXES)]
        detail = (
            f"it holds {len(loose):,} images directly instead of one folder per class (wnid). "
            f"Sort them into class folders with `python tools/download_data.py {root} --names imagenet "
            f"--repair-val-labels LABELS` (see docs/DATASETS.md)"
            if loose else "it is empty"
        )
        raise DatasetNotFoundError(f"{dataset}: no class folders in {image_dir}: {detail}.\n{fix_hint(dataset, root)}")
    unknown = [folder for folder in folders if folder not in classnames]
    if unknown:
        raise CorruptFileError(
            f"{dataset}: {len(unknown)} folder(s) in {image_dir} are not in classnames.txt (e.g. {unknown[0]!r}); "
            f"use the classnames.txt that lists the 1,000 ImageNet wnids.\n{fix_hint(dataset, root)}"
        )
    items = []
    for label, folder in enumerate(folders):
        class_dir = os.path.join(image_dir, folder)
        for imname in listdir_nohidden(class_dir):
            items.append(Datum(impath=os.path.join(class_dir, imname), label=label, classname=classnames[folder]))
    return items


def require_complete_listing(dataset: str, dataset_dir: str, classnames: Dict[str, str],
                             listings: Dict[str, List[Datum]]) -> None:
    """Refuse to cache the listing of a half-extracted ImageNet: images/train and images/val must each
    hold every class of classnames.txt and (unless it is a fake copy) the published image count."""
    try:
        facts = lookup(dataset)
    except KeyError:
        return
    published = {"train": facts.train, "val": facts.test}
    problems = []
    for folder, items in listings.items():
        present = {os.path.basename(os.path.dirname(item.impath)) for item in items}
        expected = {"classes": facts.num_classes}
        if not is_fake_copy(dataset_dir):
            expected["images"] = published[folder]
        short = count_shortfalls({"classes": len(present), "images": len(items)}, expected)
        missing = [wnid for wnid in classnames if wnid not in present]
        if missing:
            more = f" and {len(missing) - MAX_LISTED_FILES:,} more" if len(missing) > MAX_LISTED_FILES else ""
            short.append(f"missing or empty class folders {', '.join(missing[:MAX_LISTED_FILES])}{more}")
        if short:
            problems.append(f"images/{folder}: {', '.join(short)}")
    if problems:
        raise incomplete_dataset_error(dataset, dataset_dir, problems, "No preprocessed.pkl was written from it.")


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    dataset_dir = "imagenet"

    def __init__(self, cfg) -> None:
        self.root = dataset_root(cfg)
        self.dataset_dir = os.path.join(self.root, type(self).dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, "images")
        self.preprocessed = os.path.join(self.dataset_dir, "preprocessed.pkl")
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")
        name = type(self).__name__
        require_dir(name, self.dataset_dir, self.root)
        files = DerivedFiles(name, self.dataset_dir, cfg.OUTPUT_DIR)

        found = files.load_pickle(
            "preprocessed.pkl", lambda obj: splits_problem(obj, ("train", "test"), check_every_file=False)
        )
        if found is not None:
            data, path = found
            print(f"Loading preprocessed data from {path}")
            train, test = data["train"], data["test"]
        else:
            classnames = read_classnames(name, os.path.join(self.dataset_dir, "classnames.txt"), self.root)
            train = read_class_folders(name, os.path.join(self.image_dir, "train"), classnames, self.root)
            test = read_class_folders(name, os.path.join(self.image_dir, "val"), classnames, self.root)
            require_complete_listing(name, self.dataset_dir, classnames, {"train": train, "val": test})
            path = files.write_pickle("preprocessed.pkl", {"train": train, "test": test}, "preprocessed split")
            if path:
                print(f"Saved preprocessed data to {path}")

        protocol = study_protocol(cfg)
        train, val = protocol.fewshot(self, files, train)
        if val is None:  # CoOp's sampler: the val set is the test set
            train, test = protocol.subsample(train, test)
            val = test
        else:
            train, val, test = protocol.subsample(train, val, test)
        train, val, test = protocol.finish(files, train, val, test)
        super().__init__(train_x=train, val=val, test=test)


class ImageNetVariant(DatasetBase):
    """A test-only ImageNet variant: class folders under ``image_folder``; the whole set is train_x and test.

    NUM_SHOTS and SUBSAMPLE_CLASSES do not apply, and there is no val split.
    """

    dataset_dir = ""
    image_folder = ""

    def __init__(self, cfg) -> None:
        self.root = dataset_root(cfg)
        self.dataset_dir = os.path.join(self.root, type(self).dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        self.name = type(self).__name__
        require_dir(self.name, self.dataset_dir, self.root)
        data = self.read_items(variant_classnames(self.name, self.dataset_dir, self.root))
        super().__init__(train_x=data, test=data)

    def read_items(self, classnames: "OrderedDict[str, str]") -> List[Datum]:
        return read_class_folders(self.name, self.image_dir, classnames, self.root)
