"""Dataset base classes and registry; dataset modules register themselves with ``@DATASET_REGISTRY.register()``."""
from .base_dataset import DatasetBase, Datum
from .build import DATASET_REGISTRY, build_dataset

__all__ = ["DATASET_REGISTRY", "DatasetBase", "Datum", "build_dataset"]
