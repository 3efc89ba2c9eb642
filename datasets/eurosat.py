"""EuroSAT (10 classes): split_zhou_EuroSAT.json, else a random split of 2750/ with readable class names."""
from dassl.data.datasets import DATASET_REGISTRY

from ._reader import CoOpDataset
from .splits import Split, split_class_folders

NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(CoOpDataset):
    dataset_dir = "eurosat"
    image_folder = "2750"
    split_file = "split_zhou_EuroSAT.json"

    def build_split(self) -> Split:
        self.require_source(self.image_dir, "image folder")
        return split_class_folders(self.name, self.image_dir, self.root, new_cnames=NEW_CNAMES)
