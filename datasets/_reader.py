"""The reading pattern shared by the 11 CoOp benchmarks (all but the ImageNet family).

full split (split_zhou JSON, or built from the raw annotations and saved) -> K-shot sampling with its
pickle cache -> base/new subsampling -> ``DatasetBase(train_x, val, test)``; the three protocol steps are
the study layer's (``datasets/study.py``), CoOp's own with its options at their defaults. A reader subclass names
its folders and split file and says how to build the split from the raw annotation files.
"""
import abc
import os
from typing import List

from dassl.data.datasets import DatasetBase

from .derived_files import DerivedFiles
from .errors import DatasetNotFoundError, fix_hint, require_complete, require_dir
from .splits import Split, read_split, split_to_json
from .study import study_protocol


def dataset_root(cfg) -> str:
    return os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))


def annotation_lines(path: str) -> List[str]:
    """The non-empty lines of a text annotation file, stripped (CRLF files included)."""
    with open(path, "r") as handle:
        return [line.strip() for line in handle if line.strip()]


class CoOpDataset(DatasetBase, metaclass=abc.ABCMeta):
    """Base reader: subclasses set ``dataset_dir``, ``image_folder``, ``split_file`` and ``build_split``.

    ``split_file = ""`` means the dataset has no split JSON and ``build_split`` runs every time
    (FGVCAircraft reads its official split files).
    """

    dataset_dir = ""
    image_folder = ""
    split_file = ""

    def __init__(self, cfg) -> None:
        self.root = dataset_root(cfg)
        self.dataset_dir = os.path.join(self.root, type(self).dataset_dir)
        self.image_dir = os.path.join(self.dataset_dir, self.image_folder)
        self.split_path = os.path.join(self.dataset_dir, self.split_file)
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")
        require_dir(self.name, self.dataset_dir, self.root)
        files = DerivedFiles(self.name, self.dataset_dir, cfg.OUTPUT_DIR)
        train, val, test = self.full_split(files)
        protocol = study_protocol(cfg)
        train, val = protocol.fewshot(self, files, train, val)
        train, val, test = protocol.subsample(train, val, test)
        train, val, test = protocol.finish(files, train, val, test)
        super().__init__(train_x=train, val=val, test=test)

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def split_prefix(self) -> str:
        """The folder the split file's paths are relative to."""
        return self.image_dir

    def full_split(self, files: DerivedFiles) -> Split:
        """The complete train/val/test lists: from the split JSON if there is one, else built and saved."""
        if not self.split_file:
            return require_complete(self.name, self.dataset_dir, self.build_split())
        existing = files.candidates(self.split_file)
        if existing:
            return read_split(self.name, existing[0], self.split_prefix, self.root)
        print(f"No split file at {self.split_path}; building the split from the annotation files")
        train, val, test = require_complete(self.name, self.dataset_dir, self.build_split())
        path = files.write_json(self.split_file, split_to_json(train, val, test, self.split_prefix), "split file")
        if path:
            print(f"Saved split to {path}")
        return train, val, test

    @abc.abstractmethod
    def build_split(self) -> Split:
        """Read the raw annotations into train/val/test."""

    def require_source(self, path: str, what: str = "annotation file") -> None:
        """Fail clearly when a raw file needed to build the split is missing."""
        if os.path.exists(path):
            return
        no_json = f" (and there is no split file {self.split_path})" if self.split_file else ""
        raise DatasetNotFoundError(f"{self.name}: {what} not found: {path}{no_json}\n{fix_hint(self.name, self.root)}")
