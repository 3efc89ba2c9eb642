"""FGVC-Aircraft (100 variants): always the official images_variant_{train,val,test}.txt; no split JSON."""
import os
from typing import Dict, List

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils.errors import CorruptFileError

from ._reader import CoOpDataset, annotation_lines
from .splits import Split, make_items


@DATASET_REGISTRY.register()
class FGVCAircraft(CoOpDataset):
    dataset_dir = "fgvc_aircraft"
    image_folder = "images"
    split_file = ""

    def build_split(self) -> Split:
        """Label = line index in variants.txt; each split line is '<image id> <variant name with spaces>'."""
        variants_file = os.path.join(self.dataset_dir, "variants.txt")
        self.require_source(variants_file, "split file")
        cname2lab = {name: label for label, name in enumerate(annotation_lines(variants_file))}
        return tuple(self._read(cname2lab, f"images_variant_{part}.txt") for part in ("train", "val", "test"))

    def _read(self, cname2lab: Dict[str, int], filename: str) -> List[Datum]:
        path = os.path.join(self.dataset_dir, filename)
        self.require_source(path, "split file")
        records = []
        for number, line in enumerate(annotation_lines(path), start=1):
            fields = line.split(" ")
            classname = " ".join(fields[1:])
            if classname not in cname2lab:
                raise CorruptFileError(f"{self.name}: {path} line {number}: variant {classname!r} is not in variants.txt")
            records.append((os.path.join(self.image_dir, fields[0] + ".jpg"), cname2lab[classname], classname))
        return make_items(self.name, records, path, self.root)
