"""Caltech101 (100 classes): split_zhou_Caltech101.json, else a random split of 101_ObjectCategories/."""
from dassl.data.datasets import DATASET_REGISTRY

from ._reader import CoOpDataset
from .splits import Split, split_class_folders

IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(CoOpDataset):
    dataset_dir = "caltech-101"
    image_folder = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"

    def build_split(self) -> Split:
        self.require_source(self.image_dir, "image folder")
        return split_class_folders(self.name, self.image_dir, self.root, ignored=IGNORED, new_cnames=NEW_CNAMES)
