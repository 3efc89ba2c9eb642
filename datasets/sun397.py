"""SUN397 (397 scenes): split_zhou_SUN397.json, else ClassName.txt + Training_01/Testing_01.txt.

Class name: drop the letter folder, reverse the rest ('a/apartment_building/outdoor' -> 'outdoor apartment_building').
"""
import os
from typing import Dict, List

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils.errors import CorruptFileError

from ._reader import CoOpDataset, annotation_lines
from .splits import Split, make_items, split_trainval


@DATASET_REGISTRY.register()
class SUN397(CoOpDataset):
    dataset_dir = "sun397"
    image_folder = "SUN397"
    split_file = "split_zhou_SUN397.json"

    def build_split(self) -> Split:
        classes_file = os.path.join(self.dataset_dir, "ClassName.txt")
        self.require_source(classes_file)
        cname2lab = {line.lstrip("/"): label for label, line in enumerate(annotation_lines(classes_file))}
        trainval = self._read(cname2lab, "Training_01.txt")
        test = self._read(cname2lab, "Testing_01.txt")
        train, val = split_trainval(self.name, trainval)
        return train, val, test

    def _read(self, cname2lab: Dict[str, int], filename: str) -> List[Datum]:
        path = os.path.join(self.dataset_dir, filename)
        self.require_source(path)
        records = []
        for number, line in enumerate(annotation_lines(path), start=1):
            imname = line.lstrip("/")
            key = os.path.dirname(imname)
            if key not in cname2lab:
                raise CorruptFileError(f"{self.name}: {path} line {number}: class {key!r} is not in ClassName.txt")
            classname = " ".join(reversed(key.split("/")[1:]))
            records.append((os.path.join(self.image_dir, imname), cname2lab[key], classname))
        return make_items(self.name, records, path, self.root)
