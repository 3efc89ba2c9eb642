"""Food-101 (101 classes): split_zhou_Food101.json, else a random split of images/ (not meta/*.txt)."""
from dassl.data.datasets import DATASET_REGISTRY

from ._reader import CoOpDataset
from .splits import Split, split_class_folders


@DATASET_REGISTRY.register()
class Food101(CoOpDataset):
    dataset_dir = "food-101"
    image_folder = "images"
    split_file = "split_zhou_Food101.json"

    def build_split(self) -> Split:
        self.require_source(self.image_dir, "image folder")
        return split_class_folders(self.name, self.image_dir, self.root)
