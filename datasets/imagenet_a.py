"""ImageNet-A: 200 classes, labels 0..199 in sorted wnid order (README.txt skipped); test only."""
from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetA(ImageNetVariant):
    dataset_dir = "imagenet-adversarial"
    image_folder = "imagenet-a"
