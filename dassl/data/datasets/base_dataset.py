"""Datum and DatasetBase.

The module path ``dassl.data.datasets.base_dataset.Datum`` and the attribute names
``_impath/_label/_domain/_classname`` are part of the on-disk format: cached
``split_fewshot/*.pkl`` and ``imagenet/preprocessed.pkl`` files pickle Datum by them.
"""
import random
from collections import defaultdict
from typing import Dict, List, Optional, Tuple, Union

from dassl.utils import check_isfile


class Datum:
    """One image: its path, class label, domain label and class name."""

    def __init__(self, impath: str = "", label: int = 0, domain: int = 0, classname: str = "") -> None:
        assert isinstance(impath, str), f"Datum impath must be a str, got {type(impath).__name__} ({impath!r})"
        assert check_isfile(impath), f'Datum image not found: "{impath}"'
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self) -> str:
        return self._impath

    @property
    def label(self) -> int:
        return self._label

    @property
    def domain(self) -> int:
        return self._domain

    @property
    def classname(self) -> str:
        return self._classname

    def with_impath(self, impath: str) -> "Datum":
        """The same item at another path (no file check: callers re-root many cached items at once)."""
        moved = Datum.__new__(Datum)
        moved.__dict__.update(self.__dict__, _impath=impath)
        return moved

    def __repr__(self) -> str:
        return f"Datum(impath={self._impath!r}, label={self._label}, domain={self._domain}, classname={self._classname!r})"


class DatasetBase:
    """Holds the train_x / train_u / val / test lists of Datum and derives the class names from train_x."""

    dataset_dir = ""
    domains: List[str] = []

    def __init__(
        self,
        train_x: Optional[List[Datum]] = None,
        train_u: Optional[List[Datum]] = None,
        val: Optional[List[Datum]] = None,
        test: Optional[List[Datum]] = None,
    ) -> None:
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self) -> Optional[List[Datum]]:
        return self._train_x

    @property
    def train_u(self) -> Optional[List[Datum]]:
        return self._train_u

    @property
    def val(self) -> Optional[List[Datum]]:
        return self._val

    @property
    def test(self) -> Optional[List[Datum]]:
        return self._test

    @property
    def lab2cname(self) -> Dict[int, str]:
        return self._lab2cname

    @property
    def classnames(self) -> List[str]:
        return self._classnames

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source: List[Datum]) -> int:
        """Largest label + 1."""
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source: List[Datum]) -> Tuple[Dict[int, str], List[str]]:
        """Label -> class name, and the class names ordered by label."""
        container = {(item.label, item.classname) for item in data_source}
        mapping = {label: classname for label, classname in container}
        labels = sorted(mapping.keys())
        return mapping, [mapping[label] for label in labels]

    def generate_fewshot_dataset(
        self, *data_sources: List[Datum], num_shots: int = -1, repeat: bool = False
    ) -> Union[List[Datum], List[List[Datum]], Tuple[List[Datum], ...]]:
        """Draw ``num_shots`` items per label from each source with Python's ``random``.

        Per label: ``random.sample(items, K)`` if there are at least K items, else
        ``random.choices(items, k=K)`` when ``repeat``, else all items. Labels are visited in order of
        first appearance, so the same seed and item order give the same draw as the reference Dassl.
        """
        if num_shots < 1:
            if len(data_sources) == 1:
                return data_sources[0]
            return data_sources
        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            tracker = self.split_dataset_by_label(data_source)
            dataset: List[Datum] = []
            for items in tracker.values():
                if len(items) >= num_shots:
                    sampled = random.sample(items, num_shots)
                elif repeat:
                    sampled = random.choices(items, k=num_shots)
                else:
                    sampled = items
                dataset.extend(sampled)
            output.append(dataset)
        if len(output) == 1:
            return output[0]
        return output

    @staticmethod
    def split_dataset_by_label(data_source: List[Datum]) -> "defaultdict[int, List[Datum]]":
        """Group items by label, labels in order of first appearance."""
        output: "defaultdict[int, List[Datum]]" = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    @staticmethod
    def split_dataset_by_domain(data_source: List[Datum]) -> "defaultdict[int, List[Datum]]":
        """Group items by domain, domains in order of first appearance."""
        output: "defaultdict[int, List[Datum]]" = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
