"""Oxford Flowers-102: split_zhou_OxfordFlowers.json, else imagelabels.mat + cat_to_name.json, 50/20/30 per class."""
import os
from collections import defaultdict

from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import read_json

from ._reader import CoOpDataset
from .splits import Split, split_per_class


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpDataset):
    dataset_dir = "oxford_flowers"
    image_folder = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"

    def build_split(self) -> Split:
        """Entry i of imagelabels.mat (1..102) labels jpg/image_{i+1:05d}.jpg; the official splits are not used."""
        from scipy.io import loadmat

        label_file = os.path.join(self.dataset_dir, "imagelabels.mat")
        names_file = os.path.join(self.dataset_dir, "cat_to_name.json")
        self.require_source(label_file)
        self.require_source(names_file)
        lab2cname = read_json(names_file)
        per_class = defaultdict(list)
        for index, label in enumerate(loadmat(label_file)["labels"][0]):
            label = int(label)
            impath = os.path.join(self.image_dir, f"image_{index + 1:05d}.jpg")
            per_class[label - 1].append((impath, lab2cname[str(label)]))
        return split_per_class(self.name, per_class, self.root, label_file)
