"""Describable Textures (47 classes): split_zhou_DescribableTextures.json, else a random split of images/."""
import os
from typing import Mapping, Optional, Sequence

from dassl.data.datasets import DATASET_REGISTRY

from ._reader import CoOpDataset
from .splits import Split, split_class_folders


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpDataset):
    dataset_dir = "dtd"
    image_folder = "images"
    split_file = "split_zhou_DescribableTextures.json"

    def build_split(self) -> Split:
        self.require_source(self.image_dir, "image folder")
        return split_class_folders(self.name, self.image_dir, self.root)

    # CoOp-era dataset modules call this through DescribableTextures; it keeps working unchanged.
    @staticmethod
    def read_and_split_data(image_dir: str, p_trn: float = 0.5, p_val: float = 0.2, ignored: Sequence[str] = (),
                            new_cnames: Optional[Mapping[str, str]] = None) -> Split:
        return split_class_folders(os.path.basename(image_dir), image_dir, os.path.dirname(image_dir),
                                   ignored=ignored, new_cnames=new_cnames, p_trn=p_trn, p_val=p_val)
