"""ImageNet-V2 matched-frequency (test only): folders 0..999, label = folder number, names in classnames.txt order."""
import os
from collections import OrderedDict
from typing import List

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils import listdir_nohidden

from .errors import require_dir
from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetV2(ImageNetVariant):
    dataset_dir = "imagenetv2"
    image_folder = "imagenetv2-matched-frequency-format-val"

    def read_items(self, classnames: "OrderedDict[str, str]") -> List[Datum]:
        items = []
        for label, classname in enumerate(classnames.values()):
            class_dir = os.path.join(self.image_dir, str(label))
            require_dir(self.name, class_dir, self.root, "class folder")
            for imname in listdir_nohidden(class_dir):
                items.append(Datum(impath=os.path.join(class_dir, imname), label=label, classname=classname))
        return items
