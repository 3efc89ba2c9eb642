"""Stanford Cars (196 models): split_zhou_StanfordCars.json (paths relative to the dataset folder),
else the devkit .mat annotations; class names move the year to the front ('2012 Tesla Model S Sedan')."""
import os
from typing import List, Sequence

from dassl.data.datasets import DATASET_REGISTRY, Datum

from ._reader import CoOpDataset
from .splits import Split, make_items, split_trainval


@DATASET_REGISTRY.register()
class StanfordCars(CoOpDataset):
    dataset_dir = "stanford_cars"
    image_folder = ""
    split_file = "split_zhou_StanfordCars.json"

    @property
    def split_prefix(self) -> str:
        return self.dataset_dir

    def build_split(self) -> Split:
        from scipy.io import loadmat

        meta_file = os.path.join(self.dataset_dir, "devkit", "cars_meta.mat")
        self.require_source(meta_file)
        class_names = [str(entry[0]) for entry in loadmat(meta_file)["class_names"][0]]
        trainval = self._read("cars_train", os.path.join(self.dataset_dir, "devkit", "cars_train_annos.mat"), class_names)
        test = self._read("cars_test", os.path.join(self.dataset_dir, "cars_test_annos_withlabels.mat"), class_names)
        train, val = split_trainval(self.name, trainval)
        return train, val, test

    def _read(self, image_folder: str, anno_file: str, class_names: Sequence[str]) -> List[Datum]:
        from scipy.io import loadmat

        self.require_source(anno_file)
        records = []
        for anno in loadmat(anno_file)["annotations"][0]:
            label = int(anno["class"][0, 0]) - 1
            words = class_names[label].split(" ")
            classname = " ".join([words[-1]] + words[:-1])
            records.append((os.path.join(self.dataset_dir, image_folder, str(anno["fname"][0])), label, classname))
        return make_items(self.name, records, anno_file, self.root)
