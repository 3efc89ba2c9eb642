"""Oxford-IIIT Pets (37 breeds): split_zhou_OxfordPets.json, else annotations/{trainval,test}.txt."""
import os
from typing import List, Sequence

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils.errors import CorruptFileError

from ._reader import CoOpDataset, annotation_lines
from .splits import Split, make_items, read_split, split_to_json, split_trainval, subsample_classes


@DATASET_REGISTRY.register()
class OxfordPets(CoOpDataset):
    dataset_dir = "oxford_pets"
    image_folder = "images"
    split_file = "split_zhou_OxfordPets.json"

    def build_split(self) -> Split:
        trainval = self._read_annotations("trainval.txt")
        test = self._read_annotations("test.txt")
        train, val = split_trainval(self.name, trainval)
        return train, val, test

    def _read_annotations(self, filename: str) -> List[Datum]:
        """Lines '<image stem> <class id 1..37> <species> <breed id>'; breed = stem minus its number, lowercased."""
        path = os.path.join(self.dataset_dir, "annotations", filename)
        self.require_source(path)
        records = []
        for number, line in enumerate(annotation_lines(path), start=1):
            fields = line.split(" ")
            if len(fields) != 4:
                raise CorruptFileError(
                    f"{self.name}: {path} line {number}: expected '<image> <class id> <species> <breed id>', "
                    f"got {line!r}"
                )
            stem, class_id = fields[0], int(fields[1])
            breed = "_".join(stem.split("_")[:-1]).lower()
            records.append((os.path.join(self.image_dir, stem + ".jpg"), class_id - 1, breed))
        return make_items(self.name, records, path, self.root)

    # CoOp-era dataset modules call these helpers through OxfordPets; they keep working unchanged.
    @staticmethod
    def read_split(filepath: str, path_prefix: str) -> Split:
        return read_split(os.path.basename(filepath), filepath, path_prefix, os.path.dirname(filepath))

    @staticmethod
    def save_split(train: Sequence[Datum], val: Sequence[Datum], test: Sequence[Datum],
                   filepath: str, path_prefix: str) -> None:
        from dassl.utils import write_json

        write_json(split_to_json(train, val, test, path_prefix), filepath)
        print(f"Saved split to {filepath}")

    @staticmethod
    def split_trainval(trainval: Sequence[Datum], p_val: float = 0.2):
        return split_trainval("dataset", trainval, p_val)

    @staticmethod
    def subsample_classes(*args: List[Datum], subsample: str = "all") -> List[List[Datum]]:
        return subsample_classes(*args, subsample=subsample)
